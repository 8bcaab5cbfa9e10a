// Backfill: copies every record of old into new while the service keeps
// writing through the router. The records it keeps in the control store
// (counts, ranges, state) are in backfill_ledger.h.
//
// The key space of each collection is split once into ranges, kept in the
// control store. Workers (threads here; processes sharing a control store
// work the same way) claim a range by lease and copy it in key order, batch by
// batch: read a batch from old (rows that do not decode go to the quarantine),
// insert into new only what is absent, trying each record's lock first (a
// record that is locked, present or tombstoned is skipped and counted: the
// live path has it), then checkpoint the last key read. Killed at any moment,
// a resumed backfill re-reads at most the one batch per worker that had not
// been checkpointed, and re-inserting it changes nothing (insert-if-absent).
//
// It never writes to old: an account that can only read old is enough.
// Memory is bounded by max batch size x workers.
// Thread safety: run() may be called from one thread per process at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "tandem/backfill_ledger.h"
#include "tandem/move_problem.h"
#include "tandem/status.h"

namespace tandem {

class Migration;

struct BackfillProgress {
  std::string collection;
  int64_t total_estimate = 0;  // records in old when the backfill was planned
  BackfillCounts counts;       // over every run of this collection's backfill
  BackfillCounts this_run;
  double elapsed_seconds = 0;  // this run
  double rows_per_second = 0;  // this run
  size_t ranges = 0;
  size_t ranges_done = 0;
  size_t batch_size = 0;  // the current adaptive batch size (one worker's)
  bool paused = false;
  // This run's workers' time spent waiting for max_rows_per_second, summed.
  double rate_limit_wait_seconds = 0;
  bool rate_limited = false;  // a worker waits for max_rows_per_second now
};

struct BackfillOptions {
  std::vector<std::string> collections;  // empty: every collection of the config
  size_t workers = 4;
  size_t ranges_per_worker = 4;  // more ranges than workers balance uneven ranges
  size_t initial_batch = 1000;
  size_t min_batch = 100;
  size_t max_batch = 10000;
  // The batch size grows while a batch's insert takes less than half this,
  // and shrinks when it takes longer.
  std::chrono::milliseconds target_batch_latency{250};
  // A batch holds at most about this many bytes of records, whatever its
  // row count (capped by this over the last batch's average row size), so
  // that documents of megabytes copy in bounded memory.
  size_t max_batch_bytes = 32 << 20;
  double max_rows_per_second = 0;  // 0: no limit
  // Allows a backfill at a step where new does not receive every write, for
  // data the operator knows is immutable (nothing writes old any more).
  bool old_is_frozen = false;
  // Retryable failures (a database down, busy, a lock wait timed out) are
  // retried with backoff for at most this long, then the backfill stops with
  // the last error, naming the collection and range (run it again: it
  // resumes from its checkpoints). Errors that retrying cannot fix stop it
  // at once, or, when one record is at fault, quarantine that record.
  std::chrono::milliseconds retry_for{300000};
  // A range's lease: a worker that has not checkpointed for this long loses
  // its range to any other worker, on any host (its next checkpoint is then
  // refused: it leaves that range to its new owner and claims another). A
  // paused worker renews its lease while it waits; one retrying a failing
  // read or insert does not (the database it needs is down for every worker).
  std::chrono::milliseconds lease{30000};
  // The first part of this run's worker ids, "ID:pid:N" (default: this
  // host's name). A worker of this host whose process is gone loses its range
  // at once; one named otherwise only when its lease expires. Tests name
  // "hosts" this way to run them as processes on one machine. No ':'.
  std::string worker_host;
  std::chrono::milliseconds progress_interval{1000};
  std::function<void(const BackfillProgress&)> on_progress;  // from a progress thread
  const std::atomic<bool>* stop = nullptr;  // set to stop after the current batches, checkpointed
};

struct BackfillSummary {
  struct PerCollection {
    std::string collection;
    BackfillCounts this_run;
    BackfillState state;  // over every run
    double seconds = 0;
    double rows_per_second = 0;
    int64_t takeovers = 0;  // ranges this run took over from an owner that had not released them
  };
  std::vector<PerCollection> collections;
  bool complete = false;  // every collection's every range done
  bool stopped = false;   // stopped on request before completion
};

// Checks the step (new must receive every write at the current step and at
// the step every live instance has applied, unless old_is_frozen) and copies.
// kFailedPrecondition names what is missing; other errors name the range.
Result<BackfillSummary> run_backfill(Migration& migration, const BackfillOptions& options);

// The preconditions alone (the rule is check_backfill_start in the router's
// step rules): empty if the backfill may run.
Result<std::vector<MoveProblem>> check_backfill_allowed(Migration& migration, bool old_is_frozen);

}  // namespace tandem
