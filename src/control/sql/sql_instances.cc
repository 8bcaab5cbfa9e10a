// The control store on a database server, instances: heartbeats stamped by
// the server's clock, and the instances an operator declared dead.
#include <fmt/format.h>

#include "control/sql/sql_control_store.h"

namespace tandem::control_sql {

const std::vector<std::string_view> kInstancesSchema = {
    "CREATE TABLE IF NOT EXISTS tandem_instances (instance_id $KEYTEXT PRIMARY KEY, host $TEXT NOT NULL, "
    "pid BIGINT NOT NULL, started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL, "
    "applied_version BIGINT NOT NULL, applied_step_index BIGINT NOT NULL, lease_ms BIGINT NOT NULL DEFAULT 0)"
    "$OPTIONS",
    "CREATE TABLE IF NOT EXISTS tandem_forgotten_instances (id $ID, instance_id $TEXT NOT NULL, "
    "host $TEXT NOT NULL, last_heartbeat BIGINT NOT NULL, at BIGINT NOT NULL, step_version BIGINT NOT NULL, "
    "reason $TEXT NOT NULL, actor $TEXT NOT NULL)$OPTIONS",
};

Result<WallTime> SqlControlStore::clock_now() {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(int64_t us, now(*session));
  return from_micros(us);
}

Status SqlControlStore::heartbeat(const InstanceHeartbeat& h) {
  const Dialect& d = dialect();
  return exec1(
             fmt::format("INSERT INTO tandem_instances (instance_id, host, pid, started_at, heartbeat_at, "
                         "applied_version, applied_step_index, lease_ms) VALUES (?, ?, ?, ?, {}, ?, ?, ?) {} "
                         "heartbeat_at = {}, applied_version = {}, applied_step_index = {}, lease_ms = {}",
                         d.now_micros, d.on_conflict("instance_id"), d.excluded("heartbeat_at"),
                         d.excluded("applied_version"), d.excluded("applied_step_index"),
                         d.excluded("lease_ms")),
             {Param::of(h.instance_id), Param::of(h.host), Param::of(h.pid), Param::of(micros(h.started_at)),
              Param::of(h.applied_version), Param::of(static_cast<int64_t>(h.applied_step_index)),
              Param::of(static_cast<int64_t>(h.lease.count()))},
             fmt::format("writing the heartbeat of instance '{}' in tandem_instances", h.instance_id))
      .status();
}

Status SqlControlStore::remove_instance(std::string_view instance_id) {
  return exec1("DELETE FROM tandem_instances WHERE instance_id = ?", {Param::of(instance_id)},
               fmt::format("removing instance '{}' from tandem_instances", instance_id))
      .status();
}

Result<std::vector<InstanceHeartbeat>> SqlControlStore::instances() {
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      query1("SELECT instance_id, host, pid, started_at, heartbeat_at, applied_version, applied_step_index, "
             "lease_ms FROM tandem_instances ORDER BY started_at, instance_id",
             {}, "reading tandem_instances"));
  std::vector<InstanceHeartbeat> out;
  for (const Row& r : rows) {
    InstanceHeartbeat h;
    h.instance_id = r[0].value_or("");
    h.host = r[1].value_or("");
    TANDEM_ASSIGN_OR_RETURN(h.pid, as_int(r[2], "tandem_instances.pid"));
    TANDEM_ASSIGN_OR_RETURN(int64_t started, as_int(r[3], "tandem_instances.started_at"));
    TANDEM_ASSIGN_OR_RETURN(int64_t beat, as_int(r[4], "tandem_instances.heartbeat_at"));
    TANDEM_ASSIGN_OR_RETURN(h.applied_version, as_int(r[5], "tandem_instances.applied_version"));
    TANDEM_ASSIGN_OR_RETURN(int64_t index, as_int(r[6], "tandem_instances.applied_step_index"));
    TANDEM_ASSIGN_OR_RETURN(int64_t lease_ms, as_int(r[7], "tandem_instances.lease_ms"));
    h.lease = std::chrono::milliseconds(lease_ms);
    h.started_at = from_micros(started);
    h.heartbeat_at = from_micros(beat);
    h.applied_step_index = static_cast<size_t>(index);
    out.push_back(std::move(h));
  }
  return out;
}

