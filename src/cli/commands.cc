#include "cli/commands.h"
#include "cli/common.h"
#include "ops/operator_commands.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>

#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"

namespace tandem::cli {

namespace {

std::string age(WallTime then, WallTime now) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - then).count();
  if (ms < 10000) return fmt::format("{:.1f}s ago", static_cast<double>(ms) / 1000.0);
  if (ms < int64_t{3600} * 1000) return fmt::format("{}s ago", ms / 1000);
  return fmt::format("{}h ago", ms / 3600000);
}

}  // namespace

// plan and status read the control store only: they open neither database,
// so they create nothing there and work while old's schema does not fit.
int run_plan_command(const GlobalOptions& global) {
  auto view = open_control_view(global);
  if (!view.ok()) return report(view.status());
  auto current = view->control->current_step();
  if (!current.ok()) return report(current.status());
  const Plan& plan = view->config.plan;
  fmt::print("plan of migration '{}' ({} steps; current step marked with >)\n\n", view->config.migration_name,
             plan.size());
  fmt::print("   {:>4}  {:<15} {:<4} {:<15} {:<4} {:<4} {}\n", "step", "name", "RP", "RS", "WP", "WS",
             "notes");
  for (size_t i = 0; i < plan.size(); ++i) {
    const Step& s = plan.at(i);
    std::string rs = s.read_secondary ? fmt::format("{} ({})", side_name(*s.read_secondary),
                                                    read_secondary_mode_name(s.read_secondary_mode))
                                      : "-";
    fmt::print(" {} {:>4}  {:<15} {:<4} {:<15} {:<4} {:<4} {}\n", i == current->step_index ? ">" : " ", i + 1,
               s.name, side_name(s.read_primary), rs, side_name(s.write_primary),
               s.write_secondary ? side_name(*s.write_secondary) : "-", s.notes);
  }
  return kExitOk;
}

