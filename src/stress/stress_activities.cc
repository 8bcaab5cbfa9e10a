// What runs beside the clients: the walk, the backfill, repairs, the server restart (see stress_harness.h).
#include "stress/stress_harness.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "tandem/operator_tools.h"
#include "tandem/verify.h"

namespace tandem::stress {

// Walks the plan between dual-write (index 1) and write-new (index 4), the
// steps where both databases are written (old-read-only stops writing old,
// after which no move back is allowed), forward and back, as far as the
// preconditions let.
void Harness::walk() {
  std::mt19937_64 rng(o_.seed * 7 + 3);
  while (running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 150));
    auto current = OperatorTools(*m_).control().current_step();
    if (!current.ok()) continue;
    size_t at = current->step_index;
    size_t to = at;
    if (rng() % 2 == 0 && at < 4) {
      to = at + 1;
    } else if (at > 1) {
      to = 1 + rng() % (at - 1);
    } else {
      to = 2;
    }
    // While a worker process is stopped, its record locks stay held (session
    // advisory locks, docs/ARCHITECTURE.md "Leases"), so the drain and the
    // verify that read-new needs would wait on them: move back instead.
    // A silent partition holds them the same way until it heals.
    if (to == 3 && at == 2 && (paused_ || partitioned_)) to = 1;
    if (to == 3 && at == 2) {  // read-new needs a clean verify after a complete backfill
      (void)m_->drain_repair_queue(100000);
      auto report = run_verify(*m_, VerifyOptions{});
      ++counters_.verifies;
      if (!report.ok() || !report->clean()) ++counters_.unclean_verifies;
    }
    auto moved = m_->change_step(to, "stress walk", false);
    if (!moved.ok()) {
      ++counters_.refused;
      last_refusal_ = moved.status().message();
      continue;
    }
    (void)m_->refresh();
    (to > at ? counters_.forward : counters_.back)++;
    if (paused_) ++counters_.moves_while_paused;
    if (partitioned_) ++counters_.moves_while_partitioned;
  }
}

// The ranges of "users" (the stress collection) that `owner_prefix` holds unfinished.
static std::vector<int64_t> held_ranges(ControlStore& control, const std::string& owner_prefix) {
  std::vector<int64_t> held;
  auto ranges = control.backfill_ranges("users");
  if (!ranges.ok()) return held;
  for (const auto& r : *ranges) {
    if (!r.done && r.lease_owner.rfind(owner_prefix, 0) == 0) held.push_back(r.id);
  }
  return held;
}

