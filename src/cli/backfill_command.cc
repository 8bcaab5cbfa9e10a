// `tandem backfill`.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>

#include "cli/commands.h"
#include "cli/common.h"
#include "ops/operator_commands.h"
#include "serve/backfill_metrics.h"
#include "tandem/backfill.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"

namespace tandem::cli {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int /*signal*/) { g_stop.store(true); }

std::string eta(const BackfillProgress& p) {
  int64_t left = p.total_estimate - p.counts.scanned;
  if (p.rows_per_second <= 0 || left <= 0) return "-";
  auto s = static_cast<int64_t>(static_cast<double>(left) / p.rows_per_second);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

void print_progress(const BackfillProgress& p, bool terminal) {
  double fraction =
      p.total_estimate > 0
          ? std::min(1.0, static_cast<double>(p.counts.scanned) / static_cast<double>(p.total_estimate))
          : 1.0;
  if (terminal) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(fraction * kWidth);
    fmt::print(stderr, "\r{} [{}{}] {:5.1f}% {}/{} rows  {:.0f} rows/s  ETA {}  batch {}{}   ", p.collection,
               std::string(static_cast<size_t>(filled), '#'),
               std::string(static_cast<size_t>(kWidth - filled), '.'), fraction * 100, p.counts.scanned,
               p.total_estimate, p.rows_per_second, eta(p), p.batch_size, p.paused ? "  PAUSED" : "");
  } else {
    spdlog::info(
        "backfill progress: collection={} scanned={} total={} percent={:.1f} rows_per_s={:.0f} eta={} "
        "copied={} present={} locked={} tombstoned={} quarantined={} ranges_done={}/{} paused={}",
        p.collection, p.counts.scanned, p.total_estimate, fraction * 100, p.rows_per_second, eta(p),
        p.counts.copied, p.counts.present, p.counts.locked, p.counts.tombstoned, p.counts.quarantined,
        p.ranges_done, p.ranges, p.paused);
  }
}

}  // namespace

int run_backfill_command(const GlobalOptions& global, const BackfillCommandOptions& o) {
  auto m = open_operator(global);
  if (!m.ok()) return report(m.status());
  std::vector<std::string> names = o.collections;
  if (names.empty()) {
    for (const CollectionSchema& c : (*m)->config().collections) names.push_back(c.name);
  }
  if (o.pause || o.resume) {
    auto paused = ops::pause_backfill(**m, o.collections, o.pause);
    if (!paused.ok()) return report(paused.status());
    for (const std::string& name : *paused) {
      fmt::print("backfill of '{}' {}\n", name,
                 o.pause ? "paused (running workers stop after their current batch)" : "resumed");
    }
    return kExitOk;
  }
  if (o.restart) {
    for (const std::string& name : names) {
      Status s = OperatorTools(**m).control().reset_backfill(name);
      if (!s.ok()) return report(s);
    }
  }
  BackfillOptions options;
  options.collections = names;
  options.workers = o.workers;
  options.worker_host = o.worker_id;
  options.lease = std::chrono::seconds(o.lease_seconds);
  options.initial_batch = std::clamp(o.batch, o.min_batch, o.max_batch);
  options.min_batch = o.min_batch;
  options.max_batch = o.max_batch;
  options.retry_for = std::chrono::seconds(o.retry_for_seconds);
  options.max_batch_bytes = static_cast<size_t>(o.max_batch_mb) << 20;
  options.target_batch_latency = std::chrono::milliseconds(o.target_latency_ms);
  options.max_rows_per_second = o.max_rows_per_second;
  options.old_is_frozen = o.old_is_frozen;
  options.stop = &g_stop;
  const bool terminal = isatty(STDERR_FILENO) != 0;
  options.progress_interval = terminal ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
  std::unique_ptr<serve::BackfillMetricsServer> metrics;
  if (!o.metrics_listen.empty()) {
    auto started = serve::BackfillMetricsServer::start(**m, o.metrics_listen, options);
    if (!started.ok()) return report(started.status());
    metrics = std::move(*started);
    options.progress_interval =
        std::min<std::chrono::milliseconds>(options.progress_interval, std::chrono::seconds(1));
    fmt::print(stderr, "backfill metrics at http://{}:{}/metrics\n",
               o.metrics_listen.substr(0, o.metrics_listen.rfind(':')), metrics->port());
  }
  options.on_progress = [terminal, &metrics](const BackfillProgress& p) {
    if (metrics) metrics->update(p);
    print_progress(p, terminal);
  };
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  auto summary = run_backfill(**m, options);
  if (terminal) fmt::print(stderr, "\n");
  if (!summary.ok()) return report(summary.status());
  for (const auto& c : summary->collections) {
    const BackfillCounts& r = c.this_run;
    const BackfillCounts& all = c.state.counts;
    fmt::print("backfill of '{}': {}\n", c.collection,
               c.state.complete
                   ? "complete"
                   : (summary->stopped ? "stopped (resume with `tandem backfill`)" : "incomplete"));
    fmt::print(
        "  this run: {} rows read in {:.2f}s ({:.0f} rows/s): {} copied, {} already present, {} locked, "
        "{} tombstoned, {} quarantined\n",
        r.scanned, c.seconds, c.rows_per_second, r.copied, r.present, r.locked, r.tombstoned, r.quarantined);
    if (c.takeovers > 0) {
      fmt::print("  took over {} range(s) from workers whose lease lapsed or that are gone\n", c.takeovers);
    }
    fmt::print(
        "  all runs: {} rows read of {} in old at the start: {} copied, {} already present, {} locked, "
        "{} tombstoned, {} quarantined; ranges done {}/{}\n",
        all.scanned, c.state.total_estimate, all.copied, all.present, all.locked, all.tombstoned,
        all.quarantined, c.state.ranges_done, c.state.ranges);
    if (all.quarantined > 0) fmt::print("  see the quarantined records: tandem quarantine list\n");
  }
  if (summary->stopped) return kExitError;
  return kExitOk;
}

}  // namespace tandem::cli
