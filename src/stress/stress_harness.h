// Harness: one tandem-stress run. Client threads write and read through the
// router on a small key space with hot keys while the plan is walked forward
// and back at random, the backfill runs in separate processes that are
// SIGKILLed and resumed, and faults are injected into both databases. At the
// end every invariant is checked against the history of acknowledged
// operations. run() returns the exit code: 0 no violation; 1 violations (the
// first ones printed with the history of their key); 2 the harness itself
// could not run.
//
// Split by what it does: stress_harness.cc (setup, the threads and worker
// processes), stress_activities.cc (the walk, the backfill, repairs, the
// server restart), stress_checks.cc (the checks at the end),
// stress_report.cc (the report).
//
// Thread safety: run() from one thread; the members it starts share the
// atomics below and the Migration (itself thread-safe).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "stress/fault_store.h"
#include "stress/history.h"
#include "stress/stress_databases.h"
#include "stress/stress_options.h"
#include "stress/stress_workers.h"
#include "stress/tcp_proxy.h"
#include "tandem/backfill.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"

namespace tandem::stress {

class Harness {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Harness(Options o) : o_(std::move(o)), rng_(o_.seed) {}

  int run();

 private:
  // stress_harness.cc
  Status setup();
  // The configuration the CLI and the worker processes read.
  Status write_config(const std::string& path, const std::string& control_url,
                      const std::string& new_url) const;
  pid_t spawn_worker(int index);
  // Waits for a worker and adds its history and counts to this run's.
  void collect_worker(pid_t pid, int index);
  bool running() const;
  void client(int index);
  pid_t spawn(const std::vector<std::string>& args);
  void violation(std::string what);

  // stress_activities.cc
  // Walks the plan between dual-write (index 1) and write-new (index 4), the
  // steps where both databases are written, forward and back, as far as the
  // preconditions let.
  void walk();
  // The backfill: separate `tandem backfill` processes killed at random
  // moments, then resumed in this process until complete.
  void backfill();
  void repair_loop();
  // Stops new's server for 1.5 s in the middle of the run, and starts it again.
  void restart_server();
  // The same for the control store's server (--control-restart), at 3/5 of the run.
  void restart_control();
  // Stops (SIGSTOP) a worker process for longer than its lease while the
  // walk goes on, then lets it go on (SIGCONT); --pauses times.
  void pause_workers();
  // Cuts a worker process off the control store and new's server (its
  // proxies) for longer than its lease while the walk goes on, then heals
  // the partition; --partitions times, dropped and silent in turn.
  void partition_workers();
  // Runs a server's restart command pair (TANDEM_TEST_<ENGINE>_RESTART_STOP,
  // _START) at `fraction` of the run; false (a violation) if it cannot.
  bool restart(const std::string& engine, double fraction, const std::string& what);

  // stress_checks.cc: faults off, drain the repair queue, complete the
  // backfill, verify, then check both databases and every read against the
  // history.
  void finish();

  // stress_report.cc: prints the run's figures and violations; the exit code.
  int report(double seconds);

  Options o_;
  SharedCounters* shared_ = nullptr;
  std::unique_ptr<History> history_;
  int64_t worker_faults_[kFaultKinds] = {};
  std::mt19937_64 rng_;
  std::string dir_;
  Config config_;
  std::unique_ptr<ServerDatabase> server_db_;
  std::unique_ptr<ServerDatabase> control_db_;
  std::vector<pid_t> worker_pids_;  // set before the threads start
  std::atomic<bool> paused_{false};
  std::atomic<bool> partitioned_{false};
  // Per worker process (index - 1), its proxies to the servers (--partitions).
  std::vector<std::vector<std::unique_ptr<TcpProxy>>> links_;
  std::unique_ptr<Store> old_, new_;
  std::unique_ptr<FaultStore> old_faults_, new_faults_;
  std::unique_ptr<ControlStore> control_;
  std::unique_ptr<Migration> m_;
  Collection* users_ = nullptr;
  Clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  Counters counters_;
  BackfillSummary backfill_;
  // Ranges a killed backfill process held unfinished, read once it was dead:
  // it can never release them, so each one finished since was taken over
  // (by another "host" or this process); finish() counts them.
  std::vector<int64_t> orphaned_ranges_;
  std::string last_refusal_;  // the walk's last refused move, for the report (written by the walk only)
  int64_t violations_ = 0;
  int64_t own_failed_closed_ = 0;  // this process's, before the workers' are added
  std::vector<std::string> listed_;
};

}  // namespace tandem::stress
