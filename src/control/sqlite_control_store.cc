// The SQLite control store: one file shared by every process of a migration.
#include <fmt/format.h>
#include <unistd.h>

#include <mutex>

#include "stores/sqlite/sqlite_connection.h"
#include "tandem/control_store.h"
#include "tandem/store.h"
#include "tandem/value.h"

namespace tandem {

TimePoint now_micros() { return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::now()); }

std::string format_time(TimePoint t) { return Timestamp{t.time_since_epoch().count()}.to_string(); }

std::string_view mismatch_kind_name(MismatchKind kind) {
  switch (kind) {
    case MismatchKind::kMissingInSecondary:
      return "missing-in-secondary";
    case MismatchKind::kExtraInSecondary:
      return "extra-in-secondary";
    case MismatchKind::kDifferent:
      return "different";
    case MismatchKind::kSecondaryError:
      return "secondary-error";
  }
  return "unknown";
}

namespace {

using sqlite::Statement;
using sqlite::Transaction;

TimePoint from_micros(int64_t v) { return TimePoint(std::chrono::microseconds(v)); }

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tandem_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tandem_step_state (
  id INTEGER PRIMARY KEY CHECK (id = 1), step_index INTEGER NOT NULL, version INTEGER NOT NULL,
  changed_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tandem_step_history (
  version INTEGER PRIMARY KEY, at INTEGER NOT NULL, from_index INTEGER NOT NULL,
  to_index INTEGER NOT NULL, reason TEXT NOT NULL, forced INTEGER NOT NULL, actor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tandem_instances (
  instance_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL, applied_version INTEGER NOT NULL, applied_step_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tandem_repair_queue (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, key BLOB NOT NULL,
  key_display TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tandem_repair_queue_target ON tandem_repair_queue (target);
CREATE TABLE IF NOT EXISTS tandem_quarantine (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, key BLOB NOT NULL,
  key_display TEXT NOT NULL, field TEXT NOT NULL, raw BLOB NOT NULL, reason TEXT NOT NULL,
  at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tandem_shadow_counters (
  collection TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (collection, kind));
CREATE TABLE IF NOT EXISTS tandem_backfill (
  collection TEXT PRIMARY KEY, total_estimate INTEGER NOT NULL, started_at INTEGER NOT NULL,
  completed_at INTEGER, paused INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tandem_backfill_ranges (
  collection TEXT NOT NULL, range_id INTEGER NOT NULL, begin_key BLOB, end_key BLOB, cursor BLOB,
  done INTEGER NOT NULL DEFAULT 0, lease_owner TEXT NOT NULL DEFAULT '', lease_until INTEGER NOT NULL DEFAULT 0,
  scanned INTEGER NOT NULL DEFAULT 0, copied INTEGER NOT NULL DEFAULT 0, present INTEGER NOT NULL DEFAULT 0,
  locked INTEGER NOT NULL DEFAULT 0, tombstoned INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (collection, range_id));
CREATE TABLE IF NOT EXISTS tandem_verify_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, at INTEGER NOT NULL,
  step_version INTEGER NOT NULL, clean INTEGER NOT NULL, records INTEGER NOT NULL, missing INTEGER NOT NULL,
  extra INTEGER NOT NULL, different INTEGER NOT NULL, resurrected INTEGER NOT NULL, seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tandem_shadow_samples (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, key_display TEXT NOT NULL,
  kind TEXT NOT NULL, primary_value TEXT NOT NULL, secondary_value TEXT NOT NULL, at INTEGER NOT NULL);
)sql";

Result<MismatchKind> parse_kind(std::string_view s) {
  for (MismatchKind k : {MismatchKind::kMissingInSecondary, MismatchKind::kExtraInSecondary,
                         MismatchKind::kDifferent, MismatchKind::kSecondaryError}) {
    if (mismatch_kind_name(k) == s) return k;
  }
  return Status::Corruption(fmt::format("control store: unknown mismatch kind '{}'", s));
}

class SqliteControlStore : public ControlStore {
 public:
  explicit SqliteControlStore(std::string path) : pool_(std::move(path), /*configure=*/true) {}

  Status open() {
    TANDEM_RETURN_IF_ERROR(pool_.prime(/*create=*/true).with_context("opening the control store"));
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    return conn->exec(kSchema);
  }

  Status initialize(std::string_view fingerprint, size_t plan_size) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
    std::string stored;
    {
      TANDEM_ASSIGN_OR_RETURN(auto raw,
                              conn->prepare("SELECT value FROM tandem_meta WHERE name = 'fingerprint'"));
      Statement st(*conn, raw);
      TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the config fingerprint"));
      if (row) stored = st.column_text(0);
    }
    if (stored.empty()) {
      TANDEM_RETURN_IF_ERROR(put_meta(*conn, "fingerprint", fingerprint));
      TANDEM_RETURN_IF_ERROR(put_meta(*conn, "created_at", format_time(now_micros())));
      TANDEM_ASSIGN_OR_RETURN(
          auto raw,
          conn->prepare(
              "INSERT INTO tandem_step_state (id, step_index, version, changed_at) VALUES (1, 0, 1, ?1)"));
      Statement st(*conn, raw);
      st.bind_int(1, now_micros().time_since_epoch().count());
      TANDEM_RETURN_IF_ERROR(st.run("initializing the step state"));
    } else if (stored != fingerprint) {
      return Status::Config(fmt::format(
          "the plan or collections in the config (fingerprint {}) differ from those this migration "
          "was started with (fingerprint {}, control store '{}'); restore the original plan and "
          "collections, or start a new migration with a fresh control store",
          fingerprint, stored, pool_.path()));
    }
    TANDEM_RETURN_IF_ERROR(tx->commit());
    TANDEM_ASSIGN_OR_RETURN(StepState s, current_step());
    if (s.step_index >= plan_size) {
      return Status::Corruption(fmt::format("control store '{}' is at step {} but the plan has {} steps",
                                            pool_.path(), s.step_index + 1, plan_size));
    }
    return Status::Ok();
  }

  Result<StepState> current_step() override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    return read_step(*conn);
  }

  Result<StepState> change_step(int64_t expected_version, size_t to_index, std::string_view reason,
                                bool forced, std::string_view actor,
                                const std::vector<Side>& require_drained) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
    TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*conn));
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
    {
      TANDEM_ASSIGN_OR_RETURN(
          auto raw,
          conn->prepare(
              "UPDATE tandem_step_state SET step_index = ?1, version = ?2, changed_at = ?3 WHERE id = 1"));
      Statement st(*conn, raw);
      st.bind_int(1, static_cast<int64_t>(to_index));
      st.bind_int(2, next.version);
      st.bind_int(3, next.changed_at.time_since_epoch().count());
      TANDEM_RETURN_IF_ERROR(st.run("changing the step"));
    }
    {
      TANDEM_ASSIGN_OR_RETURN(
          auto raw,
          conn->prepare(
              "INSERT INTO tandem_step_history (version, at, from_index, to_index, reason, forced, actor) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
      Statement st(*conn, raw);
      st.bind_int(1, next.version);
      st.bind_int(2, next.changed_at.time_since_epoch().count());
      st.bind_int(3, static_cast<int64_t>(cur.step_index));
      st.bind_int(4, static_cast<int64_t>(to_index));
      st.bind_text(5, reason);
      st.bind_int(6, forced ? 1 : 0);
      st.bind_text(7, actor);
      TANDEM_RETURN_IF_ERROR(st.run("recording the step change"));
    }
    TANDEM_RETURN_IF_ERROR(tx->commit());
    return next;
  }

  Result<std::vector<StepChange>> history(size_t limit) override {
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

  Status heartbeat(const InstanceHeartbeat& h) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare(
            "INSERT INTO tandem_instances (instance_id, host, pid, started_at, heartbeat_at, "
            "applied_version, "
            "applied_step_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (instance_id) DO UPDATE SET "
            "heartbeat_at = excluded.heartbeat_at, applied_version = excluded.applied_version, "
            "applied_step_index = excluded.applied_step_index"));
    Statement st(*conn, raw);
    st.bind_text(1, h.instance_id);
    st.bind_text(2, h.host);
    st.bind_int(3, h.pid);
    st.bind_int(4, h.started_at.time_since_epoch().count());
    st.bind_int(5, h.heartbeat_at.time_since_epoch().count());
    st.bind_int(6, h.applied_version);
    st.bind_int(7, static_cast<int64_t>(h.applied_step_index));
    return st.run("writing the instance heartbeat");
  }

  Status remove_instance(std::string_view instance_id) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("DELETE FROM tandem_instances WHERE instance_id = ?1"));
    Statement st(*conn, raw);
    st.bind_text(1, instance_id);
    return st.run("removing the instance");
  }

