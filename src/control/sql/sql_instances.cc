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

namespace {
std::vector<Param> heartbeat_params(const InstanceHeartbeat& h) {
  return {Param::of(h.instance_id),
          Param::of(h.host),
          Param::of(h.pid),
          Param::of(micros(h.started_at)),
          Param::of(h.applied_version),
          Param::of(static_cast<int64_t>(h.applied_step_index)),
          Param::of(static_cast<int64_t>(h.lease.count()))};
}
std::string heartbeat_what(const InstanceHeartbeat& h) {
  return fmt::format("writing the heartbeat of instance '{}' in tandem_instances", h.instance_id);
}
}  // namespace

std::string SqlControlStore::heartbeat_sql() const {
  const Dialect& d = dialect();
  return fmt::format(
      "INSERT INTO tandem_instances (instance_id, host, pid, started_at, heartbeat_at, applied_version, "
      "applied_step_index, lease_ms) VALUES (?, ?, ?, ?, {}, ?, ?, ?) {} heartbeat_at = {}, "
      "applied_version = {}, applied_step_index = {}, lease_ms = {}",
      d.now_micros, d.on_conflict("instance_id"), d.excluded("heartbeat_at"), d.excluded("applied_version"),
      d.excluded("applied_step_index"), d.excluded("lease_ms"));
}

Status SqlControlStore::heartbeat(const InstanceHeartbeat& h) {
  return exec1(heartbeat_sql(), heartbeat_params(h), heartbeat_what(h)).status();
}

// The step row is read under a shared lock held until the heartbeat commits:
// a move (which locks it for update) either committed before the read, or
// waits until movers can see the heartbeat. The heartbeat's time is stamped
// before any wait for that lock, which only makes it look older (movers count
// the instance gone sooner than its own lease lets it route).
Result<StepState> SqlControlStore::heartbeat_and_read_step(const InstanceHeartbeat& h) {
  std::string sql;
  switch (heartbeat_read_) {
    case Dialect::HeartbeatRead::kTwoStatements:
      return ControlStore::heartbeat_and_read_step(h);
    case Dialect::HeartbeatRead::kWith:
      sql = fmt::format(
          "WITH beat AS ({} RETURNING 1) SELECT s.step_index, s.version, s.changed_at FROM "
          "tandem_step_state s, beat WHERE s.id = 1 FOR SHARE OF s",
          heartbeat_sql());
      break;
    case Dialect::HeartbeatRead::kReturning:
      sql = fmt::format(
          "{} RETURNING (SELECT CONCAT(step_index, ',', version, ',', changed_at) FROM tandem_step_state "
          "WHERE id = 1 {})",
          heartbeat_sql(), dialect().for_share);
      break;
  }
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          query1(sql, heartbeat_params(h), heartbeat_what(h) + " and reading the step"));
  Row row;
  if (!rows.empty()) row = rows[0];
  if (heartbeat_read_ == Dialect::HeartbeatRead::kReturning && !row.empty() && row[0].has_value()) {
    // "index,version,changed_at"
    std::string packed = *row[0];
    row.clear();
    size_t from = 0;
    for (size_t comma = packed.find(','); comma != std::string::npos; comma = packed.find(',', from)) {
      row.emplace_back(packed.substr(from, comma - from));
      from = comma + 1;
    }
    row.emplace_back(packed.substr(from));
  }
  if (row.size() != 3 || !row[0].has_value()) {
    return Status::FailedPrecondition(fmt::format(
        "control store '{}' is not initialized (open the migration once to create it)", engine_->display()));
  }
  TANDEM_ASSIGN_OR_RETURN(int64_t index, as_int(row[0], "tandem_step_state.step_index"));
  TANDEM_ASSIGN_OR_RETURN(int64_t version, as_int(row[1], "tandem_step_state.version"));
  TANDEM_ASSIGN_OR_RETURN(int64_t at, as_int(row[2], "tandem_step_state.changed_at"));
  return StepState{static_cast<size_t>(index), version, from_micros(at)};
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
