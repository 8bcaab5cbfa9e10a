// The control store on a database server, the backfill ledger: plans, ranges,
// leases (the server's clock) and checkpoints. Ranges are claimed with
// FOR UPDATE SKIP LOCKED, so that workers on several hosts never take one
// range twice and never wait for each other's claims.
#include <fmt/format.h>

#include "control/sql/sql_control_store.h"

namespace tandem::control_sql {

const std::vector<std::string_view> kBackfillSchema = {
    "CREATE TABLE IF NOT EXISTS tandem_backfill (collection $KEYTEXT PRIMARY KEY, total_estimate BIGINT NOT "
    "NULL, "
    "started_at BIGINT NOT NULL, completed_at BIGINT, paused BIGINT NOT NULL DEFAULT 0)$OPTIONS",
    "CREATE TABLE IF NOT EXISTS tandem_backfill_ranges (collection $KEYTEXT NOT NULL, range_id BIGINT NOT "
    "NULL, "
    "begin_key $BYTES, end_key $BYTES, cursor_key $BYTES, done BIGINT NOT NULL DEFAULT 0, "
    "lease_owner $KEYTEXT NOT NULL DEFAULT '', lease_until BIGINT NOT NULL DEFAULT 0, "
    "n_scanned BIGINT NOT NULL DEFAULT 0, n_copied BIGINT NOT NULL DEFAULT 0, "
    "n_present BIGINT NOT NULL DEFAULT 0, n_locked BIGINT NOT NULL DEFAULT 0, "
    "n_tombstoned BIGINT NOT NULL DEFAULT 0, n_quarantined BIGINT NOT NULL DEFAULT 0, "
    "claimed_at BIGINT NOT NULL DEFAULT 0, claimed_scanned BIGINT NOT NULL DEFAULT 0, "
    "PRIMARY KEY (collection, range_id))$OPTIONS",
};

namespace {
constexpr std::string_view kRangeColumns =
    "range_id, begin_key, end_key, cursor_key, done, lease_owner, lease_until, n_scanned, n_copied, "
    "n_present, n_locked, n_tombstoned, n_quarantined, claimed_at, claimed_scanned";
}  // namespace

Status SqlControlStore::plan_backfill(
    std::string_view collection,
    const std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>& ranges,
    int64_t total_estimate) {
  TANDEM_ASSIGN_OR_RETURN(
      auto rows, query1("SELECT 1 FROM tandem_backfill WHERE collection = ?", {Param::of(collection)},
                        "reading the backfill plan in tandem_backfill"));
  if (!rows.empty()) return Status::Ok();
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
  auto planned =
      session->exec(fmt::format("INSERT INTO tandem_backfill (collection, total_estimate, started_at) "
                                "VALUES (?, ?, {})",
                                dialect().now_micros),
                    {Param::of(collection), Param::of(total_estimate)},
                    fmt::format("planning the backfill of '{}' in tandem_backfill", collection));
  if (!planned.ok()) {
    tx.reset();
    // Another worker planned it first (a duplicate key): its plan stands.
    auto again = query1("SELECT 1 FROM tandem_backfill WHERE collection = ?", {Param::of(collection)},
                        "reading the backfill plan in tandem_backfill");
    if (again.ok() && !again->empty()) return Status::Ok();
    return planned.status();
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(
        session
            ->exec("INSERT INTO tandem_backfill_ranges (collection, range_id, begin_key, end_key) "
                   "VALUES (?, ?, ?, ?)",
                   {Param::of(collection), Param::of(static_cast<int64_t>(i)),
                    Param::bytes_or_null(ranges[i].first), Param::bytes_or_null(ranges[i].second)},
                   fmt::format("planning range {} of the backfill of '{}' in tandem_backfill_ranges", i,
                               collection))
            .status());
  }
  return tx->commit();
}

Result<BackfillState> SqlControlStore::backfill_state(std::string_view collection) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  // The plan and the ranges' sums from one snapshot.
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin_snapshot(*session, dialect()));
  BackfillState out;
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      session->query("SELECT total_estimate, started_at, completed_at, paused FROM tandem_backfill "
                     "WHERE collection = ?",
                     {Param::of(collection)}, "reading the backfill state in tandem_backfill"));
  if (rows.empty()) return out;
  out.planned = true;
  TANDEM_ASSIGN_OR_RETURN(out.total_estimate, as_int(rows[0][0], "tandem_backfill.total_estimate"));
  TANDEM_ASSIGN_OR_RETURN(int64_t started, as_int(rows[0][1], "tandem_backfill.started_at"));
  out.started_at = from_micros(started);
  if (rows[0][2]) {
    TANDEM_ASSIGN_OR_RETURN(int64_t completed, as_int(rows[0][2], "tandem_backfill.completed_at"));
    out.completed_at = from_micros(completed);
  }
  TANDEM_ASSIGN_OR_RETURN(int64_t paused, as_int(rows[0][3], "tandem_backfill.paused"));
  out.paused = paused != 0;
  TANDEM_ASSIGN_OR_RETURN(
      auto sums,
      session->query("SELECT COUNT(*), COALESCE(SUM(done), 0), COALESCE(SUM(n_scanned), 0), "
                     "COALESCE(SUM(n_copied), 0), COALESCE(SUM(n_present), 0), COALESCE(SUM(n_locked), 0), "
                     "COALESCE(SUM(n_tombstoned), 0), COALESCE(SUM(n_quarantined), 0) "
                     "FROM tandem_backfill_ranges WHERE collection = ?",
                     {Param::of(collection)}, "summing the backfill ranges in tandem_backfill_ranges"));
  std::vector<int64_t> v;
  for (const auto& column : sums.at(0)) {
    TANDEM_ASSIGN_OR_RETURN(int64_t n, as_int(column, "a sum of tandem_backfill_ranges"));
    v.push_back(n);
  }
  out.ranges = static_cast<size_t>(v[0]);
  out.ranges_done = static_cast<size_t>(v[1]);
  out.counts = {v[2], v[3], v[4], v[5], v[6], v[7]};
  out.complete = out.ranges_done == out.ranges;
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return out;
}