Result<int64_t> SqlControlStore::remove_instances_before(WallTime heartbeat_before) {
  return exec1(
      fmt::format("DELETE FROM tandem_instances WHERE heartbeat_at < ? AND heartbeat_at + lease_ms * 1000 "
                  "< {}",
                  dialect().now_micros),
      {Param::of(micros(heartbeat_before))}, "removing gone instances from tandem_instances");
}

Result<InstanceForgotten> SqlControlStore::forget_instance(std::string_view instance_id,
                                                           std::string_view reason, std::string_view actor,
                                                           std::chrono::milliseconds lease) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      session->query(
          "SELECT host, heartbeat_at, lease_ms, pid FROM tandem_instances WHERE instance_id = ? FOR "
          "UPDATE",
          {Param::of(instance_id)}, fmt::format("reading instance '{}' from tandem_instances", instance_id)));
  if (rows.empty()) {
    return Status::NotFound(
        fmt::format("no instance '{}' is registered (`tandem status` lists the instances)", instance_id));
  }
  InstanceForgotten f;
  f.instance_id = std::string(instance_id);
  f.host = rows[0][0].value_or("");
  TANDEM_ASSIGN_OR_RETURN(int64_t beat, as_int(rows[0][1], "tandem_instances.heartbeat_at"));
  f.last_heartbeat = from_micros(beat);
  TANDEM_ASSIGN_OR_RETURN(int64_t own_lease, as_int(rows[0][2], "tandem_instances.lease_ms"));
  TANDEM_ASSIGN_OR_RETURN(int64_t pid, as_int(rows[0][3], "tandem_instances.pid"));
  TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*session, ""));
  TANDEM_ASSIGN_OR_RETURN(int64_t now_us, now(*session));
  TANDEM_RETURN_IF_ERROR(refuse_live_forget(instance_id, f.host, pid, now_us - beat,
                                            std::max<int64_t>(lease.count(), own_lease)));
  f.at = from_micros(now_us);
  f.step_version = cur.version;
  f.reason = std::string(reason);
  f.actor = std::string(actor);
  TANDEM_RETURN_IF_ERROR(session
                             ->exec("DELETE FROM tandem_instances WHERE instance_id = ?",
                                    {Param::of(instance_id)},
                                    fmt::format("removing instance '{}' from tandem_instances", instance_id))
                             .status());
  TANDEM_RETURN_IF_ERROR(
      session
          ->exec(
              "INSERT INTO tandem_forgotten_instances (instance_id, host, last_heartbeat, at, step_version, "
              "reason, actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
              {Param::of(f.instance_id), Param::of(f.host), Param::of(beat), Param::of(now_us),
               Param::of(f.step_version), Param::of(f.reason), Param::of(f.actor)},
              fmt::format("recording forgotten instance '{}' in tandem_forgotten_instances", instance_id))
          .status());
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return f;
}

Result<std::vector<InstanceForgotten>> SqlControlStore::forgotten_instances(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(
      auto rows, query1("SELECT instance_id, host, last_heartbeat, at, step_version, reason, "
                        "actor FROM tandem_forgotten_instances ORDER BY id DESC LIMIT ?",
                        {Param::of(static_cast<int64_t>(limit))}, "reading tandem_forgotten_instances"));
  std::vector<InstanceForgotten> out;
  for (const Row& r : rows) {
    InstanceForgotten f;
    f.instance_id = r[0].value_or("");
    f.host = r[1].value_or("");
    TANDEM_ASSIGN_OR_RETURN(int64_t beat, as_int(r[2], "tandem_forgotten_instances.last_heartbeat"));
    TANDEM_ASSIGN_OR_RETURN(int64_t at, as_int(r[3], "tandem_forgotten_instances.at"));
    TANDEM_ASSIGN_OR_RETURN(f.step_version, as_int(r[4], "tandem_forgotten_instances.step_version"));
    f.last_heartbeat = from_micros(beat);
    f.at = from_micros(at);
    f.reason = r[5].value_or("");
    f.actor = r[6].value_or("");
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace tandem::control_sql