// The backfill: separate `tandem backfill` processes killed at random
// moments, then resumed in this process until complete.
void Harness::backfill() {
  std::mt19937_64 rng(o_.seed * 11 + 5);
  bool complete = false;
  while (running() && !complete) {
    auto step = OperatorTools(*m_).control().current_step();
    if (!step.ok() || step->step_index < 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (counters_.kills < o_.max_kills && !o_.tandem.empty()) {
      // Each killed process stands for a host of its own: the next one (or
      // this process) takes its ranges over once it is gone.
      std::string host = fmt::format("host-{}", counters_.kills.load() % std::max(1, o_.backfill_hosts));
      pid_t pid = spawn({o_.tandem, "--config", dir_ + "/tandem.toml", "backfill", "--workers", "2",
                         "--worker-id", host, "--lease-seconds", "2", "--max-rows-per-second", "50"});
      int status = 0;
      bool exited = pid <= 0;
      if (o_.backfill_hosts > 1) {
        // As a host, it lives until it holds a range, however slowly it
        // starts (sanitizers, a busy machine), so that its death leaves a
        // range for another host to take over.
        std::string owner = fmt::format("{}:{}:", host, pid);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!exited && running() && std::chrono::steady_clock::now() < deadline &&
               held_ranges(OperatorTools(*m_).control(), owner).empty()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          exited = waitpid(pid, &status, WNOHANG) != 0;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 250));
      // Only a process still running is a kill (one that has exited is a
      // zombie until waited for, and kill() would succeed on it).
      if (!exited && waitpid(pid, &status, WNOHANG) == 0) {
        if (kill(pid, SIGKILL) == 0) ++counters_.kills;
        waitpid(pid, &status, 0);
        // Read once it is dead: what it held now stays held until taken over.
        auto held = held_ranges(OperatorTools(*m_).control(), fmt::format("{}:{}:", host, pid));
        orphaned_ranges_.insert(orphaned_ranges_.end(), held.begin(), held.end());
      }
      continue;
    }
    BackfillOptions bo;
    bo.workers = 2;
    bo.initial_batch = 50;
    bo.min_batch = 10;
    bo.max_batch = 200;
    bo.lease = std::chrono::milliseconds(2000);
    bo.stop = &stop_;
    auto summary = run_backfill(*m_, bo);
    if (summary.ok()) complete = summary->complete;
    if (!complete) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Harness::repair_loop() {
  while (running()) {
    auto n = m_->drain_repair_queue(1000);
    if (n.ok()) counters_.repaired += static_cast<int64_t>(*n);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Stops new's server for 1.5 s in the middle of the run, and starts it again.
void Harness::restart_server() {
  if (o_.restart && restart(o_.engine, 2.0 / 5, "new's server")) ++counters_.restarts;
}

void Harness::restart_control() {
  if (o_.control_restart && restart(o_.control, 3.0 / 5, "the control store's server")) {
    ++counters_.control_restarts;
  }
}

bool Harness::restart(const std::string& engine, double fraction, const std::string& what) {
  std::string name = engine == "postgres" ? "POSTGRES" : "MARIADB";
  const char* stop = std::getenv(fmt::format("TANDEM_TEST_{}_RESTART_STOP", name).c_str());
  const char* start = std::getenv(fmt::format("TANDEM_TEST_{}_RESTART_START", name).c_str());
  if (stop == nullptr || start == nullptr) {
    violation(
        fmt::format("restarting {} needs TANDEM_TEST_{}_RESTART_STOP and _START (scripts/test.sh sets them)",
                    what, name));
    return false;
  }
  auto at = Clock::now() + std::chrono::duration_cast<Clock::duration>((deadline_ - Clock::now()) * fraction);
  while (running() && Clock::now() < at) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!running()) return false;
  if (std::system(fmt::format("{} >/dev/null 2>&1", stop).c_str()) != 0) {
    violation(fmt::format("stopping {} failed", what));
    return false;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  if (std::system(start) != 0) {
    violation(fmt::format("starting {} again failed", what));
    return false;
  }
  return true;
}

// A worker process stopped for longer than its lease (a GC pause, a VM
// stall): the walk goes on once the lease has expired, and when the process
// goes on, whatever it held must fail closed (its lease lapsed).
void Harness::pause_workers() {
  if (o_.pauses <= 0 || worker_pids_.empty()) return;
  const auto length = config_.instance_timeout + std::chrono::milliseconds(2500);
  for (int i = 0; i < o_.pauses && running(); ++i) {
    // Spread over the run: pause i starts at (i + 1) / (pauses + 1) of what is left.
    auto at = Clock::now() + (deadline_ - Clock::now()) / (o_.pauses + 1 - i) - length / 2;
    while (running() && Clock::now() < at) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!running()) return;
    pid_t pid = worker_pids_[static_cast<size_t>(i) % worker_pids_.size()];
    if (kill(pid, SIGSTOP) != 0) {
      violation(fmt::format("cannot stop worker process {}", pid));
      return;
    }
    paused_ = true;
    std::this_thread::sleep_for(length);
    paused_ = false;
    if (kill(pid, SIGCONT) != 0) violation(fmt::format("cannot continue worker process {}", pid));
    ++counters_.pauses;
  }
}

// A worker process cut off the network for longer than its lease: its
// operations must fail closed once its lease lapses (dropped: its calls fail
// at once; silent: they hang), and what it sent before arrives late, after
// the walk has moved on: the fence and the lease must refuse it.
void Harness::partition_workers() {
  if (o_.partitions <= 0 || links_.empty()) return;
  const auto length = config_.instance_timeout + std::chrono::milliseconds(2500);
  for (int i = 0; i < o_.partitions && running(); ++i) {
    // Spread over the run, half a slot after the pauses' (pause_workers).
    auto slot = (deadline_ - Clock::now()) / (o_.partitions + 1 - i);
    auto at = Clock::now() + slot + slot / 2 - length / 2;
    at = std::min(at, deadline_ - length);
    while (running() && Clock::now() < at) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!running()) return;
    // The last worker first: pause_workers() starts with the first.
    auto& links = links_[links_.size() - 1 - static_cast<size_t>(i) % links_.size()];
    const bool silent = i % 2 == 1;
    for (auto& link : links) silent ? link->silence() : link->drop();
    partitioned_ = true;
    std::this_thread::sleep_for(length);
    partitioned_ = false;
    for (auto& link : links) link->heal();
    ++(silent ? counters_.partitions_silent : counters_.partitions_dropped);
  }
}

}  // namespace tandem::stress
