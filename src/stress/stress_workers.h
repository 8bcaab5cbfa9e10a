// What every client process of a stress run does: the shared counters (a
// file mapping every process of the run sees), the users collection and the
// records that stand for a history state, one client's random operations, and
// a worker process (clients of its own Migration on the harness's databases,
// its history handed back in a file).
//
// Thread safety: run_client from many threads at once (History and the
// counters are atomic); the rest from one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "stress/fault_store.h"
#include "stress/history.h"
#include "stress/stress_options.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"

namespace tandem::stress {

// Counters every process of a run shares through a file mapping: the logical
// clock of the history and the write ids.
struct SharedCounters {
  std::atomic<uint64_t> clock{0};
  std::atomic<int64_t> next_id{0};
};

// Maps (create: makes) the counters file at path; nullptr if it cannot.
SharedCounters* map_counters(const std::string& path, bool create);

CollectionSchema users_schema();
// The record a state stands for: "init", or "w<id>" / "p<id>".
Record record_for(size_t key, const std::string& state);
// The state a record stands for ("absent" for none).
std::string state_of(const std::optional<Record>& r);

// One process's counts of what happened during the run.
struct Counters {
  std::atomic<int64_t> ops{0}, reads{0}, writes{0}, errors{0};
  std::atomic<int64_t> fenced{0};  // writes new refused: routed by a step older than its role change
  std::atomic<int64_t> forward{0}, back{0}, refused{0}, kills{0}, verifies{0}, unclean_verifies{0};
  std::atomic<int64_t> repaired{0}, restarts{0}, worker_ops{0};
  // Pauses of a worker process longer than its lease, moves made while one
  // was paused, restarts of the control store's server, backfill ranges
  // taken over from a killed process.
  std::atomic<int64_t> pauses{0}, moves_while_paused{0}, control_restarts{0}, takeovers{0};
  // Partitions of a worker process (dropped, silent), moves made during one,
  // and operations refused because the instance could not confirm its step
  // (its lease lapsed: it failed closed).
  std::atomic<int64_t> partitions_dropped{0}, partitions_silent{0}, moves_while_partitioned{0};
  std::atomic<int64_t> failed_closed{0};
};

// One client: a random mix of reads, puts, patches and deletes on the key
// space (one op in five on a hot key), each recorded with its logical times,
// while running() says so.
void run_client(const Options& o, uint64_t seed, Migration& m, Collection& users, History& history,
                SharedCounters& shared, Counters& counters, const std::function<bool()>& running);

// Both databases as tandem opens them, each behind a FaultStore, and the migration.
struct Opened {
  std::unique_ptr<Store> old_store, new_store;
  std::unique_ptr<FaultStore> old_faults, new_faults;
  std::unique_ptr<ControlStore> control;
  std::unique_ptr<Migration> m;
  Collection* users = nullptr;
};

Result<Opened> open_with_faults(const Config& config, const Options& o, uint64_t seed,
                                const std::string& label);

// A worker process: clients of its own Migration instance on the harness's
// databases and control store, until the harness says stop; then it hands
// its history and fault counts over in a file. Returns the exit code.
int run_worker(const Options& o);

}  // namespace tandem::stress