int run_status_command(const GlobalOptions& global, bool json) {
  auto view = open_control_view(global);
  if (!view.ok()) return report(view.status());
  ControlStore& control = *view->control;
  auto current = control.current_step();
  auto finished = control.finished();
  auto instances = control.instances();
  auto repairs = control.repair_counts();
  auto quarantine = control.quarantine_size();
  auto counters = control.shadow_counters();
  auto history = control.history(5);
  for (const Status* s : {&current.status(), &finished.status(), &instances.status(), &repairs.status(),
                          &quarantine.status(), &counters.status(), &history.status()}) {
    if (!s->ok()) return report(*s);
  }
  const Config& config = view->config;
  const Step& step = config.plan.at(current->step_index);
  auto clock = control.clock_now();
  if (!clock.ok()) return report(clock.status());
  const WallTime now = *clock;
  const bool operator_fence = config.fence == FencePolicy::kOperator;
  auto is_live = [&](const InstanceHeartbeat& h) {
    return instance_is_live(h, now, config.instance_timeout);
  };
  // A gone instance (no heartbeat for instance_timeout) is listed once, by
  // this run, then removed from the control store: a crashed process does not
  // stay listed for ever. Only those this run lists as gone are removed (the
  // delete re-checks the heartbeat's age); one that heartbeats again returns.
  // Under fence = "operator" a silent instance may still route: it stays
  // listed until it renews or an operator forgets it.
  auto expire_gone = [&]() {
    if (operator_fence) return static_cast<int>(kExitOk);
    auto removed = control.remove_instances_before(
        now - std::chrono::duration_cast<std::chrono::microseconds>(config.instance_timeout));
    if (!removed.ok()) return report(removed.status());
    return static_cast<int>(kExitOk);
  };
  if (json) {
    auto out = ops::status_report(view->config, control);  // expires gone instances too
    if (!out.ok()) return report(out.status());
    fmt::print("{}\n", out->dump(2));
    return kExitOk;
  }
  fmt::print("migration '{}'\n", config.migration_name);
  if (*finished) {
    fmt::print("FINISHED:    at {} by {} (`tandem finish`); tandem's side tables are gone from new\n",
               format_time((*finished)->at), (*finished)->actor);
  }
  fmt::print("step:        {} of {} ({}): {}\n", current->step_index + 1, config.plan.size(), step.name,
             step.roles_display());
  fmt::print("version:     {} (changed {})\n", current->version, format_time(current->changed_at));
  fmt::print("instances:   {}\n", instances->empty() ? "none registered" : "");
  for (const InstanceHeartbeat& h : *instances) {
    fmt::print("  {:<32} pid {:<8} step {} (version {}){}  heartbeat {}{}\n", h.instance_id, h.pid,
               h.applied_step_index + 1, h.applied_version,
               h.applied_version == current->version ? "" : " BEHIND", age(h.heartbeat_at, now),
               is_live(h)       ? ""
               : operator_fence ? " SILENT (fence = operator: may still route; blocks moves until it "
                                  "renews or `tandem instances forget`)"
                                : " (gone: its lease expired; not counted; removed from this list now)");
  }
  for (const CollectionSchema& c : config.collections) {
    auto bf = control.backfill_state(c.name);
    auto v = control.latest_verify(c.name);
    if (!bf.ok()) return report(bf.status());
    if (!v.ok()) return report(v.status());
    std::string backfill = "not started";
    if (bf->planned) {
      backfill =
          fmt::format("{} {}/{} rows read ({} copied, {} present, {} locked, {} tombstoned, {} quarantined)",
                      bf->complete ? "complete:" : (bf->paused ? "PAUSED:" : "in progress:"),
                      bf->counts.scanned, bf->total_estimate, bf->counts.copied, bf->counts.present,
                      bf->counts.locked, bf->counts.tombstoned, bf->counts.quarantined);
    }
    std::string verify = "never run";
    if (*v) {
      verify = (*v)->clean
                   ? fmt::format("clean, {} records, at {}", (*v)->records, format_time((*v)->at))
                   : fmt::format("NOT clean at {}: {} missing, {} extra, {} different, {} resurrected",
                                 format_time((*v)->at), (*v)->missing, (*v)->extra, (*v)->different,
                                 (*v)->resurrected);
    }
    fmt::print("collection '{}': backfill {}; verify {}\n", c.name, backfill, verify);
    auto held = ops::held_ranges(control, c.name, now);
    if (!held.ok()) return report(held.status());
    for (const BackfillRange& r : *held) {
      std::optional<double> rate = ops::worker_rate(r, now);
      fmt::print("  backfill worker {} (host {}): range {}, {} rows read in it, {}, lease until {}\n",
                 r.lease_owner, r.lease_owner.substr(0, r.lease_owner.find(':')), r.id, r.counts.scanned,
                 rate ? fmt::format("{:.0f} rows/s since it claimed the range at {}", *rate,
                                    format_time(r.claimed_at))
                      : std::string("rate not known yet"),
                 format_time(r.lease_until));
    }
  }
  fmt::print("repair queue: {} to old, {} to new\n", (*repairs)[Side::kOld], (*repairs)[Side::kNew]);
  fmt::print("quarantine:  {} record(s)\n", *quarantine);
  if (counters->empty()) {
    fmt::print("shadow mismatches: none\n");
  } else {
    fmt::print("shadow mismatches:\n");
    for (const auto& [k, n] : *counters)
      fmt::print("  {:<20} {:<22} {}\n", k.first, mismatch_kind_name(k.second), n);
  }
  if (!history->empty()) {
    fmt::print("recent step changes:\n");
    for (const StepChange& c : *history) {
      fmt::print("  {} v{} {} -> {}{} by {}: {}\n", format_time(c.at), c.version, c.from_index + 1,
                 c.to_index + 1, c.forced ? " FORCED" : "", c.actor,
                 c.reason.empty() ? "(no reason given)" : c.reason);
    }
  }
  return expire_gone();
}

int run_step_command(const GlobalOptions& global, const std::string& action, int64_t step_number,
                     const std::string& reason, bool force) {
  auto parsed = ops::parse_step_action(action);
  if (!parsed.ok()) return report(parsed.status());
  auto m = open_operator(global);
  if (!m.ok()) return report(m.status());
  auto moved = ops::move_step(**m, *parsed, step_number, reason, force);
  if (!moved.ok()) return report(moved.status());
  const Step& s = (*m)->plan().at(moved->step_index);
  fmt::print("moved to step {} ({}): {}; version {}\n", moved->step_index + 1, s.name, s.roles_display(),
             moved->version);
  fmt::print(
      "running instances apply it within their refresh interval ({} ms); `tandem status` shows when they "
      "have\n",
      (*m)->config().refresh_interval.count());
  return kExitOk;
}

int run_repair_command(const GlobalOptions& global, int64_t limit) {
  auto m = open_operator(global);
  if (!m.ok()) return report(m.status());
  auto repaired = (*m)->drain_repair_queue(static_cast<size_t>(limit));
  if (!repaired.ok()) return report(repaired.status());
  auto left = OperatorTools(**m).control().repair_counts();
  if (!left.ok()) return report(left.status());
  int64_t remaining = (*left)[Side::kOld] + (*left)[Side::kNew];
  fmt::print("repaired {} key(s); {} left in the repair queue\n", *repaired, remaining);
  return remaining == 0 ? kExitOk : kExitError;
}

}  // namespace tandem::cli
