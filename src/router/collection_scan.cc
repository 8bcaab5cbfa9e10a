// Collection::scan: a page of a key range from the read primary, compared
// with the read secondary in shadow mode.
#include <fmt/format.h>

#include "router/migration_state.h"
#include "tandem/migration.h"

namespace tandem {

Result<ScanPage> Collection::scan(const KeyRange& range, size_t limit) {
  if (limit < 1 || limit > 10000)
    return Status::InvalidArgument(
        fmt::format("collection '{}': a scan's limit must be 1 to 10000, not {}", schema_.name, limit));
  StepGuard guard(*state_);
  const size_t index = guard.index();
  const Step& step = state_->config.plan.at(index);
  AtomicStepStats& stats = state_->step_stats(index);
  stats.reads.fetch_add(1, std::memory_order_relaxed);
  if (Status s = state_->check_lease(guard.lease_epoch()); !s.ok()) {
    stats.errors.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  Result<std::vector<Record>> records = state_->store(step.read_primary).scan(schema_.name, range, limit);
  if (!records.ok()) {
    stats.errors.fetch_add(1, std::memory_order_relaxed);
    return records.status();
  }
  ScanPage page;
  page.records = std::move(*records);
  if (page.records.size() == limit) page.next = page.records.back().key;
  if (!step.read_secondary || step.read_secondary_mode != ReadSecondaryMode::kShadow || page.records.empty())
    return page;

  stats.shadow_reads.fetch_add(1, std::memory_order_relaxed);
  std::vector<Key> keys;
  keys.reserve(page.records.size());
  for (const Record& r : page.records) keys.push_back(r.key);
  Result<std::vector<Lookup>> secondary = state_->store(*step.read_secondary).get_many(schema_.name, keys);
  for (size_t i = 0; i < page.records.size(); ++i) {
    const Record& primary = page.records[i];
    std::optional<MismatchKind> kind;
    std::string seen;
    if (!secondary.ok()) {
      kind = MismatchKind::kSecondaryError;
      seen = secondary.status().to_string();
    } else if (!(*secondary)[i].present()) {
      kind = MismatchKind::kMissingInSecondary;
      seen = (*secondary)[i].state == Lookup::State::kTombstoned ? "(deleted)" : "(absent)";
    } else if ((*secondary)[i].record != primary) {
      kind = MismatchKind::kDifferent;
      seen = (*secondary)[i].record.to_display();
    }
    if (!kind) continue;
    stats.shadow_mismatches.fetch_add(1, std::memory_order_relaxed);
    state_->report_shadow_mismatch(schema_.name, primary.key, *kind, primary.to_display(), std::move(seen));
    if (!secondary.ok()) break;  // one error counted per page, not per record
  }
  return page;
}

}  // namespace tandem
