// Internal state shared by Migration and its Collections.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_annotations.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/store.h"

namespace tandem {

struct AtomicStepStats {
  // Operations routed by this step that have not returned yet.
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> reads{0};
  std::atomic<int64_t> writes{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> fallback_reads{0};
  std::atomic<int64_t> shadow_reads{0};
  std::atomic<int64_t> shadow_mismatches{0};
  std::atomic<int64_t> write_secondary_failures{0};
  std::atomic<int64_t> transfers{0};
};

struct MigrationState {
  Config config;
  MigrationOptions options;
  std::unique_ptr<Store> owned_old;
  std::unique_ptr<Store> mapped_old;  // old in new's shape, when the config maps collections
  std::unique_ptr<Store> owned_new;
  std::unique_ptr<ControlStore> owned_control;
  Store* old_store = nullptr;
  Store* new_store = nullptr;
  ControlStore* control = nullptr;

  std::string instance_id;
  std::string host;
  int64_t pid = 0;
  WallTime started_at{};

  // The step this instance routes by. Operations enter it once, at their
  // start (StepGuard), and use that step throughout.
  // Packed as (version << 8) | index (pack_routing), so that an operation
  // reads the step and its version at once: its fence token (FenceScope in
  // tandem/store.h) is never newer than the step it routes by.
  std::atomic<uint64_t> routing{0};
  static uint64_t pack_routing(const StepState& s) {
    return (static_cast<uint64_t>(s.version) << 8) | static_cast<uint64_t>(s.step_index);
  }
  mutable Mutex step_mutex;
  // Version 0 until the first refresh: the first heartbeat, written before
  // the step is read, acknowledges nothing.
  StepState applied GUARDED_BY(step_mutex){0, 0, {}};       // what new operations route by
  StepState acknowledged GUARDED_BY(step_mutex){0, 0, {}};  // what the heartbeat reports, once no
                                                            // operation of any other step is in flight

  // The lease (migration.h, "The lease"): when the refresh that last renewed
  // it started, on lease_clock_nanos() (0: never), and on the wall clock for
  // messages; the last refresh's error while it fails.
  std::atomic<int64_t> lease_renewed_at{0};
  // Grows when a renewal follows a lapse: a mover may have counted this
  // instance gone and moved meanwhile, so an operation that entered under an
  // earlier epoch routes by a step that may be two moves old, even though
  // the lease is valid again. Operations record it at entry (StepGuard).
  std::atomic<int64_t> lease_epoch{0};
  std::atomic<int64_t> lease_renewed_wall{0};  // microseconds since the epoch
  Mutex refresh_mutex;                         // serializes Migration::refresh
  Mutex lease_mutex;
  std::string refresh_error GUARDED_BY(lease_mutex);
  int64_t lease_valid_nanos() const;
  // Renews the lease from a refresh that started at started (lease clock).
  void renew_lease(int64_t started, WallTime started_wall);
  // Ok while an operation that entered under lease epoch `entered_epoch` may
  // go on routing by its step: the lease is held and has not lapsed since.
  // kUnavailable (retryable) otherwise: it cannot confirm the step. Always Ok
  // without a registered instance or under fence = "operator".
  Status check_lease(int64_t entered_epoch);

  std::map<std::string, std::unique_ptr<Collection>, std::less<>> collections;
  // Old's foreign keys between configured collections, read at open
  // (effective_relations in router/relation_copy.h); immutable after open.
  std::vector<Relation> relations;
  // A configured collection's schema by name, or nullptr.
  const CollectionSchema* schema_of(std::string_view name) const {
    auto it = collections.find(name);
    return it == collections.end() ? nullptr : &it->second->schema();
  }
  std::vector<std::unique_ptr<AtomicStepStats>> stats;  // one per plan step

  // Work the control store could not take at the time; retried by the
  // refresh thread and at close, so that nothing is forgotten while the
  // process lives.
  Mutex pending_mutex;
  std::vector<RepairEntry> pending_repairs GUARDED_BY(pending_mutex);
  std::map<std::pair<std::string, MismatchKind>, int64_t> pending_mismatches GUARDED_BY(pending_mutex);
  std::atomic<int64_t> mismatch_sequence{0};
  std::atomic<int64_t> last_ws_warning{0};  // microseconds; rate-limits write-secondary warnings
  std::atomic<int64_t> suppressed_ws_warnings{0};

  std::thread refresher;
  Mutex stop_mutex;
  std::condition_variable_any stop_cv;
  bool stopping GUARDED_BY(stop_mutex) = false;
  bool refresh_requested GUARDED_BY(stop_mutex) = false;
  // Wakes the refresh thread for a refresh now (an operation found that its
  // step moved: new refused it).
  void request_refresh();

  // True when no operation routed by a step other than index is in flight.
  bool drained_except(size_t index) const {
    for (size_t i = 0; i < stats.size(); ++i) {
      if (i != index && stats[i]->in_flight.load() != 0) return false;
    }
    return true;
  }

  Store& store(Side side) const { return side == Side::kOld ? *old_store : *new_store; }
  AtomicStepStats& step_stats(size_t index) { return *stats[index]; }

  // Queues a repair of key's copy in target durably, or in memory until the
  // control store answers. Returns whether it was queued durably.
  bool enqueue_repair(const std::string& collection, const Key& key, Side target, std::string reason);
  void count_mismatch(const std::string& collection, MismatchKind kind);
  // A shadow read that differed (a get's or a scan's): counted, and every
  // shadow_sample_every-th kept as a sample with both answers (abbreviated).
  void report_shadow_mismatch(const std::string& collection, const Key& key, MismatchKind kind,
                              std::string primary, std::string secondary);
  // Pushes pending repairs and mismatch counts to the control store.
  void flush_pending();
};

// The lease's clock, in nanoseconds: CLOCK_BOOTTIME, which is monotonic and,
// unlike CLOCK_MONOTONIC, keeps counting while the machine is suspended, so
// that a suspended or stalled host sees its lease lapse.
int64_t lease_clock_nanos();

// Enters the current step for one operation and leaves it when destroyed.
// The re-check after the increment closes the race with a step swap: either
// the refresher sees this operation in flight, or this operation sees the new
// step and re-enters (both sides use sequentially consistent atomics).
class StepGuard {
 public:
  explicit StepGuard(MigrationState& state) : state_(state), lease_epoch_(state.lease_epoch.load()) {
    for (;;) {
      const uint64_t routing = state_.routing.load();
      index_ = static_cast<size_t>(routing & 0xff);
      version_ = static_cast<int64_t>(routing >> 8);
      state_.stats[index_]->in_flight.fetch_add(1);
      if (state_.routing.load() == routing) return;
      state_.stats[index_]->in_flight.fetch_sub(1);
    }
  }
  ~StepGuard() { state_.stats[index_]->in_flight.fetch_sub(1); }
  StepGuard(const StepGuard&) = delete;
  StepGuard& operator=(const StepGuard&) = delete;
  size_t index() const { return index_; }
  int64_t lease_epoch() const { return lease_epoch_; }
  // What new is told this operation was routed by (tandem/store.h).
  FenceToken fence_token() const { return {version_, new_role_at(state_.config.plan.at(index_))}; }

 private:
  MigrationState& state_;
  int64_t lease_epoch_ = 0;  // read before the step: a renewal after a lapse in between is seen
  size_t index_ = 0;
  int64_t version_ = 0;
};

}  // namespace tandem
