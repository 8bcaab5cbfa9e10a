// ControlStore: the migration's persistent, shared state. Every process of a
// migration (service instances, the CLI, backfill workers) opens the same
// control store: a SQLite file by default (one host), PostgreSQL or
// MariaDB/MySQL when processes run on several machines. The records of the
// backfill and verify ledgers are declared in backfill_ledger.h and
// verify_ledger.h; the SQLite implementation is split by concern in
// src/control/sqlite/.
//
// Thread safety: every method is safe to call from many threads.
// Errors: kUnavailable (retryable) when the store cannot be reached, kBusy when
// contended beyond the busy timeout; messages name the table and entry.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/backfill_ledger.h"
#include "tandem/clock.h"
#include "tandem/plan.h"
#include "tandem/status.h"
#include "tandem/verify_ledger.h"

namespace tandem {

// The current step: index into the plan and a version that increases by one
// with every change (forward, back or forced).
struct StepState {
  size_t step_index = 0;
  int64_t version = 1;
  WallTime changed_at{};
};

struct StepChange {
  int64_t version = 0;  // the version this change created
  WallTime at{};
  size_t from_index = 0;
  size_t to_index = 0;
  std::string reason;
  bool forced = false;
  std::string actor;  // "user@host pid N"
};

// When and by whom a migration was finished (`tandem finish`).
struct FinishRecord {
  WallTime at{};
  std::string actor;      // "user@host pid N"
  size_t step_index = 0;  // the last step, at which it was finished
  int64_t version = 0;    // the step version it was finished at
};

struct InstanceHeartbeat {
  std::string instance_id;
  std::string host;
  int64_t pid = 0;
  WallTime started_at{};
  WallTime heartbeat_at{};      // the control store's clock (clock_now), stamped by heartbeat()
  int64_t applied_version = 0;  // step version this instance routes by
  size_t applied_step_index = 0;
  // The lease this instance holds (its instance_timeout), recorded with each
  // heartbeat so that every process judges it by the instance's own length
  // whatever its own config says; 0 in rows written before it was recorded.
  std::chrono::milliseconds lease{0};
};

// Whether the instance counts as live at now (the control store's clock): its
// last heartbeat is at most max(instance_timeout, heartbeat.lease) old (the
// longer of the caller's and the instance's own lease: a CLI configured with a
// shorter one never counts a service gone early). The one liveness test: step
// moves, the start of a backfill and `tandem status` all count instances by
// it. instance_timeout is also the instance's lease (migration.h): an instance
// that is not live here has stopped routing by its own clock.
bool instance_is_live(const InstanceHeartbeat& heartbeat, WallTime now,
                      std::chrono::milliseconds instance_timeout);
// For ControlStore::forget_instance: kFailedPrecondition naming the instance
// if its last heartbeat (age_us old) is within lease_ms; Ok otherwise.
Status refuse_live_forget(std::string_view instance_id, std::string_view host, int64_t pid, int64_t age_us,
                          int64_t lease_ms);

// An operator declared a silent instance dead (`tandem instances forget`).
struct InstanceForgotten {
  std::string instance_id;
  std::string host;
  WallTime last_heartbeat{};  // its last heartbeat (the control store's clock)
  WallTime at{};              // when it was forgotten (the control store's clock)
  int64_t step_version = 0;   // the step version at that time
  std::string reason;
  std::string actor;  // "user@host pid N"
};

// A key whose write-secondary copy failed; drained by a locked copy from the
// write primary. target is the database that must be brought up to date.
struct RepairEntry {
  int64_t id = 0;
  std::string collection;
  std::string key;  // Key::encode()
  std::string key_display;
  Side target = Side::kNew;
  std::string reason;
  WallTime enqueued_at{};
  int64_t attempts = 0;
};

struct QuarantineEntry {
  int64_t id = 0;
  std::string collection;
  std::string key;  // Key::encode(), or empty when the key itself is unreadable
  std::string key_display;
  std::string field;  // the field at fault, empty if the whole record
  std::string raw;    // the raw value where it could be kept
  std::string reason;
  WallTime at{};
};

enum class MismatchKind : uint8_t {
  kMissingInSecondary,  // RP has it, RS does not
  kExtraInSecondary,    // RS has it, RP does not
  kDifferent,           // both have it, fields differ
  kSecondaryError,      // RS failed to answer
};
std::string_view mismatch_kind_name(MismatchKind kind);

struct ShadowSample {
  std::string collection;
  std::string key_display;
  MismatchKind kind = MismatchKind::kDifferent;
  std::string primary;    // RP's answer, abbreviated
  std::string secondary;  // RS's answer, abbreviated
  WallTime at{};
};

class ControlStore {
 public:
  virtual ~ControlStore() = default;

