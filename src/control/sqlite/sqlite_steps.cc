// The SQLite control store, steps and instances: the current step, its
// history, the instances' heartbeats, and the finish record (a row of
// tandem_meta written by `tandem finish`).
#include <fmt/format.h>

#include "control/fence_ahead.h"
#include "control/sqlite/sqlite_control_store.h"

namespace tandem {

using sqlite::Statement;
using sqlite::Transaction;

// The config fingerprint, the current step, its history, the instances.
const char* const kSqliteStepsSchema = R"sql(
CREATE TABLE IF NOT EXISTS tandem_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tandem_step_state (
  id INTEGER PRIMARY KEY CHECK (id = 1), step_index INTEGER NOT NULL, version INTEGER NOT NULL,
  changed_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tandem_step_history (
  version INTEGER PRIMARY KEY, at INTEGER NOT NULL, from_index INTEGER NOT NULL,
  to_index INTEGER NOT NULL, reason TEXT NOT NULL, forced INTEGER NOT NULL, actor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tandem_instances (
  instance_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL, applied_version INTEGER NOT NULL, applied_step_index INTEGER NOT NULL,
  lease_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tandem_forgotten_instances (
  id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, host TEXT NOT NULL,
  last_heartbeat INTEGER NOT NULL, at INTEGER NOT NULL, step_version INTEGER NOT NULL,
  reason TEXT NOT NULL, actor TEXT NOT NULL);
)sql";

Result<StepState> SqliteControlStore::current_step() {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return read_step(*conn);
}

Result<StepState> SqliteControlStore::change_step(int64_t expected_version, size_t to_index,
                                                  std::string_view reason, bool forced,
                                                  std::string_view actor,
                                                  const std::vector<Side>& require_drained) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*conn));
  TANDEM_ASSIGN_OR_RETURN(std::optional<FinishRecord> done, read_finished(*conn));
  if (done) {
    return Status::FailedPrecondition(fmt::format(
        "the migration was finished at {} by {} (`tandem finish`, at step {}): its steps no longer move; "
        "start a new migration with a fresh control store to migrate again",
        format_time(done->at), done->actor, done->step_index + 1));
  }
  if (cur.version != expected_version) {
    return Status::FailedPrecondition(fmt::format(
        "the step changed meanwhile (version {} is now {}, at step {}); check `tandem status` and retry",
        expected_version, cur.version, cur.step_index + 1));
  }
  for (Side side : require_drained) {
    TANDEM_ASSIGN_OR_RETURN(auto raw,
                            conn->prepare("SELECT COUNT(*) FROM tandem_repair_queue WHERE target = ?1"));
    Statement st(*conn, raw);
    st.bind_text(1, side_name(side));
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("counting the repair queue"));
    if (row && st.column_int(0) > 0) {
      return Status::FailedPrecondition(fmt::format(
          "a write in flight queued {} repair(s) for {} while the move was being decided; drain the repair "
          "queue (`tandem repair`) and retry",
          st.column_int(0), side_name(side)));
    }
  }
  StepState next{to_index, cur.version + 1, now_micros()};
  TANDEM_RETURN_IF_ERROR(write_step(*conn, cur, next, reason, forced, actor));
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return next;
}

Result<StepState> SqliteControlStore::continue_after_fence(int64_t fence_version, std::string_view reason,
                                                           std::string_view actor) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*conn));
  if (cur.version > fence_version) return cur;
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("SELECT COUNT(*) FROM tandem_step_history"));
  Statement count(*conn, raw);
  TANDEM_ASSIGN_OR_RETURN(bool row, count.step("counting the step history"));
  if (row && count.column_int(0) > 0) return fence_ahead(conn->path(), cur, fence_version);
  StepState next{cur.step_index, fence_version + 1, now_micros()};
  TANDEM_RETURN_IF_ERROR(write_step(*conn, cur, next, reason, false, actor));
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return next;
}

Status SqliteControlStore::write_step(sqlite::Connection& conn, const StepState& cur, const StepState& next,
                                      std::string_view reason, bool forced, std::string_view actor) {
  const size_t to_index = next.step_index;
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn.prepare(
            "UPDATE tandem_step_state SET step_index = ?1, version = ?2, changed_at = ?3 WHERE id = 1"));
    Statement st(conn, raw);
    st.bind_int(1, static_cast<int64_t>(to_index));
    st.bind_int(2, next.version);
    st.bind_int(3, next.changed_at.time_since_epoch().count());
    TANDEM_RETURN_IF_ERROR(st.run("changing the step"));
  }
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn.prepare(
            "INSERT INTO tandem_step_history (version, at, from_index, to_index, reason, forced, actor) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    Statement st(conn, raw);
    st.bind_int(1, next.version);
    st.bind_int(2, next.changed_at.time_since_epoch().count());
    st.bind_int(3, static_cast<int64_t>(cur.step_index));
    st.bind_int(4, static_cast<int64_t>(to_index));
    st.bind_text(5, reason);
    st.bind_int(6, forced ? 1 : 0);
    st.bind_text(7, actor);
    TANDEM_RETURN_IF_ERROR(st.run("recording the step change"));
  }
  return Status::Ok();
}

