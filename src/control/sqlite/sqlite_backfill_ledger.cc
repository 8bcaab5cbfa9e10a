// The SQLite control store, the backfill ledger: plans, ranges, leases and
// checkpoints.
#include <fmt/format.h>

#include "control/sqlite/sqlite_control_store.h"

namespace tandem {

using sqlite::Statement;
using sqlite::Transaction;

// Each collection's backfill and its ranges.
const char* const kSqliteBackfillSchema = R"sql(
CREATE TABLE IF NOT EXISTS tandem_backfill (
  collection TEXT PRIMARY KEY, total_estimate INTEGER NOT NULL, started_at INTEGER NOT NULL,
  completed_at INTEGER, paused INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tandem_backfill_ranges (
  collection TEXT NOT NULL, range_id INTEGER NOT NULL, begin_key BLOB, end_key BLOB, cursor BLOB,
  done INTEGER NOT NULL DEFAULT 0, lease_owner TEXT NOT NULL DEFAULT '', lease_until INTEGER NOT NULL DEFAULT 0,
  scanned INTEGER NOT NULL DEFAULT 0, copied INTEGER NOT NULL DEFAULT 0, present INTEGER NOT NULL DEFAULT 0,
  locked INTEGER NOT NULL DEFAULT 0, tombstoned INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0,
  claimed_at INTEGER NOT NULL DEFAULT 0, claimed_scanned INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (collection, range_id));
)sql";

Status SqliteControlStore::plan_backfill(
    std::string_view collection,
    const std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>& ranges,
    int64_t total_estimate) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("SELECT 1 FROM tandem_backfill WHERE collection = ?1"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    TANDEM_ASSIGN_OR_RETURN(bool exists, st.step("reading the backfill plan"));
    if (exists) return Status::Ok();
  }
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare(
            "INSERT INTO tandem_backfill (collection, total_estimate, started_at) VALUES (?1, ?2, ?3)"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    st.bind_int(2, total_estimate);
    st.bind_int(3, now_micros().time_since_epoch().count());
    TANDEM_RETURN_IF_ERROR(st.run("planning the backfill"));
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(auto raw,
                            conn->prepare("INSERT INTO tandem_backfill_ranges (collection, range_id, "
                                          "begin_key, end_key) VALUES (?1, ?2, ?3, ?4)"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    st.bind_int(2, static_cast<int64_t>(i));
    if (ranges[i].first) st.bind_blob(3, *ranges[i].first);
    if (ranges[i].second) st.bind_blob(4, *ranges[i].second);
    TANDEM_RETURN_IF_ERROR(st.run("planning a backfill range"));
  }
  return tx->commit();
}

Result<BackfillState> SqliteControlStore::backfill_state(std::string_view collection) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kRead));
  BackfillState out;
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("SELECT total_estimate, started_at, completed_at, "
                                                    "paused FROM tandem_backfill WHERE collection = ?1"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the backfill state"));
    if (!row) return out;
    out.planned = true;
    out.total_estimate = st.column_int(0);
    out.started_at = from_micros(st.column_int(1));
    if (!st.column_is_null(2)) out.completed_at = from_micros(st.column_int(2));
    out.paused = st.column_int(3) != 0;
  }
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare(
            "SELECT COUNT(*), COALESCE(SUM(done), 0), COALESCE(SUM(scanned), 0), COALESCE(SUM(copied), 0), "
            "COALESCE(SUM(present), 0), COALESCE(SUM(locked), 0), COALESCE(SUM(tombstoned), 0), "
            "COALESCE(SUM(quarantined), 0) FROM tandem_backfill_ranges WHERE collection = ?1"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("summing the backfill ranges"));
    if (row) {
      out.ranges = static_cast<size_t>(st.column_int(0));
      out.ranges_done = static_cast<size_t>(st.column_int(1));
      out.counts = {st.column_int(2), st.column_int(3), st.column_int(4),
                    st.column_int(5), st.column_int(6), st.column_int(7)};
    }
  }
  out.complete = out.ranges_done == out.ranges;
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return out;
}