  // Creates the schema on first use and records the config fingerprint; on
  // later opens checks the fingerprint (kConfig naming both if it differs).
  // plan_size bounds the stored step.
  virtual Status initialize(std::string_view fingerprint, size_t plan_size) = 0;

  virtual Result<StepState> current_step() = 0;
  // Atomically moves to to_index if the current version is expected_version
  // (kFailedPrecondition otherwise: someone else moved first) and the repair
  // queue holds nothing for the databases in require_drained, and records the
  // change in the history. The queue is checked in the same transaction as
  // the change, so that a repair queued by a write still in flight cannot
  // slip between the move's checks and the move (the write then sees the new
  // step and reports an unknown outcome; see Collection).
  virtual Result<StepState> change_step(int64_t expected_version, size_t to_index, std::string_view reason,
                                        bool forced, std::string_view actor,
                                        const std::vector<Side>& require_drained) = 0;
  // A control store starting a migration on a new database that an earlier
  // one (another control store) already fenced: on a control store whose
  // steps have never moved (an empty history), raises the current version
  // to fence_version + 1, keeping the step, and records that in the history
  // (from the step to itself, with reason and actor), so that its tokens are
  // newer than the fence and the earlier migration's are still refused. Ok,
  // changing nothing, if the version is already above fence_version.
  // kFailedPrecondition, changing nothing, if the steps have moved already:
  // then two control stores steer one new database. Atomic.
  virtual Result<StepState> continue_after_fence(int64_t fence_version, std::string_view reason,
                                                 std::string_view actor) = 0;
  // Most recent first.
  virtual Result<std::vector<StepChange>> history(size_t limit) = 0;

  // The control store's clock: what heartbeat() stamps and what every
  // liveness test compares against, so that instances and movers on hosts
  // whose clocks disagree still agree on a heartbeat's age. SQLite: this
  // host's system clock (one host); PostgreSQL and MariaDB: the server's.
  virtual Result<WallTime> clock_now() = 0;
  // Upserts the instance's row; heartbeat_at is stamped with clock_now() (the
  // caller's value is ignored).
  virtual Status heartbeat(const InstanceHeartbeat& heartbeat) = 0;
  // An instance's refresh: writes the heartbeat, then reads the current step,
  // such that no step move commits between the step read and the moment
  // movers can see the heartbeat (a move either precedes the read or sees
  // the heartbeat). The default runs heartbeat() then current_step(); the
  // servers do it in one statement (the step row read under a shared lock
  // until the heartbeat commits), so a refresh costs one query.
  virtual Result<StepState> heartbeat_and_read_step(const InstanceHeartbeat& heartbeat) {
    TANDEM_RETURN_IF_ERROR(this->heartbeat(heartbeat));
    return current_step();
  }
  virtual Status remove_instance(std::string_view instance_id) = 0;
  // Removes a silent instance and records it with the reason, in one
  // transaction; kNotFound naming it if no such instance is registered;
  // kFailedPrecondition if, in that transaction, its last heartbeat is at
  // most max(lease, its own lease) old (it renewed meanwhile: still live).
  virtual Result<InstanceForgotten> forget_instance(std::string_view instance_id, std::string_view reason,
                                                    std::string_view actor,
                                                    std::chrono::milliseconds lease) = 0;
  // Most recent first.
  virtual Result<std::vector<InstanceForgotten>> forgotten_instances(size_t limit) = 0;
  virtual Result<std::vector<InstanceHeartbeat>> instances() = 0;
  // Removes the instances whose last heartbeat is older than heartbeat_before
  // and than their own lease
  // (checked in the statement, so an instance that has just heartbeated
  // stays); returns how many. `tandem status` runs it on the instances it has
  // just shown as gone: a crashed instance is listed once, then forgotten.
  virtual Result<int64_t> remove_instances_before(WallTime heartbeat_before) = 0;