Result<std::vector<BackfillRange>> SqlControlStore::backfill_ranges(std::string_view collection) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  return read_ranges(*session, collection, " ORDER BY range_id", {});
}

Result<std::optional<BackfillRange>> SqlControlStore::claim_backfill_range(
    std::string_view collection, std::string_view owner, std::chrono::milliseconds lease,
    const std::function<bool(const std::string&)>& owner_is_gone) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
  TANDEM_ASSIGN_OR_RETURN(int64_t now_us, now(*session));
  // A free range first (no owner, an expired lease, or this owner's own);
  // ranges another claimer has locked meanwhile are skipped, not waited for.
  TANDEM_ASSIGN_OR_RETURN(
      auto ranges, read_ranges(*session, collection,
                               " AND done = 0 AND (lease_owner = '' OR lease_until < ? OR lease_owner = ?) "
                               "ORDER BY range_id LIMIT 1 FOR UPDATE SKIP LOCKED",
                               {Param::of(now_us), Param::of(owner)}));
  if (ranges.empty() && owner_is_gone) {
    // Then a range whose owner the caller knows to be gone.
    TANDEM_ASSIGN_OR_RETURN(auto held, read_ranges(*session, collection,
                                                   " AND done = 0 AND lease_owner <> '' ORDER BY range_id "
                                                   "FOR UPDATE SKIP LOCKED",
                                                   {}));
    for (BackfillRange& r : held) {
      if (owner_is_gone(r.lease_owner)) {
        ranges.push_back(std::move(r));
        break;
      }
    }
  }
  if (ranges.empty()) {
    TANDEM_RETURN_IF_ERROR(tx->commit());
    return std::optional<BackfillRange>();
  }
  BackfillRange r = std::move(ranges.front());
  if (!r.lease_owner.empty() && r.lease_owner != owner) r.taken_from = r.lease_owner;
  r.lease_owner = std::string(owner);
  r.lease_until = from_micros(now_us + micros(lease));
  r.claimed_at = from_micros(now_us);
  r.scanned_at_claim = r.counts.scanned;
  TANDEM_RETURN_IF_ERROR(
      session
          ->exec("UPDATE tandem_backfill_ranges SET lease_owner = ?, lease_until = ?, claimed_at = ?, "
                 "claimed_scanned = n_scanned WHERE collection = ? AND range_id = ?",
                 {Param::of(owner), Param::of(micros(r.lease_until)), Param::of(now_us),
                  Param::of(collection), Param::of(r.id)},
                 fmt::format("claiming range {} of the backfill of '{}' in tandem_backfill_ranges", r.id,
                             collection))
          .status());
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return std::optional<BackfillRange>(std::move(r));
}

