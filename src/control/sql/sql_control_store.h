// SqlControlStore: the ControlStore on a database server (PostgreSQL,
// MariaDB/MySQL) shared by every process of a migration on every host. The
// logic is written once over the SQL layer of control_sql.h; the engines
// differ only in their Session and Dialect.
//
// The class is implemented by concern, each file with the DDL of its tables:
//   sql_control_store.cc     opening, the schema, initialize, metadata
//   sql_steps.cc             the current step, its history, the finish record
//   sql_instances.cc         instances' heartbeats and forgotten instances
//   sql_repair_quarantine.cc the repair queue and the quarantine
//   sql_shadow_report.cc     shadow mismatch counters and samples
//   sql_backfill_ledger.cc   backfill plans, ranges, leases, checkpoints
//   sql_verify_ledger.cc     verify runs
//
// Every time it records (step changes, heartbeats, leases, queue entries) is
// the server's clock (Dialect::now_micros), never a host's: hosts' clocks
// disagree. The step move locks the step-state row (SELECT ... FOR UPDATE) so
// that two movers serialize, and a repair is queued under a shared lock of the
// same row, so that the move's check of the queue and the move are atomic.
// Backfill ranges are claimed with FOR UPDATE SKIP LOCKED.
//
// Thread safety and errors: those of ControlStore (a pool of connections; a
// lost connection is dropped and the next call reconnects).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "control/sql/control_sql.h"
#include "tandem/control_store.h"

