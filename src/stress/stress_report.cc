// The report of a stress run (see stress_harness.h).
#include "stress/stress_harness.h"

#include <fmt/format.h>

namespace tandem::stress {

int Harness::report(double seconds) {
  fmt::print(
      "tandem-stress: engine {} (old sqlite), control store {}, seed {}, {} clients, {} keys ({} hot), "
      "{:.1f} "
      "s\n",
      o_.engine, o_.control, o_.seed, o_.clients, o_.keys, o_.hot_keys, seconds);
  const int64_t all_ops = counters_.ops + counters_.worker_ops;
  fmt::print(
      "operations: {} in all, {:.0f} ops/s (this process: {} reads, {} writes, {} returned an error, {} of "
      "them refused by new's fence, {} not routed: its lease lapsed)\n",
      all_ops, static_cast<double>(all_ops) / seconds, counters_.reads.load(), counters_.writes.load(),
      counters_.errors.load(), counters_.fenced.load(), own_failed_closed_);
  fmt::print("collisions: {} writes in flight together on one key\n", history_->collisions());
  fmt::print(
      "step moves: {} forward, {} back, {} refused by a precondition; verifies before read-new: {} ({} not "
      "clean)\n",
      counters_.forward.load(), counters_.back.load(), counters_.refused.load(), counters_.verifies.load(),
      counters_.unclean_verifies.load());
  if (!last_refusal_.empty())
    fmt::print("last refused move: {}\n", last_refusal_);  // its problems follow, one a line
  fmt::print("backfill processes killed: {}; repairs drained during the run: {}\n", counters_.kills.load(),
             counters_.repaired.load());
  fmt::print("faults injected:");
  int64_t faults[kFaultKinds];
  for (int k = 0; k < kFaultKinds; ++k) {
    auto kind = static_cast<FaultKind>(k);
    faults[k] = old_faults_->injected(kind) + new_faults_->injected(kind) + worker_faults_[k];
    fmt::print(" {} {}{}", fault_kind_name(kind), faults[k], k + 1 < kFaultKinds ? "," : "\n");
  }
  if (o_.processes > 1 || o_.restart) {
    fmt::print("worker processes: {} ({} operations of the total); server restarts: {}\n", o_.processes - 1,
               counters_.worker_ops.load(), counters_.restarts.load());
  }
  if (o_.pauses > 0 || o_.control_restart || o_.backfill_hosts > 1) {
    fmt::print(
        "worker processes paused past their lease: {} ({} step moves made meanwhile); control store "
        "restarts: "
        "{}; backfill ranges taken over: {} (killed processes acting as {} hosts)\n",
        counters_.pauses.load(), counters_.moves_while_paused.load(), counters_.control_restarts.load(),
        counters_.takeovers.load(), o_.backfill_hosts);
  }
  if (o_.partitions > 0) {
    fmt::print(
        "worker processes cut off the control store and new's server past their lease: {} (connections "
        "reset) + {} (connections hung, delivered late) ({} step moves made meanwhile)\n",
        counters_.partitions_dropped.load(), counters_.partitions_silent.load(),
        counters_.moves_while_partitioned.load());
  }
  if (o_.pauses > 0 || o_.partitions > 0 || o_.control_restart) {
    fmt::print("operations refused because their instance could not confirm its step (failed closed): {}\n",
               counters_.failed_closed.load());
  }
  if (o_.require_coverage) {  // the run must have exercised what it claims to
    // Stalls are reported, not required: at one routed write in 500, a slow
    // (sanitized) short run may have none.
    for (int k = 0; k < kDrawnKinds; ++k) {
      if (faults[k] == 0)
        violation(fmt::format("coverage: no {} was injected", fault_kind_name(static_cast<FaultKind>(k))));
    }
    if (counters_.kills == 0) violation("coverage: no backfill process was killed");
    if (counters_.back == 0) violation("coverage: the plan never moved back");
    if (o_.restart && counters_.restarts == 0) violation("coverage: the server was not restarted");
    if (o_.processes > 1 && counters_.worker_ops == 0)
      violation("coverage: the worker processes made no operation");
    if (o_.pauses > 0 && counters_.pauses == 0) violation("coverage: no worker process was paused");
    if (o_.pauses > 0 && counters_.moves_while_paused == 0)
      violation("coverage: no step move was made while a worker process was paused");
    if (o_.partitions > 0 &&
        (counters_.partitions_dropped == 0 || (o_.partitions > 1 && counters_.partitions_silent == 0)))
      violation("coverage: a worker process was not cut off (dropped, then silent)");
    if (o_.partitions > 0 && counters_.moves_while_partitioned == 0)
      violation("coverage: no step move was made while a worker process was cut off");
    if (o_.partitions > 0 && counters_.failed_closed == 0)
      violation("coverage: no operation failed closed (the partitioned instance never stopped routing)");
    if (o_.control_restart && counters_.control_restarts == 0)
      violation("coverage: the control store's server was not restarted");
    if (o_.backfill_hosts > 1 && counters_.takeovers == 0)
      violation("coverage: no backfill range was taken over");
  }
  fmt::print("violations: {}\n", violations_);
  for (const std::string& v : listed_) fmt::print("  VIOLATION {}\n", v);
  if (violations_ > 0) {
    fmt::print("re-run: tandem-stress --engine {} --control {} --seed {}; the run's files are kept in {}\n",
               o_.engine, o_.control, o_.seed, dir_);
  }
  return violations_ == 0 ? 0 : 1;
}

}  // namespace tandem::stress
