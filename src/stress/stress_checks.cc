// The checks at the end of a stress run (see stress_harness.h).
#include "stress/stress_harness.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "tandem/operator_tools.h"
#include "tandem/verify.h"

namespace tandem::stress {

// Faults off: drain the repair queue, complete the backfill, verify, then
// check both databases and every read against the history.
void Harness::finish() {
  old_faults_->enable(false);
  new_faults_->enable(false);
  (void)m_->refresh();
  for (int i = 0; i < 100; ++i) {
    auto n = m_->drain_repair_queue(100000);
    auto left = OperatorTools(*m_).control().repair_counts();
    if (n.ok() && left.ok() && (*left)[Side::kOld] == 0 && (*left)[Side::kNew] == 0) break;
  }
  BackfillOptions bo;
  bo.workers = 2;
  bo.lease = std::chrono::milliseconds(2000);
  // Retried for up to a minute, not a number of times: the control store's
  // server may still be restarting (found by CI: ten attempts failed within
  // a second while it was down), and a killed process's range frees only
  // once its lease lapses.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto summary = run_backfill(*m_, bo);
    if (summary.ok()) {
      backfill_ = *summary;
      if (summary->complete) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (!backfill_.complete) violation("the backfill did not complete after the run");
  auto ranges = OperatorTools(*m_).control().backfill_ranges("users");
  if (ranges.ok()) {
    for (const auto& r : *ranges) {
      if (r.done) counters_.takeovers += std::count(orphaned_ranges_.begin(), orphaned_ranges_.end(), r.id);
    }
  }
  for (const auto& c : backfill_.collections) {
    const BackfillCounts& n = c.state.counts;
    if (n.scanned != n.copied + n.present + n.locked + n.tombstoned + n.quarantined) {
      violation(
          fmt::format("backfill counts do not balance: scanned {} != copied {} + present {} + locked {} + "
                      "tombstoned {} + quarantined {}",
                      n.scanned, n.copied, n.present, n.locked, n.tombstoned, n.quarantined));
    }
  }
  auto report = run_verify(*m_, VerifyOptions{});
  if (!report.ok()) {
    violation("the final verify failed: " + report.status().to_string());
  } else if (!report->clean()) {
    // Once the repair queue is drained the write secondary must have
    // converged to the write primary: every difference is a violation.
    const auto& c = report->collections[0];
    for (const Difference& d : c.differences) {
      if (listed_.size() >= 3) break;
      int64_t key = d.key[0].as<int64_t>();
      violation(
          fmt::format("after the repair queue was drained, key {} is {}: write primary {}, write "
                      "secondary {}. History: {}",
                      key, difference_kind_name(d.kind), d.source, d.copy,
                      history_->describe(static_cast<size_t>(key), 0)));
    }
    violation(
        fmt::format("the final verify found differences: {} missing, {} extra, {} different, {} resurrected",
                    c.missing, c.extra, c.different, c.resurrected));
  }
  // Both databases are written at every step the walk visits: each must hold
  // a state the history allows, and exactly the record of that state.
  for (Store* store : {old_.get(), new_.get()}) {
    for (size_t key = 0; key < o_.keys; ++key) {
      auto got = store->get("users", Key{Value(static_cast<int64_t>(key))});
      if (!got.ok()) {
        violation(fmt::format("{} key {}: {}", store->name(), key, got.status().to_string()));
        continue;
      }
      std::optional<Record> rec;
      if (got->present()) rec = got->record;
      std::string state = state_of(rec);
      if (!history_->final_allowed(key, state)) {
        violation(
            fmt::format("{} database, key {}: ends as {}, which no order of the acknowledged writes "
                        "allows{}. History: {}",
                        store->name(), key, state, state == "absent" ? "" : " (lost write or zombie)",
                        history_->describe(key, 0)));
      } else if (rec && *rec != record_for(key, state)) {
        violation(fmt::format("{} database, key {}: record {} is not the one written as {}", store->name(),
                              key, rec->to_display(), state));
      }
    }
  }
  auto reads = history_->check_reads(5);
  for (auto& r : reads) violation(r.empty() ? "a read saw a state no order allows" : r);
}

}  // namespace tandem::stress
