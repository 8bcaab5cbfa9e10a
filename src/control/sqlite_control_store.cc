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
                                bool forced, std::string_view actor) override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
    TANDEM_ASSIGN_OR_RETURN(StepState cur, read_step(*conn));
    if (cur.version != expected_version) {
      return Status::FailedPrecondition(fmt::format(
          "the step changed meanwhile (version {} is now {}, at step {}); check `tandem status` and retry",
          expected_version, cur.version, cur.step_index + 1));
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

 private:
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
