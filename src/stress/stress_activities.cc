// What runs beside the clients: the walk, the backfill, repairs, the server restart (see stress_harness.h).
#include "stress/stress_harness.h"

#include <signal.h>
#include <sys/wait.h>

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
    if (to == 3 && at == 2) {  // read-new needs a clean verify after a complete backfill
      (void)m_->drain_repair_queue(100000);
      auto report = run_verify(*m_, VerifyOptions{});
      ++counters_.verifies;
      if (!report.ok() || !report->clean()) ++counters_.unclean_verifies;
    }
    auto moved = m_->change_step(to, "stress walk", false);
    if (!moved.ok()) {
      ++counters_.refused;
      continue;
    }
    (void)m_->refresh();
    (to > at ? counters_.forward : counters_.back)++;
  }
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
      pid_t pid = spawn({o_.tandem, "--config", dir_ + "/tandem.toml", "backfill", "--workers", "2"});
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 250));
      if (pid > 0 && kill(pid, SIGKILL) == 0) ++counters_.kills;
      int status = 0;
      if (pid > 0) waitpid(pid, &status, 0);
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
  if (!o_.restart) return;
  std::string engine = o_.engine == "postgres" ? "POSTGRES" : "MARIADB";
  const char* stop = std::getenv(fmt::format("TANDEM_TEST_{}_RESTART_STOP", engine).c_str());
  const char* start = std::getenv(fmt::format("TANDEM_TEST_{}_RESTART_START", engine).c_str());
  if (stop == nullptr || start == nullptr) {
    violation(fmt::format(
        "--restart needs TANDEM_TEST_{}_RESTART_STOP and _START (scripts/test.sh sets them)", engine));
    return;
  }
  auto at = Clock::now() + (deadline_ - Clock::now()) * 2 / 5;
  while (running() && Clock::now() < at) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!running()) return;
  if (std::system(fmt::format("{} >/dev/null 2>&1", stop).c_str()) != 0) {
    violation("stopping new's server failed");
    return;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  if (std::system(start) != 0) violation("starting new's server again failed");
  ++counters_.restarts;
}

}  // namespace tandem::stress
