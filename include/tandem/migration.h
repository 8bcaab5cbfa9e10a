// Migration and Collection: what a service links against.
//
//   #include "tandem/config.h"
//   #include "tandem/migration.h"
//   auto config = tandem::Config::load_file("tandem.toml");
//   auto migration = tandem::Migration::open(*config);
//   auto users = (*migration)->collection("users");
//   (*users)->put(record);            // routed by the current step's roles
//
// A Migration routes every operation of its collections by the current step
// of the plan, which an operator changes at run time (`tandem step`). A
// background thread re-reads the step every refresh_interval, applies a
// change, and writes this instance's heartbeat with the step version applied.
//
// Routing (see docs/ARCHITECTURE.md):
//   read:  RP; on a miss (not a tombstone) with RS in fallback mode, RS; with
//          RS in shadow mode, RS too, compared and reported, never returned.
//   write: WP (its result is the call's result); then WS is brought up to date
//          by a locked copy of WP's current record. A WS failure never fails
//          the call: the key goes to the durable repair queue.
//   patch: if the record is missing in WP, it is first transferred from the
//          other database under the record lock, then patched.
//
// The lease (docs/ARCHITECTURE.md, "Leases"): the instance routes only while
// it holds a lease of config.instance_timeout, renewed by every refresh that
// read the step and wrote the heartbeat. It is measured on this host's
// CLOCK_BOOTTIME from the start of that refresh, and the instance stops
// routing at 4/5 of it: an operation then fails with kUnavailable ("cannot
// confirm the migration's step since ...; not routing") and routing resumes
// by itself after the next successful refresh (an operation that entered
// before a lapse stays refused: its step may be two moves old). A mover counts the instance
// gone only once its heartbeat, stamped by the control store's clock, is a
// whole lease old on that same clock: the remaining fifth covers clock-rate
// drift and the refresh's duration. A write re-checks the lease right before
// it writes the write primary and before it copies into the write secondary
// (a lapsed lease there: the key is queued for repair, the outcome reported
// unknown). With config.fence = kOperator the instance keeps routing while
// the control store is unreachable, and moves wait for it instead (or for
// `tandem instances forget`). Without register_instance (operator tools) no
// lease is held or checked.
//
// Fencing at new (FenceScope in store.h): what the lease cannot bound, an
// operation that passed its last check and then stalls while its process
// goes on renewing, new refuses by itself. Every write an operation makes to
// new carries the step version it entered by; new keeps the version at
// which its write role last changed and refuses an older one (kUnavailable,
// retryable, is_fenced(); nothing written). A refused write to new as write
// primary fails plainly (retry); a refused copy into new as write secondary
// is queued for repair and reported as of unknown outcome. Either way the
// instance refreshes at once. Old cannot be fenced (no table of tandem's
// there): only the lease covers it. open() compares new's fence with the
// control store: a fresh control store (no step moved yet) continues after a
// fence an earlier migration left (ControlStore::continue_after_fence); one
// whose steps moved and are behind it is refused (kFailedPrecondition: two
// control stores steer one new database).
//
// What bypasses the routing (the databases and the control store themselves)
// is reached through OperatorTools (operator_tools.h), for the CLI, backfill,
// verify and tests; a service uses collection() only.
//
// Thread safety: Migration and Collection are safe to share across threads.
// Ownership: Migration owns what open() opened; with open_with() the caller
// owns the stores and control store and keeps them alive longer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/record.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem {

struct Cascade;  // router/relation_copy.h
struct Config;
class ControlStore;
class Migration;
class OperatorTools;
struct Plan;
class Store;
struct MigrationState;
struct MoveProblem;  // tandem/move_problem.h
struct Step;
struct StepState;  // tandem/control_store.h

// A page of Collection::scan.
struct ScanPage {
  std::vector<Record> records;  // ascending, in the read primary's key order
  // Set when the page is full: the next page is scan(KeyRange::after(*next, range.end), limit).
  std::optional<Key> next;
};

class Collection {
 public:
  const CollectionSchema& schema() const { return schema_; }
  const std::string& name() const { return schema_.name; }

