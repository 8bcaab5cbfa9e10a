// The SQLite control store, the repair queue and the quarantine.
#include <fmt/format.h>

#include "control/sqlite/sqlite_control_store.h"

namespace tandem {

using sqlite::Statement;
using sqlite::Transaction;

// The repair queue and the quarantine.
const char* const kSqliteRepairQuarantineSchema = R"sql(
CREATE TABLE IF NOT EXISTS tandem_repair_queue (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, key BLOB NOT NULL,
  key_display TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tandem_repair_queue_target ON tandem_repair_queue (target);
CREATE TABLE IF NOT EXISTS tandem_quarantine (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, key BLOB NOT NULL,
  key_display TEXT NOT NULL, field TEXT NOT NULL, raw BLOB NOT NULL, reason TEXT NOT NULL,
  at INTEGER NOT NULL);
)sql";

Status SqliteControlStore::enqueue_repair(const RepairEntry& e) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare(
          "INSERT INTO tandem_repair_queue (collection, key, key_display, target, reason, enqueued_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  Statement st(*conn, raw);
  st.bind_text(1, e.collection);
  st.bind_blob(2, e.key);
  st.bind_text(3, e.key_display);
  st.bind_text(4, side_name(e.target));
  st.bind_text(5, e.reason);
  st.bind_int(6, now_micros().time_since_epoch().count());
  return st.run(fmt::format("queueing a repair of collection '{}', record {}", e.collection, e.key_display));
}

Result<std::vector<RepairEntry>> SqliteControlStore::repair_batch(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare("SELECT id, collection, key, key_display, target, reason, enqueued_at, attempts "
                    "FROM tandem_repair_queue ORDER BY id LIMIT ?1"));
  Statement st(*conn, raw);
  st.bind_int(1, static_cast<int64_t>(limit));
  std::vector<RepairEntry> out;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the repair queue"));
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(Side target, parse_side(st.column_text(4)));
    out.push_back({st.column_int(0), st.column_text(1), st.column_blob(2), st.column_text(3), target,
                   st.column_text(5), from_micros(st.column_int(6)), st.column_int(7)});
  }
  return out;
}

Status SqliteControlStore::complete_repair(int64_t id) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("DELETE FROM tandem_repair_queue WHERE id = ?1"));
  Statement st(*conn, raw);
  st.bind_int(1, id);
  return st.run("completing a repair");
}

Status SqliteControlStore::fail_repair(int64_t id, std::string_view reason) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare("UPDATE tandem_repair_queue SET attempts = attempts + 1, reason = ?2 WHERE id = ?1"));
  Statement st(*conn, raw);
  st.bind_int(1, id);
  st.bind_text(2, reason);
  return st.run("recording a failed repair");
}

Result<std::map<Side, int64_t>> SqliteControlStore::repair_counts() {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw,
                          conn->prepare("SELECT target, COUNT(*) FROM tandem_repair_queue GROUP BY target"));
  Statement st(*conn, raw);
  std::map<Side, int64_t> out{{Side::kOld, 0}, {Side::kNew, 0}};
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("counting the repair queue"));
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(Side side, parse_side(st.column_text(0)));
    out[side] = st.column_int(1);
  }
  return out;
}

Status SqliteControlStore::add_quarantine(const QuarantineEntry& e) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare("INSERT INTO tandem_quarantine (collection, key, key_display, field, raw, reason, at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  Statement st(*conn, raw);
  st.bind_text(1, e.collection);
  st.bind_blob(2, e.key);
  st.bind_text(3, e.key_display);
  st.bind_text(4, e.field);
  st.bind_blob(5, e.raw);
  st.bind_text(6, e.reason);
  st.bind_int(7, now_micros().time_since_epoch().count());
  return st.run(fmt::format("quarantining collection '{}', record {}", e.collection, e.key_display));
}

Result<std::vector<QuarantineEntry>> SqliteControlStore::quarantine(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare("SELECT id, collection, key, key_display, field, raw, reason, at FROM tandem_quarantine "
                    "ORDER BY id LIMIT ?1"));
  Statement st(*conn, raw);
  st.bind_int(1, static_cast<int64_t>(limit));
  std::vector<QuarantineEntry> out;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the quarantine"));
    if (!row) break;
    out.push_back({st.column_int(0), st.column_text(1), st.column_blob(2), st.column_text(3),
                   st.column_text(4), st.column_blob(5), st.column_text(6), from_micros(st.column_int(7))});
  }
  return out;
}

Result<int64_t> SqliteControlStore::quarantine_size() { return count("tandem_quarantine"); }

Status SqliteControlStore::remove_quarantine(int64_t id) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("DELETE FROM tandem_quarantine WHERE id = ?1"));
  Statement st(*conn, raw);
  st.bind_int(1, id);
  return st.run("removing a quarantine entry");
}

}  // namespace tandem