Status SqlControlStore::checkpoint_backfill(std::string_view collection, int64_t range_id,
                                            std::string_view owner, const std::optional<std::string>& cursor,
                                            const BackfillCounts& d, bool done,
                                            std::chrono::milliseconds lease) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
  std::string what = fmt::format("checkpointing range {} of the backfill of '{}' in tandem_backfill_ranges",
                                 range_id, collection);
  // Idempotent: a checkpoint retried after a lost COMMIT that had landed
  // finds the range's cursor already at its own (cursors only grow within a
  // range) and adds nothing twice; it renews the lease only.
  std::vector<Param> params{Param::bytes_or_null(cursor), Param::of(int64_t{done}), Param::of(micros(lease)),
                            Param::of(d.scanned),         Param::of(d.copied),      Param::of(d.present),
                            Param::of(d.locked),          Param::of(d.tombstoned),  Param::of(d.quarantined),
                            Param::of(collection),        Param::of(range_id),      Param::of(owner)};
  if (cursor) params.push_back(Param::bytes_or_null(cursor));
  TANDEM_ASSIGN_OR_RETURN(
      int64_t matched,
      session->exec(
          fmt::format("UPDATE tandem_backfill_ranges SET cursor_key = COALESCE(?, cursor_key), "
                      "done = ?, lease_until = {} + ?, n_scanned = n_scanned + ?, "
                      "n_copied = n_copied + ?, n_present = n_present + ?, n_locked = n_locked + ?, "
                      "n_tombstoned = n_tombstoned + ?, n_quarantined = n_quarantined + ? "
                      "WHERE collection = ? AND range_id = ? AND lease_owner = ?{}",
                      dialect().now_micros, cursor ? " AND (cursor_key IS NULL OR cursor_key <> ?)" : ""),
          params, what));
  if (matched == 0 && cursor) {
    TANDEM_ASSIGN_OR_RETURN(
        matched, session->exec(fmt::format("UPDATE tandem_backfill_ranges SET done = ?, lease_until = {} + ? "
                                           "WHERE collection = ? AND range_id = ? AND lease_owner = ? AND "
                                           "cursor_key = ?",
                                           dialect().now_micros),
                               {Param::of(int64_t{done}), Param::of(micros(lease)), Param::of(collection),
                                Param::of(range_id), Param::of(owner), Param::bytes_or_null(cursor)},
                               what));
  }
  if (matched == 0) {
    return Status::FailedPrecondition(fmt::format(
        "backfill of '{}' range {}: the lease passed to another worker; this worker stops copying it",
        collection, range_id));
  }
  if (done) {
    TANDEM_RETURN_IF_ERROR(
        session
            ->exec(fmt::format(
                       "UPDATE tandem_backfill SET completed_at = {} WHERE collection = ? AND NOT EXISTS "
                       "(SELECT 1 FROM tandem_backfill_ranges WHERE collection = ? AND done = 0)",
                       dialect().now_micros),
                   {Param::of(collection), Param::of(collection)},
                   fmt::format("completing the backfill of '{}' in tandem_backfill", collection))
            .status());
  }
  return tx->commit();
}

