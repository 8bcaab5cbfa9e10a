// SqliteControlStore: the ControlStore on one SQLite file shared by every
// process of a migration on one host (the embedded default).
//
// The class is defined once here and implemented by concern, each file with
// the DDL of its tables beside its statements:
//   sqlite_control_store.cc     opening, the schema, initialize, metadata
//   sqlite_steps.cc             the current step, its history, instances
//   sqlite_repair_quarantine.cc the repair queue and the quarantine
//   sqlite_shadow_report.cc     shadow mismatch counters and samples
//   sqlite_backfill_ledger.cc   backfill plans, ranges, leases, checkpoints
//   sqlite_verify_ledger.cc     verify runs
// A control store on another engine follows the same cut.
//
// Thread safety and errors: those of ControlStore (a pool of connections;
// SQLite's busy timeout serializes writers across processes).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "stores/sqlite/sqlite_connection.h"
#include "tandem/control_store.h"

namespace tandem {

// The DDL of each concern (CREATE ... IF NOT EXISTS), run in this order at open.
extern const char* const kSqliteStepsSchema;
extern const char* const kSqliteRepairQuarantineSchema;
extern const char* const kSqliteShadowSchema;
extern const char* const kSqliteBackfillSchema;
extern const char* const kSqliteVerifySchema;

// Times are stored as integer microseconds since the epoch.
inline WallTime from_micros(int64_t v) { return WallTime(std::chrono::microseconds(v)); }

class SqliteControlStore : public ControlStore {
 public:
  explicit SqliteControlStore(std::string path) : pool_(std::move(path), /*configure=*/true) {}

  // Opens (creating if missing) the file and creates the tables.
  Status open();

  Status initialize(std::string_view fingerprint, size_t plan_size) override;

  // Steps and instances (sqlite_steps.cc).
  Result<StepState> current_step() override;
  Result<StepState> change_step(int64_t expected_version, size_t to_index, std::string_view reason,
                                bool forced, std::string_view actor,
                                const std::vector<Side>& require_drained) override;
  Result<StepState> continue_after_fence(int64_t fence_version, std::string_view reason,
                                         std::string_view actor) override;
  Result<std::vector<StepChange>> history(size_t limit) override;
  Result<WallTime> clock_now() override;
  Status heartbeat(const InstanceHeartbeat& h) override;
  Status remove_instance(std::string_view instance_id) override;
  Result<InstanceForgotten> forget_instance(std::string_view instance_id, std::string_view reason,
                                            std::string_view actor, std::chrono::milliseconds lease) override;
  Result<std::vector<InstanceForgotten>> forgotten_instances(size_t limit) override;
  Result<std::vector<InstanceHeartbeat>> instances() override;
  Result<int64_t> remove_instances_before(WallTime heartbeat_before) override;
  Status mark_finished(const FinishRecord& record) override;
  Result<std::optional<FinishRecord>> finished() override;

  // The repair queue and the quarantine (sqlite_repair_quarantine.cc).
  Status enqueue_repair(const RepairEntry& e) override;
  Result<std::vector<RepairEntry>> repair_batch(size_t limit) override;
  Status complete_repair(int64_t id) override;
  Status fail_repair(int64_t id, std::string_view reason) override;
  Result<std::map<Side, int64_t>> repair_counts() override;
  Status add_quarantine(const QuarantineEntry& e) override;
  Result<std::vector<QuarantineEntry>> quarantine(size_t limit) override;
  Result<int64_t> quarantine_size() override;
  Status remove_quarantine(int64_t id) override;

  // The shadow report (sqlite_shadow_report.cc).
  Status add_shadow_mismatches(std::string_view collection, MismatchKind kind, int64_t n) override;
  Status add_shadow_sample(const ShadowSample& s, size_t keep_at_most) override;
  Result<std::map<std::pair<std::string, MismatchKind>, int64_t>> shadow_counters() override;
  Result<std::vector<ShadowSample>> shadow_samples(size_t limit) override;

  // The backfill ledger (sqlite_backfill_ledger.cc).
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

  // The verify ledger (sqlite_verify_ledger.cc).
  Status record_verify(const VerifyRun& r) override;
  Result<std::optional<VerifyRun>> latest_verify(std::string_view collection) override;

 private:
  Result<std::vector<BackfillRange>> read_ranges(sqlite::Connection& conn, std::string_view collection,
                                                 std::string_view filter);
  Result<StepState> read_step(sqlite::Connection& conn);
  // Writes next as the current step and records the change from cur.
  Status write_step(sqlite::Connection& conn, const StepState& cur, const StepState& next,
                    std::string_view reason, bool forced, std::string_view actor);
  Status put_meta(sqlite::Connection& conn, std::string_view name, std::string_view value);
  Result<std::optional<FinishRecord>> read_finished(sqlite::Connection& conn);
  Result<int64_t> count(const std::string& table);

  sqlite::Pool pool_;
};

// Opens url ("sqlite:PATH" or a file path) and creates the tables.
Result<std::unique_ptr<ControlStore>> open_sqlite_control_store(std::string_view url);

}  // namespace tandem
