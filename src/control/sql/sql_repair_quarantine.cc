// The control store on a database server, the repair queue and the quarantine.
#include <fmt/format.h>

#include "control/sql/sql_control_store.h"

namespace tandem::control_sql {

const std::vector<std::string_view> kRepairQuarantineSchema = {
    "CREATE TABLE IF NOT EXISTS tandem_repair_queue (id $ID, collection $KEYTEXT NOT NULL, "
    "record_key $BYTES NOT NULL, key_display $TEXT NOT NULL, target $KEYTEXT NOT NULL, reason $TEXT NOT "
    "NULL, "
    "enqueued_at BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0)$OPTIONS",
    "CREATE INDEX IF NOT EXISTS tandem_repair_queue_target ON tandem_repair_queue (target)",
    "CREATE TABLE IF NOT EXISTS tandem_quarantine (id $ID, collection $KEYTEXT NOT NULL, "
    "record_key $BYTES NOT NULL, key_display $TEXT NOT NULL, field $TEXT NOT NULL, raw_value $BYTES NOT "
    "NULL, "
    "reason $TEXT NOT NULL, at BIGINT NOT NULL)$OPTIONS",
};

Status SqlControlStore::enqueue_repair(const RepairEntry& e) {
  std::string what = fmt::format("queueing a repair of collection '{}', record {} in tandem_repair_queue",
                                 e.collection, e.key_display);
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
  // A shared lock of the step: a move (which locks it for update and then
  // counts the queue) waits for this entry, or this entry waits for the move.
  TANDEM_RETURN_IF_ERROR(read_step(*session, " " + dialect().for_share).status());
  TANDEM_RETURN_IF_ERROR(
      session
          ->exec(fmt::format("INSERT INTO tandem_repair_queue (collection, record_key, key_display, target, "
                             "reason, enqueued_at) VALUES (?, ?, ?, ?, ?, {})",
                             dialect().now_micros),
                 {Param::of(e.collection), Param::bytes(e.key), Param::of(e.key_display),
                  Param::of(side_name(e.target)), Param::of(e.reason)},
                 what)
          .status());
  return tx->commit();
}

Result<std::vector<RepairEntry>> SqlControlStore::repair_batch(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      query1("SELECT id, collection, record_key, key_display, target, reason, enqueued_at, attempts "
             "FROM tandem_repair_queue ORDER BY id LIMIT ?",
             {Param::of(static_cast<int64_t>(limit))}, "reading tandem_repair_queue"));
  std::vector<RepairEntry> out;
  for (const Row& r : rows) {
    RepairEntry e;
    TANDEM_ASSIGN_OR_RETURN(e.id, as_int(r[0], "tandem_repair_queue.id"));
    e.collection = r[1].value_or("");
    e.key = r[2].value_or("");
    e.key_display = r[3].value_or("");
    TANDEM_ASSIGN_OR_RETURN(e.target, parse_side(r[4].value_or("")));
    e.reason = r[5].value_or("");
    TANDEM_ASSIGN_OR_RETURN(int64_t at, as_int(r[6], "tandem_repair_queue.enqueued_at"));
    e.enqueued_at = from_micros(at);
    TANDEM_ASSIGN_OR_RETURN(e.attempts, as_int(r[7], "tandem_repair_queue.attempts"));
    out.push_back(std::move(e));
  }
  return out;
}

Status SqlControlStore::complete_repair(int64_t id) {
  return exec1("DELETE FROM tandem_repair_queue WHERE id = ?", {Param::of(id)},
               fmt::format("completing repair {} in tandem_repair_queue", id))
      .status();
}

Status SqlControlStore::fail_repair(int64_t id, std::string_view reason) {
  return exec1("UPDATE tandem_repair_queue SET attempts = attempts + 1, reason = ? WHERE id = ?",
               {Param::of(reason), Param::of(id)},
               fmt::format("recording a failed repair {} in tandem_repair_queue", id))
      .status();
}

Result<std::map<Side, int64_t>> SqlControlStore::repair_counts() {
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          query1("SELECT target, COUNT(*) FROM tandem_repair_queue GROUP BY target", {},
                                 "counting tandem_repair_queue"));
  std::map<Side, int64_t> out{{Side::kOld, 0}, {Side::kNew, 0}};
  for (const Row& r : rows) {
    TANDEM_ASSIGN_OR_RETURN(Side side, parse_side(r[0].value_or("")));
    TANDEM_ASSIGN_OR_RETURN(out[side], as_int(r[1], "the repair queue's size"));
  }
  return out;
}

Status SqlControlStore::add_quarantine(const QuarantineEntry& e) {
  return exec1(fmt::format("INSERT INTO tandem_quarantine (collection, record_key, key_display, field, "
                           "raw_value, reason, at) VALUES (?, ?, ?, ?, ?, ?, {})",
                           dialect().now_micros),
               {Param::of(e.collection), Param::bytes(e.key), Param::of(e.key_display), Param::of(e.field),
                Param::bytes(e.raw), Param::of(e.reason)},
               fmt::format("quarantining collection '{}', record {} in tandem_quarantine", e.collection,
                           e.key_display))
      .status();
}

Result<std::vector<QuarantineEntry>> SqlControlStore::quarantine(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(
      auto rows, query1("SELECT id, collection, record_key, key_display, field, raw_value, reason, at "
                        "FROM tandem_quarantine ORDER BY id LIMIT ?",
                        {Param::of(static_cast<int64_t>(limit))}, "reading tandem_quarantine"));
  std::vector<QuarantineEntry> out;
  for (const Row& r : rows) {
    QuarantineEntry e;
    TANDEM_ASSIGN_OR_RETURN(e.id, as_int(r[0], "tandem_quarantine.id"));
    e.collection = r[1].value_or("");
    e.key = r[2].value_or("");
    e.key_display = r[3].value_or("");
    e.field = r[4].value_or("");
    e.raw = r[5].value_or("");
    e.reason = r[6].value_or("");
    TANDEM_ASSIGN_OR_RETURN(int64_t at, as_int(r[7], "tandem_quarantine.at"));
    e.at = from_micros(at);
    out.push_back(std::move(e));
  }
  return out;
}

Result<int64_t> SqlControlStore::quarantine_size() { return count("tandem_quarantine"); }

Status SqlControlStore::remove_quarantine(int64_t id) {
  return exec1("DELETE FROM tandem_quarantine WHERE id = ?", {Param::of(id)},
               fmt::format("removing entry {} from tandem_quarantine", id))
      .status();
}

}  // namespace tandem::control_sql