Status SqlControlStore::release_backfill_range(std::string_view collection, int64_t range_id,
                                               std::string_view owner) {
  return exec1(
             "UPDATE tandem_backfill_ranges SET lease_owner = '', lease_until = 0 WHERE collection = ? AND "
             "range_id = ? AND lease_owner = ?",
             {Param::of(collection), Param::of(range_id), Param::of(owner)},
             fmt::format("releasing range {} of the backfill of '{}' in tandem_backfill_ranges", range_id,
                         collection))
      .status();
}

Status SqlControlStore::set_backfill_paused(std::string_view collection, bool paused) {
  TANDEM_ASSIGN_OR_RETURN(int64_t matched,
                          exec1("UPDATE tandem_backfill SET paused = ? WHERE collection = ?",
                                {Param::of(int64_t{paused}), Param::of(collection)},
                                fmt::format("pausing the backfill of '{}' in tandem_backfill", collection)));
  if (matched == 0) {
    return Status::FailedPrecondition(fmt::format(
        "collection '{}' has no backfill to pause or resume (start one with `tandem backfill`)", collection));
  }
  return Status::Ok();
}

Status SqlControlStore::reset_backfill(std::string_view collection) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
  for (const char* table : {"tandem_backfill_ranges", "tandem_backfill"}) {
    TANDEM_RETURN_IF_ERROR(session
                               ->exec(fmt::format("DELETE FROM {} WHERE collection = ?", table),
                                      {Param::of(collection)},
                                      fmt::format("resetting the backfill of '{}' in {}", collection, table))
                               .status());
  }
  return tx->commit();
}

Result<std::vector<BackfillRange>> SqlControlStore::read_ranges(Session& session, std::string_view collection,
                                                                std::string_view filter,
                                                                const std::vector<Param>& more) {
  std::vector<Param> params{Param::of(collection)};
  params.insert(params.end(), more.begin(), more.end());
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      session.query(
          fmt::format("SELECT {} FROM tandem_backfill_ranges WHERE collection = ?{}", kRangeColumns, filter),
          params, fmt::format("reading the ranges of the backfill of '{}'", collection)));
  std::vector<BackfillRange> out;
  for (const Row& row : rows) {
    BackfillRange r;
    r.collection = std::string(collection);
    TANDEM_ASSIGN_OR_RETURN(r.id, as_int(row[0], "tandem_backfill_ranges.range_id"));
    r.begin = row[1];
    r.end = row[2];
    r.cursor = row[3];
    TANDEM_ASSIGN_OR_RETURN(int64_t done, as_int(row[4], "tandem_backfill_ranges.done"));
    r.done = done != 0;
    r.lease_owner = row[5].value_or("");
    TANDEM_ASSIGN_OR_RETURN(int64_t until, as_int(row[6], "tandem_backfill_ranges.lease_until"));
    r.lease_until = from_micros(until);
    std::vector<int64_t> n;
    for (size_t i = 7; i < 13; ++i) {
      TANDEM_ASSIGN_OR_RETURN(int64_t v, as_int(row[i], "a count of tandem_backfill_ranges"));
      n.push_back(v);
    }
    r.counts = {n[0], n[1], n[2], n[3], n[4], n[5]};
    TANDEM_ASSIGN_OR_RETURN(int64_t claimed, as_int(row[13], "tandem_backfill_ranges.claimed_at"));
    r.claimed_at = from_micros(claimed);
    TANDEM_ASSIGN_OR_RETURN(r.scanned_at_claim, as_int(row[14], "tandem_backfill_ranges.claimed_scanned"));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tandem::control_sql
