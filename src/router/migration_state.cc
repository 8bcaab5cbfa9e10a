#include "router/migration_state.h"

#include <fmt/format.h>

#include "core/logging.h"

namespace tandem {

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