Result<std::vector<StepChange>> SqliteControlStore::history(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare(
          "SELECT version, at, from_index, to_index, reason, forced, actor FROM tandem_step_history "
          "ORDER BY version DESC LIMIT ?1"));
  Statement st(*conn, raw);
  st.bind_int(1, static_cast<int64_t>(limit));
  std::vector<StepChange> out;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the step history"));
    if (!row) break;
    out.push_back({st.column_int(0), from_micros(st.column_int(1)), static_cast<size_t>(st.column_int(2)),
                   static_cast<size_t>(st.column_int(3)), st.column_text(4), st.column_int(5) != 0,
                   st.column_text(6)});
  }
  return out;
}

Result<StepState> SqliteControlStore::read_step(sqlite::Connection& conn) {
  TANDEM_ASSIGN_OR_RETURN(
      auto raw, conn.prepare("SELECT step_index, version, changed_at FROM tandem_step_state WHERE id = 1"));
  Statement st(conn, raw);
  TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the current step"));
  if (!row) {
    return Status::FailedPrecondition(fmt::format(
        "control store '{}' is not initialized (open the migration once to create it)", pool_.path()));
  }
  return StepState{static_cast<size_t>(st.column_int(0)), st.column_int(1), from_micros(st.column_int(2))};
}

Status SqliteControlStore::heartbeat(const InstanceHeartbeat& h) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare(
          "INSERT INTO tandem_instances (instance_id, host, pid, started_at, heartbeat_at, "
          "applied_version, "
          "applied_step_index, lease_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (instance_id) "
          "DO "
          "UPDATE SET heartbeat_at = excluded.heartbeat_at, applied_version = excluded.applied_version, "
          "applied_step_index = excluded.applied_step_index, lease_ms = excluded.lease_ms"));
  Statement st(*conn, raw);
  st.bind_text(1, h.instance_id);
  st.bind_text(2, h.host);
  st.bind_int(3, h.pid);
  st.bind_int(4, h.started_at.time_since_epoch().count());
  st.bind_int(5, now_micros().time_since_epoch().count());  // this host's clock is the store's
  st.bind_int(6, h.applied_version);
  st.bind_int(7, static_cast<int64_t>(h.applied_step_index));
  st.bind_int(8, static_cast<int64_t>(h.lease.count()));
  return st.run("writing the instance heartbeat");
}

Status SqliteControlStore::remove_instance(std::string_view instance_id) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("DELETE FROM tandem_instances WHERE instance_id = ?1"));
  Statement st(*conn, raw);
  st.bind_text(1, instance_id);
  return st.run("removing the instance");
}

Result<std::vector<InstanceHeartbeat>> SqliteControlStore::instances() {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare(
          "SELECT instance_id, host, pid, started_at, heartbeat_at, applied_version, applied_step_index, "
          "lease_ms FROM tandem_instances ORDER BY started_at"));
  Statement st(*conn, raw);
  std::vector<InstanceHeartbeat> out;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading instances"));
    if (!row) break;
    out.push_back({st.column_text(0), st.column_text(1), st.column_int(2), from_micros(st.column_int(3)),
                   from_micros(st.column_int(4)), st.column_int(5), static_cast<size_t>(st.column_int(6)),
                   std::chrono::milliseconds(st.column_int(7))});
  }
  return out;
}

Result<int64_t> SqliteControlStore::remove_instances_before(WallTime heartbeat_before) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare(
          "DELETE FROM tandem_instances WHERE heartbeat_at < ?1 AND heartbeat_at + lease_ms * 1000 < ?2"));
  Statement st(*conn, raw);
  st.bind_int(1, heartbeat_before.time_since_epoch().count());
  st.bind_int(2, now_micros().time_since_epoch().count());
  TANDEM_RETURN_IF_ERROR(st.run("removing gone instances"));
  return static_cast<int64_t>(sqlite3_changes(conn->db()));
}

Result<WallTime> SqliteControlStore::clock_now() { return now_micros(); }