  // The record, or nullopt if the routed read finds none.
  Result<std::optional<Record>> get(const Key& key);
  // Inserts or replaces the whole record (fields absent from record are null).
  Status put(const Record& record);
  // Sets some fields of an existing record; kNotFound if there is none.
  Status patch(const Key& key, const FieldMap& fields);
  // Deletes the record (tombstone in every database written). Idempotent.
  Status remove(const Key& key);
  // At most limit (1 to 10,000) records with keys in range, from the read
  // primary, in its key order. No fallback: a step reads new only after a
  // complete backfill and a clean verify, and every write since reached new
  // or is in the repair queue, so new misses only keys queued for repair
  // (a get falls back for those; a scan shows them once repaired). In shadow
  // mode the page's keys are read from the read secondary too and compared
  // (missing, different, error; a record only the secondary has in the range
  // is not looked for). Pages are consistent within one read primary's key
  // order; across a move that changes it, text keys under different
  // collations may repeat or be skipped between pages.
  Result<ScanPage> scan(const KeyRange& range, size_t limit);

 private:
  friend class Migration;
  Collection(MigrationState* state, CollectionSchema schema) : state_(state), schema_(std::move(schema)) {}
  // pre: the children the write removes in WP through relations, read before it (or null).
  // lease_epoch: the lease epoch the operation entered under (migration_state.h).
  Status sync_write_secondary(const Key& key, const Step& step, size_t step_index, int64_t lease_epoch,
                              const Cascade* pre = nullptr);
  // Counts the error and, if the write may have reached WP, queues WS's repair.
  Status write_primary_failed(const Key& key, const Step& step, size_t step_index, Status s);
  Result<bool> transfer_into_write_primary(const Key& key, const Step& step, size_t step_index,
                                           int64_t lease_epoch);

  MigrationState* state_;
  CollectionSchema schema_;
};

struct MigrationOptions {
  // false for operator tools (the CLI): no heartbeat, no refresh thread.
  bool register_instance = true;
  // Shown in `tandem status`; default "host:pid".
  std::string instance_label;
};

// Counters of one step, as routed by this instance.
struct StepStats {
  int64_t reads = 0;
  int64_t writes = 0;          // put / patch / remove calls
  int64_t errors = 0;          // calls that returned an error
  int64_t fallback_reads = 0;  // RP missed, RS answered
  int64_t shadow_reads = 0;
  int64_t shadow_mismatches = 0;
  int64_t write_secondary_failures = 0;  // keys sent to the repair queue
  int64_t transfers = 0;                 // records copied into WP before a patch
};

class Migration {
 public:
  static Result<std::unique_ptr<Migration>> open(const Config& config, MigrationOptions options = {});
  static Result<std::unique_ptr<Migration>> open_with(const Config& config, Store* old_store,
                                                      Store* new_store, ControlStore* control,
                                                      MigrationOptions options = {});
  ~Migration();
  Migration(const Migration&) = delete;
  Migration& operator=(const Migration&) = delete;

  // kNotFound naming the collection if the config has none of that name.
  Result<Collection*> collection(std::string_view name);

  const Config& config() const;
  // The relations tandem keeps (old's foreign keys between configured
  // collections, read at open): the write-secondary sync, the repair queue
  // and verify --repair copy a parent's children with it.
  const std::vector<Relation>& relations() const;
  const Plan& plan() const;
  // The step this instance routes by now.
  StepState applied_step() const;
  // Re-reads the current step now (the refresh thread does it every interval).
  Status refresh();

  // What stops a move to to_index now (empty: allowed). Checks: every live
  // instance has applied the current step; no pending repair for a database
  // that the move makes a primary or stops writing; a move back only to a step
  // whose primaries and written databases were all written at the current
  // step; one step at a time forward.
  Result<std::vector<MoveProblem>> check_move(size_t to_index);
  // Moves to to_index if check_move finds nothing, or if force (recorded in
  // the history with the reason). kFailedPrecondition lists the problems.
  Result<StepState> change_step(size_t to_index, std::string_view reason, bool force);

  // Drains up to limit repair-queue entries by a locked copy of the write
  // primary's current record into the target. Returns how many were repaired.
  Result<size_t> drain_repair_queue(size_t limit);

  // This instance's counters, one per plan step.
  std::vector<StepStats> stats() const;

  const std::string& instance_id() const;

 private:
  // The databases and the control store, bypassing the routing: for
  // operator tools only (tandem/operator_tools.h), not a service's handle.
  friend class OperatorTools;
  explicit Migration(std::unique_ptr<MigrationState> state);
  static Result<std::unique_ptr<Migration>> open_parts(const Config& config, Store* old_store,
                                                       Store* new_store, ControlStore* control,
                                                       MigrationOptions options,
                                                       std::unique_ptr<MigrationState> state);
  std::unique_ptr<MigrationState> state_;
};

}  // namespace tandem