namespace tandem::control_sql {

// The DDL of each concern (CREATE TABLE IF NOT EXISTS templates, one
// statement each, see Dialect::ddl), run in this order at open.
extern const std::vector<std::string_view> kStepsSchema;
extern const std::vector<std::string_view> kInstancesSchema;
extern const std::vector<std::string_view> kRepairQuarantineSchema;
extern const std::vector<std::string_view> kShadowSchema;
extern const std::vector<std::string_view> kBackfillSchema;
extern const std::vector<std::string_view> kVerifySchema;

// Times are stored as integer microseconds since the epoch.
inline WallTime from_micros(int64_t v) { return WallTime(std::chrono::microseconds(v)); }
inline int64_t micros(WallTime t) { return t.time_since_epoch().count(); }
inline int64_t micros(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

class SqlControlStore : public ControlStore {
 public:
  explicit SqlControlStore(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}

  // Creates the tables that do not exist yet.
  Status open();
  Status upgrade(Session& session);

  Status initialize(std::string_view fingerprint, size_t plan_size) override;

  // Steps and the finish record (sql_steps.cc).
  Result<StepState> current_step() override;
  Result<StepState> change_step(int64_t expected_version, size_t to_index, std::string_view reason,
                                bool forced, std::string_view actor,
                                const std::vector<Side>& require_drained) override;
  Result<StepState> continue_after_fence(int64_t fence_version, std::string_view reason,
                                         std::string_view actor) override;
  Result<std::vector<StepChange>> history(size_t limit) override;
  Status mark_finished(const FinishRecord& record) override;
  Result<std::optional<FinishRecord>> finished() override;

  // Instances (sql_instances.cc).
  Result<WallTime> clock_now() override;
  Status heartbeat(const InstanceHeartbeat& h) override;
  // One statement where the server allows it (Dialect::heartbeat_read).
  Result<StepState> heartbeat_and_read_step(const InstanceHeartbeat& h) override;
  Status remove_instance(std::string_view instance_id) override;
  Result<InstanceForgotten> forget_instance(std::string_view instance_id, std::string_view reason,
                                            std::string_view actor, std::chrono::milliseconds lease) override;
  Result<std::vector<InstanceForgotten>> forgotten_instances(size_t limit) override;
  Result<std::vector<InstanceHeartbeat>> instances() override;
  Result<int64_t> remove_instances_before(WallTime heartbeat_before) override;

  // The repair queue and the quarantine (sql_repair_quarantine.cc).
  Status enqueue_repair(const RepairEntry& e) override;
  Result<std::vector<RepairEntry>> repair_batch(size_t limit) override;
  Status complete_repair(int64_t id) override;
  Status fail_repair(int64_t id, std::string_view reason) override;
  Result<std::map<Side, int64_t>> repair_counts() override;
  Status add_quarantine(const QuarantineEntry& e) override;
  Result<std::vector<QuarantineEntry>> quarantine(size_t limit) override;
  Result<int64_t> quarantine_size() override;
  Status remove_quarantine(int64_t id) override;

  // The shadow report (sql_shadow_report.cc).
  Status add_shadow_mismatches(std::string_view collection, MismatchKind kind, int64_t n) override;
  Status add_shadow_sample(const ShadowSample& s, size_t keep_at_most) override;
  Result<std::map<std::pair<std::string, MismatchKind>, int64_t>> shadow_counters() override;
  Result<std::vector<ShadowSample>> shadow_samples(size_t limit) override;

  // The backfill ledger (sql_backfill_ledger.cc).
  Status plan_backfill(
      std::string_view collection,
      const std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>& ranges,
      int64_t total_estimate) override;
  Result<BackfillState> backfill_state(std::string_view collection) override;
  Result<std::vector<BackfillRange>> backfill_ranges(std::string_view collection) override;
  Result<std::optional<BackfillRange>> claim_backfill_range(
      std::string_view collection, std::string_view owner, std::chrono::milliseconds lease,
      const std::function<bool(const std::string&)>& owner_is_gone) override;
  Status checkpoint_backfill(std::string_view collection, int64_t range_id, std::string_view owner,
                             const std::optional<std::string>& cursor, const BackfillCounts& d, bool done,
                             std::chrono::milliseconds lease) override;
  Status release_backfill_range(std::string_view collection, int64_t range_id,
                                std::string_view owner) override;
  Status set_backfill_paused(std::string_view collection, bool paused) override;
  Status reset_backfill(std::string_view collection) override;

  // The verify ledger (sql_verify_ledger.cc).
  Status record_verify(const VerifyRun& r) override;
  Result<std::optional<VerifyRun>> latest_verify(std::string_view collection) override;

 private:
  const Dialect& dialect() const { return engine_->dialect(); }
  // The server's clock, read on session.
  Result<int64_t> now(Session& session);
  Result<StepState> read_step(Session& session, std::string_view lock);
  // Writes next as the current step and records the change from cur.
  Status write_step(Session& session, const StepState& cur, const StepState& next, std::string_view reason,
                    bool forced, std::string_view actor);
  // The heartbeat's upsert (its parameters: heartbeat_params).
  std::string heartbeat_sql() const;
  // Creates the index of a "CREATE INDEX IF NOT EXISTS name ON ..." template
  // where the engine lacks IF NOT EXISTS.
  Status create_index(Session& session, std::string_view statement);
  // Tells MariaDB 10.5+ (INSERT ... RETURNING) from MySQL at open.
  Status detect_heartbeat_read(Session& session);
  Result<std::optional<FinishRecord>> read_finished(Session& session);
  Status put_meta(Session& session, std::string_view name, std::string_view value, bool overwrite);
  Result<int64_t> count(std::string_view table);
  // One statement on a session of its own; a lost connection is outcome_unknown.
  Result<int64_t> exec1(const std::string& sql, const std::vector<Param>& params, std::string_view what);
  Result<std::vector<Row>> query1(const std::string& sql, const std::vector<Param>& params,
                                  std::string_view what);
  Result<std::vector<BackfillRange>> read_ranges(Session& session, std::string_view collection,
                                                 std::string_view filter, const std::vector<Param>& more);

  std::unique_ptr<Engine> engine_;
  // The engine's Dialect::heartbeat_read, confirmed against the server at open.
  Dialect::HeartbeatRead heartbeat_read_ = Dialect::HeartbeatRead::kTwoStatements;
};

// Opens url with the engine registered for its scheme and creates the tables;
// kConfig if no engine for the scheme is linked.
Result<std::unique_ptr<ControlStore>> open_sql_control_store(std::string_view scheme, std::string_view url);

}  // namespace tandem::control_sql