Result<InstanceForgotten> SqliteControlStore::forget_instance(std::string_view instance_id,
                                                              std::string_view reason, std::string_view actor,
                                                              std::chrono::milliseconds lease) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  InstanceForgotten f;
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare(
            "SELECT host, heartbeat_at, lease_ms, pid FROM tandem_instances WHERE instance_id = ?1"));
    Statement st(*conn, raw);
    st.bind_text(1, instance_id);
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the instance"));
    if (!row) {
      return Status::NotFound(
          fmt::format("no instance '{}' is registered (`tandem status` lists the instances)", instance_id));
    }
    f.host = st.column_text(0);
    f.last_heartbeat = from_micros(st.column_int(1));
    // In the write transaction: a heartbeat cannot land between this check and the delete.
    TANDEM_RETURN_IF_ERROR(refuse_live_forget(instance_id, f.host, st.column_int(3),
                                              (now_micros() - f.last_heartbeat).count(),
                                              std::max<int64_t>(lease.count(), st.column_int(2))));
  }
  TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*conn));
  f.instance_id = std::string(instance_id);
  f.at = now_micros();
  f.step_version = cur.version;
  f.reason = std::string(reason);
  f.actor = std::string(actor);
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("DELETE FROM tandem_instances WHERE instance_id = ?1"));
    Statement st(*conn, raw);
    st.bind_text(1, instance_id);
    TANDEM_RETURN_IF_ERROR(st.run("removing the instance"));
  }
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare("INSERT INTO tandem_forgotten_instances (instance_id, host, last_heartbeat, at, "
                      "step_version, reason, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    Statement st(*conn, raw);
    st.bind_text(1, f.instance_id);
    st.bind_text(2, f.host);
    st.bind_int(3, f.last_heartbeat.time_since_epoch().count());
    st.bind_int(4, f.at.time_since_epoch().count());
    st.bind_int(5, f.step_version);
    st.bind_text(6, f.reason);
    st.bind_text(7, f.actor);
    TANDEM_RETURN_IF_ERROR(st.run("recording the forgotten instance"));
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return f;
}

Result<std::vector<InstanceForgotten>> SqliteControlStore::forgotten_instances(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw, conn->prepare("SELECT instance_id, host, last_heartbeat, at, step_version, reason, actor "
                              "FROM tandem_forgotten_instances ORDER BY id DESC LIMIT ?1"));
  Statement st(*conn, raw);
  st.bind_int(1, static_cast<int64_t>(limit));
  std::vector<InstanceForgotten> out;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the forgotten instances"));
    if (!row) break;
    out.push_back({st.column_text(0), st.column_text(1), from_micros(st.column_int(2)),
                   from_micros(st.column_int(3)), st.column_int(4), st.column_text(5), st.column_text(6)});
  }
  return out;
}

// The finish record is one row of tandem_meta: "at|version|step_index|actor".
Result<std::optional<FinishRecord>> SqliteControlStore::read_finished(sqlite::Connection& conn) {
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn.prepare("SELECT value FROM tandem_meta WHERE name = 'finished'"));
  Statement st(conn, raw);
  TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the finish record"));
  if (!row) return std::optional<FinishRecord>();
  std::string v = st.column_text(0);
  FinishRecord r;
  size_t a = v.find('|');
  size_t b = a == std::string::npos ? a : v.find('|', a + 1);
  size_t c = b == std::string::npos ? b : v.find('|', b + 1);
  if (c == std::string::npos) {
    return Status::Corruption(
        fmt::format("control store '{}': unreadable finish record '{}'", pool_.path(), v));
  }
  r.at = from_micros(std::stoll(v.substr(0, a)));
  r.version = std::stoll(v.substr(a + 1, b - a - 1));
  r.step_index = static_cast<size_t>(std::stoll(v.substr(b + 1, c - b - 1)));
  r.actor = v.substr(c + 1);
  return std::optional<FinishRecord>(r);
}

Status SqliteControlStore::mark_finished(const FinishRecord& record) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  TANDEM_ASSIGN_OR_RETURN(std::optional<FinishRecord> done, read_finished(*conn));
  if (done) return Status::Ok();
  TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*conn));
  if (cur.version != record.version) {
    return Status::FailedPrecondition(fmt::format(
        "the step changed meanwhile (version {} is now {}, at step {}); check `tandem status` and retry",
        record.version, cur.version, cur.step_index + 1));
  }
  TANDEM_RETURN_IF_ERROR(put_meta(*conn, "finished",
                                  fmt::format("{}|{}|{}|{}", record.at.time_since_epoch().count(),
                                              record.version, record.step_index, record.actor)));
  return tx->commit();
}

Result<std::optional<FinishRecord>> SqliteControlStore::finished() {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return read_finished(*conn);
}

}  // namespace tandem
