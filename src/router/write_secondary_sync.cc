// Collection::sync_write_secondary: the write secondary brought up to date
// after a write to the write primary, or the key queued for repair.
#include <fmt/format.h>

#include <functional>
#include <optional>

#include "core/logging.h"
#include "router/copy_record.h"
#include "router/migration_state.h"
#include "router/relation_copy.h"
#include "router/step_rules.h"

namespace tandem {

namespace {

// The pre-image's children carry tombstones the parent's repair (a search of
// the copy) cannot find: each is queued too, after the parent. Returns
// whether every entry was queued durably.
bool queue_children_repairs(MigrationState& state, const std::string& collection, const Key& key,
                            const Cascade& pre, Side target, const std::string& why) {
  bool durable = true;
  std::function<void(const CascadeNode&)> queue = [&](const CascadeNode& node) {
    for (const CascadeNode& c : node.children) {
      durable =
          state.enqueue_repair(c.collection, c.key, target,
                               fmt::format("a child of collection '{}' record {} through relation {}: {}",
                                           collection, key.to_display(), c.relation, why)) &&
          durable;
      queue(c);
    }
  };
  queue(pre.root);
  return durable;
}

}  // namespace

Status Collection::sync_write_secondary(const Key& key, const Step& step, size_t step_index,
                                        int64_t lease_epoch, const Cascade* pre) {
  Store& wp = state_->store(step.write_primary);
  Store& ws = state_->store(*step.write_secondary);
  // The write primary has the write. If this instance's lease lapsed since
  // (it stalled; checked before the copy and again once it holds the record
  // lock, however long it waited for it), or new refused the copy (fenced),
  // the step may have moved: no copy by a stale step; the key is queued for
  // repair (which copies from the current write primary) and the outcome is
  // reported as unknown, never as a plain success.
  auto not_copied = [&](const Status& why, const std::string& because) {
    state_->step_stats(step_index).errors.fetch_add(1, std::memory_order_relaxed);
    bool durable = state_->enqueue_repair(schema_.name, key, *step.write_secondary, why.to_string());
    if (pre != nullptr) {
      queue_children_repairs(*state_, schema_.name, key, *pre, *step.write_secondary, why.to_string());
    }
    return Status::Unavailable(
               fmt::format("collection '{}' record {}: written to {} (the write primary at step "
                           "{}), but {}; queued for repair{}. {}",
                           schema_.name, key.to_display(), side_name(step.write_primary), step_index + 1,
                           because, durable ? "" : " (kept in memory: the control store is unavailable)",
                           why.message()))
        .outcome_unknown();
  };
  auto lease_lapsed = [&](const Status& lease) {
    return not_copied(lease, fmt::format("this instance's lease lapsed before {} was brought up to date, so "
                                         "the step may have moved meanwhile",
                                         side_name(*step.write_secondary)));
  };
  if (Status lease = state_->check_lease(lease_epoch); !lease.ok()) return lease_lapsed(lease);
  std::optional<Status> fenced;
  MigrationState* st = state_;
  CopyFence fence = [st, lease_epoch, &fenced] {
    Status lease = st->check_lease(lease_epoch);
    if (!lease.ok()) fenced = lease;
    return lease;
  };
  Status s;
  if (state_->relations.empty()) {
    s = copy_current_record(wp, ws, state_->store(Side::kNew), schema_, key, state_->config.lock_timeout,
                            fence);
  } else {
    // The parent with the children its write changed in WP (relation_copy.h).
    s = copy_with_relations(
        wp, ws, state_->store(Side::kNew), state_->relations,
        [st](std::string_view n) { return st->schema_of(n); }, schema_.name, key, pre,
        RelationCopyOptions{state_->config.lock_timeout,
                            static_cast<size_t>(state_->config.max_cascade_records), fence});
  }
  if (fenced) return lease_lapsed(*fenced);
  if (s.ok()) return s;
  if (s.is_fenced()) {
    // New refused the copy: its role changed at a later step version than
    // this write's. Refresh now.
    state_->request_refresh();
    return not_copied(s, fmt::format("{} refused the copy: the step moved since this write read it",
                                     side_name(*step.write_secondary)))
        .fenced();
  }
  state_->step_stats(step_index).write_secondary_failures.fetch_add(1, std::memory_order_relaxed);
  // During an outage every write fails the same way: one line every 5 s,
  // saying how many more keys were queued, instead of one line per write.
  int64_t now = now_micros().time_since_epoch().count();
  int64_t last = state_->last_ws_warning.load();
  if (now - last >= 5'000'000 && state_->last_ws_warning.compare_exchange_strong(last, now)) {
    int64_t more = state_->suppressed_ws_warnings.exchange(0);
    logging::warn("write secondary {} missed collection '{}' record {}: {}; queued for repair{}",
                  side_name(*step.write_secondary), schema_.name, key.to_display(), s.to_string(),
                  more > 0 ? fmt::format(" ({} more keys queued since the last warning)", more) : "");
  } else {
    state_->suppressed_ws_warnings.fetch_add(1);
  }
  bool durable = state_->enqueue_repair(schema_.name, key, *step.write_secondary, s.to_string());
  if (pre != nullptr) {
    durable =
        queue_children_repairs(*state_, schema_.name, key, *pre, *step.write_secondary, s.to_string()) &&
        durable;
  }
  // A step move decided while this write was in flight checked the repair
  // queue before this entry was there (the move checks it in the same
  // transaction that changes the step, so an entry queued first refuses the
  // move). If the step moved to one that relies on the write secondary (a
  // primary now, or no longer written), it lacks an acknowledged write:
  // report the write as of unknown outcome instead. Found by tandem-stress.
  auto moved = state_->control->current_step();
  bool relied_on = !moved.ok();
  if (moved.ok() && moved->step_index != step_index) {
    for (Side side : sides_to_drain(state_->config.plan, step_index, moved->step_index)) {
      relied_on = relied_on || side == *step.write_secondary;
    }
  }
  if (relied_on) {
    return Status::Unavailable(
               fmt::format(
                   "collection '{}' record {}: written to {} (the write primary) but not to {}, and the "
                   "step changed while the write was in flight to one that relies on {}{}; queued for "
                   "repair ({})",
                   schema_.name, key.to_display(), side_name(step.write_primary),
                   side_name(*step.write_secondary), side_name(*step.write_secondary),
                   durable ? "" : " (the repair is kept in memory: the control store is unavailable)",
                   s.to_string()))
        .outcome_unknown();
  }
  return Status::Ok();
}

}  // namespace tandem
