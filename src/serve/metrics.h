// Prometheus metrics of `tandem serve` at /metrics (text exposition format
// 0.0.4; names and units as Prometheus' conventions say: *_total counters,
// *_seconds, base units):
//
//   tandem_gateway_requests_total{collection,operation,outcome}   counter
//   tandem_gateway_request_duration_seconds{collection,operation} histogram
//   tandem_router_operations_total{step,kind}  this instance's routed calls
//       (kind: read, write, error, fallback_read, shadow_read,
//        shadow_mismatch, write_secondary_failure, transfer)
//   tandem_shadow_mismatches_total{collection,kind}  all instances
//   tandem_backfill_rows_total{collection,outcome}, tandem_backfill_rows_estimate,
//   tandem_backfill_rows_per_second, tandem_backfill_eta_seconds,
//   tandem_backfill_complete, tandem_backfill_paused, tandem_backfill_workers
//   tandem_repair_queue_depth{database}, tandem_quarantine_records
//   tandem_step{} (1-based), tandem_step_version, tandem_instances_live,
//   tandem_instance_applied_version{instance}
//
// The request figures are this process's; the others are read from the
// control store at each scrape (one round of reads, as `tandem status`).
// Thread safety: observe() from any thread (atomics); write_* too.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/status.h"

namespace tandem::serve {

enum class Operation : uint8_t { kGet, kBatchGet, kPut, kPatch, kDelete, kScan, kCount };
enum class Outcome : uint8_t { kOk, kNotFound, kBadRequest, kUnavailable, kError, kCount };

class RequestMetrics {
 public:
  explicit RequestMetrics(std::vector<std::string> collections);
  // collection: its index in the constructor's list.
  void observe(size_t collection, Operation op, Outcome outcome, double seconds);
  void write(std::string& out) const;

  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.5,    2.5};

 private:
  struct Series {
    std::array<std::atomic<int64_t>, static_cast<size_t>(Outcome::kCount)> outcomes{};
    std::array<std::atomic<int64_t>, kBuckets.size()> buckets{};  // not cumulative; summed at write
    std::atomic<int64_t> count{0};
    std::atomic<int64_t> sum_nanos{0};
  };
  std::vector<std::string> collections_;
  std::unique_ptr<Series[]> series_;  // collection-major, then operation
};

// The router's counters of migration (this instance) and the migration's
// state from its control store, appended to out. On a control-store error
// nothing of it is appended and the error is returned (the scrape fails: a
// gap in the series, not a zero).
Status write_migration_metrics(Migration& migration, std::string& out);

}  // namespace tandem::serve