Result<std::vector<BackfillRange>> SqliteControlStore::backfill_ranges(std::string_view collection) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return read_ranges(*conn, collection, "");
}

Result<std::optional<BackfillRange>> SqliteControlStore::claim_backfill_range(
    std::string_view collection, std::string_view owner, std::chrono::milliseconds lease,
    const std::function<bool(const std::string&)>& owner_is_gone) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  TANDEM_ASSIGN_OR_RETURN(auto ranges, read_ranges(*conn, collection, " AND done = 0"));
  const WallTime now = now_micros();
  for (BackfillRange& r : ranges) {
    bool free = r.lease_owner.empty() || r.lease_until < now || r.lease_owner == owner ||
                (owner_is_gone && owner_is_gone(r.lease_owner));
    if (!free) continue;
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare("UPDATE tandem_backfill_ranges SET lease_owner = ?3, lease_until = ?4, "
                      "claimed_at = ?5, claimed_scanned = scanned WHERE collection = ?1 AND range_id = ?2"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    st.bind_int(2, r.id);
    st.bind_text(3, owner);
    if (!r.lease_owner.empty() && r.lease_owner != owner) r.taken_from = r.lease_owner;
    r.lease_owner = std::string(owner);
    r.lease_until = now + std::chrono::duration_cast<std::chrono::microseconds>(lease);
    st.bind_int(4, r.lease_until.time_since_epoch().count());
    r.claimed_at = now;
    r.scanned_at_claim = r.counts.scanned;
    st.bind_int(5, now.time_since_epoch().count());
    TANDEM_RETURN_IF_ERROR(st.run("claiming a backfill range"));
    TANDEM_RETURN_IF_ERROR(tx->commit());
    return std::optional<BackfillRange>(std::move(r));
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return std::optional<BackfillRange>();
}

Status SqliteControlStore::checkpoint_backfill(std::string_view collection, int64_t range_id,
                                               std::string_view owner,
                                               const std::optional<std::string>& cursor,
                                               const BackfillCounts& d, bool done,
                                               std::chrono::milliseconds lease) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare(
            "UPDATE tandem_backfill_ranges SET cursor = COALESCE(?4, cursor), done = ?5, lease_until = ?6, "
            "scanned = scanned + ?7, copied = copied + ?8, present = present + ?9, locked = locked + ?10, "
            "tombstoned = tombstoned + ?11, quarantined = quarantined + ?12 "
            "WHERE collection = ?1 AND range_id = ?2 AND lease_owner = ?3 "
            "AND (?4 IS NULL OR cursor IS NULL OR cursor <> ?4)"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    st.bind_int(2, range_id);
    st.bind_text(3, owner);
    if (cursor) st.bind_blob(4, *cursor);
    st.bind_int(5, done ? 1 : 0);
    st.bind_int(6, (now_micros() + std::chrono::duration_cast<std::chrono::microseconds>(lease))
                       .time_since_epoch()
                       .count());
    st.bind_int(7, d.scanned);
    st.bind_int(8, d.copied);
    st.bind_int(9, d.present);
    st.bind_int(10, d.locked);
    st.bind_int(11, d.tombstoned);
    st.bind_int(12, d.quarantined);
    TANDEM_RETURN_IF_ERROR(st.run("checkpointing the backfill"));
    // Idempotent: a checkpoint retried after it had landed finds the cursor
    // already at its own (cursors only grow within a range) and adds nothing
    // twice; it renews the lease only.
    bool recorded = st.changes() > 0;
    if (!recorded && cursor) {
      TANDEM_ASSIGN_OR_RETURN(
          auto again,
          conn->prepare("UPDATE tandem_backfill_ranges SET done = ?4, lease_until = ?5 "
                        "WHERE collection = ?1 AND range_id = ?2 AND lease_owner = ?3 AND cursor = ?6"));
      Statement renew(*conn, again);
      renew.bind_text(1, collection);
      renew.bind_int(2, range_id);
      renew.bind_text(3, owner);
      renew.bind_int(4, done ? 1 : 0);
      renew.bind_int(5, (now_micros() + std::chrono::duration_cast<std::chrono::microseconds>(lease))
                            .time_since_epoch()
                            .count());
      renew.bind_blob(6, *cursor);
      TANDEM_RETURN_IF_ERROR(renew.run("checkpointing the backfill"));
      recorded = renew.changes() > 0;
    }
    if (!recorded) {
      return Status::FailedPrecondition(fmt::format(
          "backfill of '{}' range {}: the lease passed to another worker; this worker stops copying it",
          collection, range_id));
    }
  }
  if (done) {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare("UPDATE tandem_backfill SET completed_at = ?2 WHERE collection = ?1 AND NOT EXISTS "
                      "(SELECT 1 FROM tandem_backfill_ranges WHERE collection = ?1 AND done = 0)"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    st.bind_int(2, now_micros().time_since_epoch().count());
    TANDEM_RETURN_IF_ERROR(st.run("completing the backfill"));
  }
  return tx->commit();
}

Status SqliteControlStore::release_backfill_range(std::string_view collection, int64_t range_id,
                                                  std::string_view owner) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw,
                          conn->prepare("UPDATE tandem_backfill_ranges SET lease_owner = '', lease_until = 0 "
                                        "WHERE collection = ?1 AND range_id = ?2 AND lease_owner = ?3"));
  Statement st(*conn, raw);
  st.bind_text(1, collection);
  st.bind_int(2, range_id);
  st.bind_text(3, owner);
  return st.run("releasing a backfill range");
}

