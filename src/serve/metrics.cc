#include "serve/metrics.h"

#include <fmt/format.h>

#include <chrono>

#include "ops/operator_commands.h"
#include "tandem/operator_tools.h"

namespace tandem::serve {

namespace {

constexpr std::array<const char*, static_cast<size_t>(Operation::kCount)> kOperationNames = {
    "get", "batch_get", "put", "patch", "delete", "scan"};
constexpr std::array<const char*, static_cast<size_t>(Outcome::kCount)> kOutcomeNames = {
    "ok", "not_found", "bad_request", "unavailable", "error"};

// A label value, escaped as the exposition format says (\\, \", \n).
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

RequestMetrics::RequestMetrics(std::vector<std::string> collections)
    : collections_(std::move(collections)),
      series_(new Series[collections_.size() * static_cast<size_t>(Operation::kCount)]) {}

void RequestMetrics::observe(size_t collection, Operation op, Outcome outcome, double seconds) {
  Series& s = series_[collection * static_cast<size_t>(Operation::kCount) + static_cast<size_t>(op)];
  s.outcomes[static_cast<size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  if (b < kBuckets.size()) s.buckets[b].fetch_add(1, std::memory_order_relaxed);
  s.count.fetch_add(1, std::memory_order_relaxed);
  s.sum_nanos.fetch_add(static_cast<int64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void RequestMetrics::write(std::string& out) const {
  header(out, "tandem_gateway_requests_total", "counter", "Requests to the data gateway by outcome.");
  for (size_t c = 0; c < collections_.size(); ++c) {
    for (size_t o = 0; o < kOperationNames.size(); ++o) {
      const Series& s = series_[c * kOperationNames.size() + o];
      for (size_t r = 0; r < kOutcomeNames.size(); ++r) {
        out += fmt::format(
            "tandem_gateway_requests_total{{collection=\"{}\",operation=\"{}\",outcome=\"{}\"}} {}\n",
            label(collections_[c]), kOperationNames[o], kOutcomeNames[r],
            s.outcomes[r].load(std::memory_order_relaxed));
      }
    }
  }
  header(out, "tandem_gateway_request_duration_seconds", "histogram",
         "Time from a request's routing to its response, in seconds.");
  for (size_t c = 0; c < collections_.size(); ++c) {
    for (size_t o = 0; o < kOperationNames.size(); ++o) {
      const Series& s = series_[c * kOperationNames.size() + o];
      const std::string labels =
          fmt::format("collection=\"{}\",operation=\"{}\"", label(collections_[c]), kOperationNames[o]);
      const int64_t count = s.count.load(std::memory_order_relaxed);
      int64_t cumulative = 0;
      for (size_t b = 0; b < kBuckets.size(); ++b) {
        cumulative += s.buckets[b].load(std::memory_order_relaxed);
        out += fmt::format("tandem_gateway_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels,
                           kBuckets[b], cumulative);
      }
      out +=
          fmt::format("tandem_gateway_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels, count);
      out += fmt::format("tandem_gateway_request_duration_seconds_sum{{{}}} {}\n", labels,
                         static_cast<double>(s.sum_nanos.load(std::memory_order_relaxed)) / 1e9);
      out += fmt::format("tandem_gateway_request_duration_seconds_count{{{}}} {}\n", labels, count);
    }
  }
}

Status write_migration_metrics(Migration& migration, std::string& out_final) {
  const Config& config = migration.config();
  ControlStore& control = OperatorTools(migration).control();
  std::string out;
  header(out, "tandem_router_operations_total", "counter",
         "Calls this instance routed, by the step they were routed by and kind.");
  std::vector<StepStats> stats = migration.stats();
  for (size_t i = 0; i < stats.size(); ++i) {
    const StepStats& s = stats[i];
    const std::pair<const char*, int64_t> kinds[] = {{"read", s.reads},
                                                     {"write", s.writes},
                                                     {"error", s.errors},
                                                     {"fallback_read", s.fallback_reads},
                                                     {"shadow_read", s.shadow_reads},
                                                     {"shadow_mismatch", s.shadow_mismatches},
                                                     {"write_secondary_failure", s.write_secondary_failures},
                                                     {"transfer", s.transfers}};
    for (const auto& [kind, n] : kinds)
      out += fmt::format("tandem_router_operations_total{{step=\"{}\",kind=\"{}\"}} {}\n", i + 1, kind, n);
  }
  TANDEM_ASSIGN_OR_RETURN(StepState current, control.current_step());
  TANDEM_ASSIGN_OR_RETURN(WallTime now, control.clock_now());
  header(out, "tandem_step", "gauge", "The migration's current step (1-based).");
  out += fmt::format("tandem_step {}\n", current.step_index + 1);
  header(out, "tandem_step_version", "gauge", "The version of the current step (one more per move).");
  out += fmt::format("tandem_step_version {}\n", current.version);
  TANDEM_ASSIGN_OR_RETURN(std::vector<InstanceHeartbeat> instances, control.instances());
  int64_t live = 0;
  std::string applied;
  for (const InstanceHeartbeat& h : instances) {
    if (!instance_is_live(h, now, config.instance_timeout)) continue;
    ++live;
    applied += fmt::format("tandem_instance_applied_version{{instance=\"{}\"}} {}\n", label(h.instance_id),
                           h.applied_version);
  }
  header(out, "tandem_instances_live", "gauge", "Instances whose lease is current.");
  out += fmt::format("tandem_instances_live {}\n", live);
  header(out, "tandem_instance_applied_version", "gauge", "The step version each live instance routes by.");
  out += applied;
  TANDEM_ASSIGN_OR_RETURN(auto repairs, control.repair_counts());
  header(out, "tandem_repair_queue_depth", "gauge", "Keys waiting for repair, by the database to repair.");
  out += fmt::format("tandem_repair_queue_depth{{database=\"old\"}} {}\n", repairs[Side::kOld]);
  out += fmt::format("tandem_repair_queue_depth{{database=\"new\"}} {}\n", repairs[Side::kNew]);
  TANDEM_ASSIGN_OR_RETURN(int64_t quarantine, control.quarantine_size());
  header(out, "tandem_quarantine_records", "gauge", "Records the backfill could not copy exactly.");
  out += fmt::format("tandem_quarantine_records {}\n", quarantine);
  TANDEM_ASSIGN_OR_RETURN(auto mismatches, control.shadow_counters());
  header(out, "tandem_shadow_mismatches_total", "counter",
         "Shadow reads that differed, by kind (all instances).");
  for (const auto& [k, n] : mismatches)
    out += fmt::format("tandem_shadow_mismatches_total{{collection=\"{}\",kind=\"{}\"}} {}\n", label(k.first),
                       mismatch_kind_name(k.second), n);
  std::string rows, estimate, rate, eta, complete, paused, workers;
  for (const CollectionSchema& c : config.collections) {
    TANDEM_ASSIGN_OR_RETURN(BackfillState bf, control.backfill_state(c.name));
    TANDEM_ASSIGN_OR_RETURN(std::vector<BackfillRange> held, ops::held_ranges(control, c.name, now));
    const std::string l = label(c.name);
    const std::pair<const char*, int64_t> outcomes[] = {
        {"scanned", bf.counts.scanned},       {"copied", bf.counts.copied},
        {"present", bf.counts.present},       {"locked", bf.counts.locked},
        {"tombstoned", bf.counts.tombstoned}, {"quarantined", bf.counts.quarantined}};
    for (const auto& [o, n] : outcomes)
      rows += fmt::format("tandem_backfill_rows_total{{collection=\"{}\",outcome=\"{}\"}} {}\n", l, o, n);
    double r = 0;
    for (const BackfillRange& range : held) r += ops::worker_rate(range, now).value_or(0);
    estimate += fmt::format("tandem_backfill_rows_estimate{{collection=\"{}\"}} {}\n", l, bf.total_estimate);
    rate += fmt::format("tandem_backfill_rows_per_second{{collection=\"{}\"}} {}\n", l, r);
    if (r > 0 && bf.total_estimate > bf.counts.scanned)
      eta += fmt::format("tandem_backfill_eta_seconds{{collection=\"{}\"}} {}\n", l,
                         static_cast<double>(bf.total_estimate - bf.counts.scanned) / r);
    complete += fmt::format("tandem_backfill_complete{{collection=\"{}\"}} {}\n", l, bf.complete ? 1 : 0);
    paused += fmt::format("tandem_backfill_paused{{collection=\"{}\"}} {}\n", l, bf.paused ? 1 : 0);
    workers += fmt::format("tandem_backfill_workers{{collection=\"{}\"}} {}\n", l, held.size());
  }
  header(out, "tandem_backfill_rows_total", "counter", "Rows the backfill read, and what it did with them.");
  out += rows;
  header(out, "tandem_backfill_rows_estimate", "gauge",
         "Rows old held when the backfill was planned (estimate).");
  out += estimate;
  header(out, "tandem_backfill_rows_per_second", "gauge",
         "Rows read per second by the workers holding a range.");
  out += rate;
  header(out, "tandem_backfill_eta_seconds", "gauge",
         "Seconds left at the current rate (absent when unknown).");
  out += eta;
  header(out, "tandem_backfill_complete", "gauge", "1 once every range is copied.");
  out += complete;
  header(out, "tandem_backfill_paused", "gauge", "1 while an operator has paused the backfill.");
  out += paused;
  header(out, "tandem_backfill_workers", "gauge", "Workers holding a range now (all hosts).");
  out += workers;
  out_final += out;
  return Status::Ok();
}

}  // namespace tandem::serve
