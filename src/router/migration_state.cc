#include "router/migration_state.h"

#include <fmt/format.h>

#include <time.h>

#include <algorithm>
#include <chrono>

#include "core/logging.h"

namespace tandem {

int64_t lease_clock_nanos() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t MigrationState::lease_valid_nanos() const {
  // The instance stops at 4/5 of its lease; a mover counts it gone only after
  // the whole lease on the control store's clock (migration.h).
  return std::chrono::duration_cast<std::chrono::nanoseconds>(config.instance_timeout).count() / 5 * 4;
}

void MigrationState::renew_lease(int64_t started, WallTime started_wall) {
  int64_t seen = lease_renewed_at.load();
  // A renewal that comes after the lease lapsed (or the first) opens a new
  // epoch, before the renewal is published: an operation that sees the new
  // lease also sees the new epoch.
  if (seen == 0 || lease_clock_nanos() - seen >= lease_valid_nanos()) lease_epoch.fetch_add(1);
  while (seen < started && !lease_renewed_at.compare_exchange_weak(seen, started)) {
  }
  if (seen < started) lease_renewed_wall.store(started_wall.time_since_epoch().count());
}

void MigrationState::request_refresh() {
  MutexLock lock(stop_mutex);
  refresh_requested = true;
  stop_cv.notify_all();
}

Status MigrationState::check_lease(int64_t entered_epoch) {
  if (!options.register_instance || config.fence == FencePolicy::kOperator) return Status::Ok();
  const int64_t renewed = lease_renewed_at.load();
  const int64_t age = lease_clock_nanos() - renewed;
  const bool lapsed_since = lease_epoch.load() != entered_epoch;
  if (renewed != 0 && age < lease_valid_nanos() && !lapsed_since) return Status::Ok();
  if (renewed != 0 && age < lease_valid_nanos()) {
    return Status::Unavailable(
        "this instance's lease lapsed while the operation was in flight (the process stalled), so the step "
        "it routed by may have moved since; not routing it further: retry (the instance routes by the "
        "current step again)");
  }
  std::string error;
  {
    MutexLock lock(lease_mutex);
    error = refresh_error;
  }
  return Status::Unavailable(fmt::format(
      "cannot confirm the migration's step since {} ({} ms ago; lease {} ms); not routing: operations "
      "resume by themselves once the control store answers again{}",
      format_time(WallTime(std::chrono::microseconds(lease_renewed_wall.load()))), age / 1'000'000,
      config.instance_timeout.count(), error.empty() ? "" : fmt::format(" (last refresh: {})", error)));
}

bool MigrationState::enqueue_repair(const std::string& collection, const Key& key, Side target,
                                    std::string reason) {
  RepairEntry entry{0,      collection,        key.encode(), key.to_display(),
                    target, std::move(reason), now_micros(), 0};
  Status s = control->enqueue_repair(entry);
  if (s.ok()) return true;
  logging::error(
      "cannot queue repair of collection '{}' record {} in the control store ({}); "
      "keeping it in memory and retrying",
      entry.collection, entry.key_display, s.to_string());
  MutexLock lock(pending_mutex);
  pending_repairs.push_back(std::move(entry));
  return false;
}

void MigrationState::count_mismatch(const std::string& collection, MismatchKind kind) {
  MutexLock lock(pending_mutex);
  pending_mismatches[{collection, kind}] += 1;
}

void MigrationState::report_shadow_mismatch(const std::string& collection, const Key& key, MismatchKind kind,
                                            std::string primary, std::string secondary) {
  count_mismatch(collection, kind);
  int64_t n = mismatch_sequence.fetch_add(1, std::memory_order_relaxed);
  if (n % config.shadow_sample_every != 0) return;
  ShadowSample sample{collection,         key.to_display(),     kind,
                      std::move(primary), std::move(secondary), now_micros()};
  Status s = control->add_shadow_sample(sample, static_cast<size_t>(config.shadow_sample_limit));
  if (!s.ok()) logging::warn("cannot record a shadow mismatch sample: {}", s.to_string());
}

void MigrationState::flush_pending() {
  std::vector<RepairEntry> repairs;
  std::map<std::pair<std::string, MismatchKind>, int64_t> mismatches;
  {
    MutexLock lock(pending_mutex);
    repairs.swap(pending_repairs);
    mismatches.swap(pending_mismatches);
  }
  std::vector<RepairEntry> failed;
  for (RepairEntry& e : repairs) {
    if (!control->enqueue_repair(e).ok()) failed.push_back(std::move(e));
  }
  std::map<std::pair<std::string, MismatchKind>, int64_t> unflushed;
  for (const auto& [k, n] : mismatches) {
    if (!control->add_shadow_mismatches(k.first, k.second, n).ok()) unflushed[k] += n;
  }
  if (failed.empty() && unflushed.empty()) return;
  MutexLock lock(pending_mutex);
  for (RepairEntry& e : failed) pending_repairs.push_back(std::move(e));
  for (const auto& [k, n] : unflushed) pending_mismatches[k] += n;
}

}  // namespace tandem