  Result<std::vector<InstanceHeartbeat>> instances() override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare(
            "SELECT instance_id, host, pid, started_at, heartbeat_at, applied_version, applied_step_index "
            "FROM tandem_instances ORDER BY started_at"));
    Statement st(*conn, raw);
    std::vector<InstanceHeartbeat> out;
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading instances"));
      if (!row) break;
      out.push_back({st.column_text(0), st.column_text(1), st.column_int(2), from_micros(st.column_int(3)),
                     from_micros(st.column_int(4)), st.column_int(5), static_cast<size_t>(st.column_int(6))});
    }
    return out;
  }

  Status enqueue_repair(const RepairEntry& e) override {
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
    return st.run(
        fmt::format("queueing a repair of collection '{}', record {}", e.collection, e.key_display));
  }

  Result<std::vector<RepairEntry>> repair_batch(size_t limit) override {
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

  Status complete_repair(int64_t id) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("DELETE FROM tandem_repair_queue WHERE id = ?1"));
    Statement st(*conn, raw);
    st.bind_int(1, id);
    return st.run("completing a repair");
  }

  Status fail_repair(int64_t id, std::string_view reason) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare("UPDATE tandem_repair_queue SET attempts = attempts + 1, reason = ?2 WHERE id = ?1"));
    Statement st(*conn, raw);
    st.bind_int(1, id);
    st.bind_text(2, reason);
    return st.run("recording a failed repair");
  }

  Result<std::map<Side, int64_t>> repair_counts() override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(
        auto raw, conn->prepare("SELECT target, COUNT(*) FROM tandem_repair_queue GROUP BY target"));
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

  Status add_quarantine(const QuarantineEntry& e) override {
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

  Result<std::vector<QuarantineEntry>> quarantine(size_t limit) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare(
            "SELECT id, collection, key, key_display, field, raw, reason, at FROM tandem_quarantine "
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

  Result<int64_t> quarantine_size() override { return count("tandem_quarantine"); }

  Status remove_quarantine(int64_t id) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("DELETE FROM tandem_quarantine WHERE id = ?1"));
    Statement st(*conn, raw);
    st.bind_int(1, id);
    return st.run("removing a quarantine entry");
  }

  Status add_shadow_mismatches(std::string_view collection, MismatchKind kind, int64_t n) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare("INSERT INTO tandem_shadow_counters (collection, kind, count) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT (collection, kind) DO UPDATE SET count = count + excluded.count"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    st.bind_text(2, mismatch_kind_name(kind));
    st.bind_int(3, n);
    return st.run("adding shadow mismatch counts");
  }

  Status add_shadow_sample(const ShadowSample& s, size_t keep_at_most) override {
    TANDEM_ASSIGN_OR_RETURN(int64_t n, count("tandem_shadow_samples"));
    if (static_cast<size_t>(n) >= keep_at_most) return Status::Ok();
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("INSERT INTO tandem_shadow_samples (collection, "
                                                    "key_display, kind, primary_value, secondary_value, at) "
                                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    Statement st(*conn, raw);
    st.bind_text(1, s.collection);
    st.bind_text(2, s.key_display);
    st.bind_text(3, mismatch_kind_name(s.kind));
    st.bind_text(4, s.primary);
    st.bind_text(5, s.secondary);
    st.bind_int(6, now_micros().time_since_epoch().count());
    return st.run("sampling a shadow mismatch");
  }

  Result<std::map<std::pair<std::string, MismatchKind>, int64_t>> shadow_counters() override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto raw,
                            conn->prepare("SELECT collection, kind, count FROM tandem_shadow_counters"));
    Statement st(*conn, raw);
    std::map<std::pair<std::string, MismatchKind>, int64_t> out;
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading shadow counters"));
      if (!row) break;
      TANDEM_ASSIGN_OR_RETURN(MismatchKind kind, parse_kind(st.column_text(1)));
      out[{st.column_text(0), kind}] = st.column_int(2);
    }
    return out;
  }

  Result<std::vector<ShadowSample>> shadow_samples(size_t limit) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("SELECT collection, key_display, kind, primary_value, "
                                                    "secondary_value, at FROM tandem_shadow_samples "
                                                    "ORDER BY id LIMIT ?1"));
    Statement st(*conn, raw);
    st.bind_int(1, static_cast<int64_t>(limit));
    std::vector<ShadowSample> out;
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading shadow samples"));
      if (!row) break;
      TANDEM_ASSIGN_OR_RETURN(MismatchKind kind, parse_kind(st.column_text(2)));
      out.push_back({st.column_text(0), st.column_text(1), kind, st.column_text(3), st.column_text(4),
                     from_micros(st.column_int(5))});
    }
    return out;
  }

  Status plan_backfill(
      std::string_view collection,
      const std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>& ranges,
      int64_t total_estimate) override {
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

  Result<BackfillState> backfill_state(std::string_view collection) override {
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

  Result<std::vector<BackfillRange>> backfill_ranges(std::string_view collection) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    return read_ranges(*conn, collection, "");
  }

  Result<std::optional<BackfillRange>> claim_backfill_range(
      std::string_view collection, std::string_view owner, std::chrono::milliseconds lease,
      const std::function<bool(const std::string&)>& owner_is_gone) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
    TANDEM_ASSIGN_OR_RETURN(auto ranges, read_ranges(*conn, collection, " AND done = 0"));
    const TimePoint now = now_micros();
    for (BackfillRange& r : ranges) {
      bool free = r.lease_owner.empty() || r.lease_until < now || r.lease_owner == owner ||
                  (owner_is_gone && owner_is_gone(r.lease_owner));
      if (!free) continue;
      TANDEM_ASSIGN_OR_RETURN(
          auto raw, conn->prepare("UPDATE tandem_backfill_ranges SET lease_owner = ?3, lease_until = ?4 "
                                  "WHERE collection = ?1 AND range_id = ?2"));
      Statement st(*conn, raw);
      st.bind_text(1, collection);
      st.bind_int(2, r.id);
      st.bind_text(3, owner);
      r.lease_owner = std::string(owner);
      r.lease_until = now + std::chrono::duration_cast<std::chrono::microseconds>(lease);
      st.bind_int(4, r.lease_until.time_since_epoch().count());
      TANDEM_RETURN_IF_ERROR(st.run("claiming a backfill range"));
      TANDEM_RETURN_IF_ERROR(tx->commit());
      return std::optional<BackfillRange>(std::move(r));
    }
    TANDEM_RETURN_IF_ERROR(tx->commit());
    return std::optional<BackfillRange>();
  }

  Status checkpoint_backfill(std::string_view collection, int64_t range_id, std::string_view owner,
                             const std::optional<std::string>& cursor, const BackfillCounts& d, bool done,
                             std::chrono::milliseconds lease) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
    {
      TANDEM_ASSIGN_OR_RETURN(
          auto raw,
          conn->prepare(
              "UPDATE tandem_backfill_ranges SET cursor = COALESCE(?4, cursor), done = ?5, lease_until = ?6, "
              "scanned = scanned + ?7, copied = copied + ?8, present = present + ?9, locked = locked + ?10, "
              "tombstoned = tombstoned + ?11, quarantined = quarantined + ?12 "
              "WHERE collection = ?1 AND range_id = ?2 AND lease_owner = ?3"));
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
      if (st.changes() == 0) {
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

  Status release_backfill_range(std::string_view collection, int64_t range_id,
                                std::string_view owner) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(
        auto raw, conn->prepare("UPDATE tandem_backfill_ranges SET lease_owner = '', lease_until = 0 "
                                "WHERE collection = ?1 AND range_id = ?2 AND lease_owner = ?3"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    st.bind_int(2, range_id);
    st.bind_text(3, owner);
    return st.run("releasing a backfill range");
  }

  Status set_backfill_paused(std::string_view collection, bool paused) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto raw,
                            conn->prepare("UPDATE tandem_backfill SET paused = ?2 WHERE collection = ?1"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    st.bind_int(2, paused ? 1 : 0);
    TANDEM_RETURN_IF_ERROR(st.run("pausing the backfill"));
    if (st.changes() == 0) {
      return Status::FailedPrecondition(
          fmt::format("collection '{}' has no backfill to pause or resume (start one with `tandem backfill`)",
                      collection));
    }
    return Status::Ok();
  }

  Status reset_backfill(std::string_view collection) override {
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

  Status record_verify(const VerifyRun& r) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare(
            "INSERT INTO tandem_verify_runs (collection, at, step_version, clean, records, missing, extra, "
            "different, resurrected, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
    Statement st(*conn, raw);
    st.bind_text(1, r.collection);
    st.bind_int(2, r.at.time_since_epoch().count());
    st.bind_int(3, r.step_version);
    st.bind_int(4, r.clean ? 1 : 0);
    st.bind_int(5, r.records);
    st.bind_int(6, r.missing);
    st.bind_int(7, r.extra);
    st.bind_int(8, r.different);
    st.bind_int(9, r.resurrected);
    sqlite3_bind_double(st.get(), 10, r.seconds);
    return st.run("recording a verify run");
  }

  Result<std::optional<VerifyRun>> latest_verify(std::string_view collection) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(
        auto raw, conn->prepare("SELECT id, collection, at, step_version, clean, records, missing, extra, "
                                "different, resurrected, seconds "
                                "FROM tandem_verify_runs WHERE collection = ?1 ORDER BY id DESC LIMIT 1"));
    Statement st(*conn, raw);
    st.bind_text(1, collection);
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the latest verify"));
    if (!row) return std::optional<VerifyRun>();
    return std::optional<VerifyRun>(
        VerifyRun{st.column_int(0), st.column_text(1), from_micros(st.column_int(2)), st.column_int(3),
                  st.column_int(4) != 0, st.column_int(5), st.column_int(6), st.column_int(7),
                  st.column_int(8), st.column_int(9), sqlite3_column_double(st.get(), 10)});
  }

 private:
  Result<std::vector<BackfillRange>> read_ranges(sqlite::Connection& conn, std::string_view collection,
                                                 std::string_view filter) {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw, conn.prepare(fmt::format("SELECT range_id, begin_key, end_key, cursor, done, lease_owner, "
                                           "lease_until, scanned, copied, present, "
                                           "locked, tombstoned, quarantined FROM tandem_backfill_ranges "
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
      out.push_back(std::move(r));
    }
    return out;
  }

  Result<StepState> read_step(sqlite::Connection& conn) {
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

  Status put_meta(sqlite::Connection& conn, std::string_view name, std::string_view value) {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn.prepare("INSERT INTO tandem_meta (name, value) VALUES (?1, ?2) ON "
                                                   "CONFLICT (name) DO UPDATE SET value = excluded.value"));
    Statement st(conn, raw);
    st.bind_text(1, name);
    st.bind_text(2, value);
    return st.run("writing control metadata");
  }

  Result<int64_t> count(const std::string& table) {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("SELECT COUNT(*) FROM " + table));
    Statement st(*conn, raw);
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("counting " + table));
    return row ? st.column_int(0) : 0;
  }

  sqlite::Pool pool_;
};

}  // namespace

Result<std::unique_ptr<ControlStore>> open_control_store(std::string_view url) {
  std::string_view scheme = url.substr(0, url.find(':'));
  if (url.find(':') != std::string_view::npos && scheme != "sqlite") {
    return Status::Config(
        fmt::format("control store: unsupported URL scheme '{}' in '{}' (this build supports sqlite:PATH)",
                    scheme, redact_url(url)));
  }
  auto store = std::make_unique<SqliteControlStore>(sqlite::path_from_url(url));
  TANDEM_RETURN_IF_ERROR(store->open());
  return std::unique_ptr<ControlStore>(std::move(store));
}

}  // namespace tandem