  // Marks the migration finished (`tandem finish`): from then on change_step
  // refuses (kFailedPrecondition) and a Migration does not open. Idempotent:
  // a second call keeps the first record.
  virtual Status mark_finished(const FinishRecord& record) = 0;
  // The finish record, or nullopt while the migration runs.
  virtual Result<std::optional<FinishRecord>> finished() = 0;

  virtual Status enqueue_repair(const RepairEntry& entry) = 0;
  // Oldest first.
  virtual Result<std::vector<RepairEntry>> repair_batch(size_t limit) = 0;
  virtual Status complete_repair(int64_t id) = 0;
  virtual Status fail_repair(int64_t id, std::string_view reason) = 0;
  virtual Result<std::map<Side, int64_t>> repair_counts() = 0;

  virtual Status add_quarantine(const QuarantineEntry& entry) = 0;
  virtual Result<std::vector<QuarantineEntry>> quarantine(size_t limit) = 0;
  virtual Result<int64_t> quarantine_size() = 0;
  virtual Status remove_quarantine(int64_t id) = 0;

  virtual Status add_shadow_mismatches(std::string_view collection, MismatchKind kind, int64_t count) = 0;
  virtual Status add_shadow_sample(const ShadowSample& sample, size_t keep_at_most) = 0;
  // (collection, kind) -> count.
  virtual Result<std::map<std::pair<std::string, MismatchKind>, int64_t>> shadow_counters() = 0;
  virtual Result<std::vector<ShadowSample>> shadow_samples(size_t limit) = 0;

  // Backfill. Ranges are planned once per collection (a no-op if they exist);
  // workers claim a range by lease, checkpoint after each batch, and release it.
  virtual Status plan_backfill(
      std::string_view collection,
      const std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>& ranges,
      int64_t total_estimate) = 0;
  virtual Result<BackfillState> backfill_state(std::string_view collection) = 0;
  virtual Result<std::vector<BackfillRange>> backfill_ranges(std::string_view collection) = 0;
  // Claims a range that is not done and whose lease is free, expired, or held
  // by an owner for which owner_is_gone returns true; nullopt if none.
  virtual Result<std::optional<BackfillRange>> claim_backfill_range(
      std::string_view collection, std::string_view owner, std::chrono::milliseconds lease,
      const std::function<bool(const std::string&)>& owner_is_gone) = 0;
  // Records progress and renews the lease; kFailedPrecondition if owner no
  // longer holds it (another worker took over: stop copying this range).
  // Idempotent: a checkpoint repeated with the cursor the range already has
  // (a retry after a lost COMMIT that had landed) only renews the lease and
  // sets done; without a cursor, delta is added and the cursor kept.
  virtual Status checkpoint_backfill(std::string_view collection, int64_t range_id, std::string_view owner,
                                     const std::optional<std::string>& cursor, const BackfillCounts& delta,
                                     bool done, std::chrono::milliseconds lease) = 0;
  virtual Status release_backfill_range(std::string_view collection, int64_t range_id,
                                        std::string_view owner) = 0;
  virtual Status set_backfill_paused(std::string_view collection, bool paused) = 0;
  // Forgets the collection's backfill (to copy again from the start).
  virtual Status reset_backfill(std::string_view collection) = 0;

  virtual Status record_verify(const VerifyRun& run) = 0;
  virtual Result<std::optional<VerifyRun>> latest_verify(std::string_view collection) = 0;
};

// Opens a control store from a URL: "sqlite:PATH" or a file path,
// "postgres://…"/"postgresql://…", "mariadb://…"/"mysql://…" (the stores' URL
// forms, TLS and password_file=/password_env= options), creating its tables.
Result<std::unique_ptr<ControlStore>> open_control_store(std::string_view url);

}  // namespace tandem