Status SqliteControlStore::set_backfill_paused(std::string_view collection, bool paused) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw,
                          conn->prepare("UPDATE tandem_backfill SET paused = ?2 WHERE collection = ?1"));
  Statement st(*conn, raw);
  st.bind_text(1, collection);
  st.bind_int(2, paused ? 1 : 0);
  TANDEM_RETURN_IF_ERROR(st.run("pausing the backfill"));
  if (st.changes() == 0) {
    return Status::FailedPrecondition(fmt::format(
        "collection '{}' has no backfill to pause or resume (start one with `tandem backfill`)", collection));
  }
  return Status::Ok();
}

Status SqliteControlStore::reset_backfill(std::string_view collection) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  for (const char* sql : {"DELETE FROM tandem_backfill_ranges WHERE collection = ?1",
                          "DELETE FROM tandem_backfill WHERE collection = ?1"}) {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(sql));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    TANDEM_RETURN_IF_ERROR(st.run("resetting the backfill"));
  }
  return tx->commit();
}

Result<std::vector<BackfillRange>> SqliteControlStore::read_ranges(sqlite::Connection& conn,
                                                                   std::string_view collection,
                                                                   std::string_view filter) {
  TANDEM_ASSIGN_OR_RETURN(
      auto raw, conn.prepare(fmt::format("SELECT range_id, begin_key, end_key, cursor, done, lease_owner, "
                                         "lease_until, scanned, copied, present, "
                                         "locked, tombstoned, quarantined, claimed_at, claimed_scanned "
                                         "FROM tandem_backfill_ranges "
                                         "WHERE collection = ?1{} ORDER BY range_id",
                                         filter)));
  Statement st(conn, raw);
  st.bind_text(1, collection);
  std::vector<BackfillRange> out;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading backfill ranges"));
    if (!row) break;
    BackfillRange r;
    r.collection = std::string(collection);
    r.id = st.column_int(0);
    if (!st.column_is_null(1)) r.begin = st.column_blob(1);
    if (!st.column_is_null(2)) r.end = st.column_blob(2);
    if (!st.column_is_null(3)) r.cursor = st.column_blob(3);
    r.done = st.column_int(4) != 0;
    r.lease_owner = st.column_text(5);
    r.lease_until = from_micros(st.column_int(6));
    r.counts = {st.column_int(7),  st.column_int(8),  st.column_int(9),
                st.column_int(10), st.column_int(11), st.column_int(12)};
    r.claimed_at = from_micros(st.column_int(13));
    r.scanned_at_claim = st.column_int(14);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tandem
