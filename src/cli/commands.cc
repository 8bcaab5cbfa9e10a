#include "cli/commands.h"
#include "cli/common.h"

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

// The ranges of a collection's backfill that a worker holds now (on any host).
Result<std::vector<BackfillRange>> held_ranges(ControlStore& control, const std::string& collection,
                                               WallTime now) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<BackfillRange> ranges, control.backfill_ranges(collection));
  std::vector<BackfillRange> held;
  for (BackfillRange& r : ranges) {
    if (!r.done && !r.lease_owner.empty() && r.lease_until > now) held.push_back(std::move(r));
  }
  return held;
}

// A worker's rows read per second since it claimed its range (the control
// store's clock); nullopt before its first second or without a claim time.
std::optional<double> worker_rate(const BackfillRange& r, WallTime now) {
  if (r.claimed_at == WallTime{} || now - r.claimed_at < std::chrono::seconds(1)) return std::nullopt;
  double seconds = std::chrono::duration<double>(now - r.claimed_at).count();
  return static_cast<double>(r.counts.scanned - r.scanned_at_claim) / seconds;
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
    nlohmann::json out;
    out["migration"] = config.migration_name;
    if (*finished) {
      out["finished"] = {{"at", format_time((*finished)->at)}, {"by", (*finished)->actor}};
    }
    out["step"] = {{"number", current->step_index + 1},
                   {"name", step.name},
                   {"roles", step.roles_display()},
                   {"version", current->version},
                   {"changed_at", format_time(current->changed_at)}};
    out["instances"] = nlohmann::json::array();
    for (const InstanceHeartbeat& h : *instances) {
      out["instances"].push_back({{"id", h.instance_id},
                                  {"host", h.host},
                                  {"pid", h.pid},
                                  {"applied_step", h.applied_step_index + 1},
                                  {"applied_version", h.applied_version},
                                  {"heartbeat_at", format_time(h.heartbeat_at)},
                                  {"live", is_live(h)},
                                  {"silent", !is_live(h) && operator_fence},
                                  {"removed", !is_live(h) && !operator_fence}});
    }
    out["repair_queue"] = {{"old", (*repairs)[Side::kOld]}, {"new", (*repairs)[Side::kNew]}};
    out["quarantine"] = *quarantine;
    out["shadow_mismatches"] = nlohmann::json::object();
    for (const auto& [k, n] : *counters)
      out["shadow_mismatches"][k.first][std::string(mismatch_kind_name(k.second))] = n;
    out["collections"] = nlohmann::json::object();
    for (const CollectionSchema& c : config.collections) {
      auto bf = control.backfill_state(c.name);
      auto v = control.latest_verify(c.name);
      if (!bf.ok()) return report(bf.status());
      if (!v.ok()) return report(v.status());
      nlohmann::json entry;
      entry["backfill"] = {{"planned", bf->planned},
                           {"complete", bf->complete},
                           {"paused", bf->paused},
                           {"total_estimate", bf->total_estimate},
                           {"scanned", bf->counts.scanned},
                           {"copied", bf->counts.copied},
                           {"present", bf->counts.present},
                           {"locked", bf->counts.locked},
                           {"tombstoned", bf->counts.tombstoned},
                           {"quarantined", bf->counts.quarantined},
                           {"ranges", bf->ranges},
                           {"ranges_done", bf->ranges_done}};
      auto held = held_ranges(control, c.name, now);
      if (!held.ok()) return report(held.status());
      entry["backfill"]["workers"] = nlohmann::json::array();
      for (const BackfillRange& r : *held) {
        std::optional<double> rate = worker_rate(r, now);
        entry["backfill"]["workers"].push_back(
            {{"worker", r.lease_owner},
             {"host", r.lease_owner.substr(0, r.lease_owner.find(':'))},
             {"range", r.id},
             {"scanned", r.counts.scanned},
             {"claimed_at", r.claimed_at == WallTime{} ? "" : format_time(r.claimed_at)},
             {"rows_per_second", rate ? nlohmann::json(*rate) : nlohmann::json()},
             {"lease_until", format_time(r.lease_until)}});
      }
      if (*v) {
        entry["verify"] = {
            {"at", format_time((*v)->at)},     {"clean", (*v)->clean}, {"records", (*v)->records},
            {"missing", (*v)->missing},        {"extra", (*v)->extra}, {"different", (*v)->different},
            {"resurrected", (*v)->resurrected}};
      }
      out["collections"][c.name] = entry;
    }
    fmt::print("{}\n", out.dump(2));
    return expire_gone();
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
    auto held = held_ranges(control, c.name, now);
    if (!held.ok()) return report(held.status());
    for (const BackfillRange& r : *held) {
      std::optional<double> rate = worker_rate(r, now);
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
  auto m = open_operator(global);
  if (!m.ok()) return report(m.status());
  auto current = OperatorTools(**m).control().current_step();
  if (!current.ok()) return report(current.status());
  const size_t n = (*m)->plan().size();
  size_t to = 0;
  if (action == "next") {
    if (current->step_index + 1 >= n) {
      fmt::print(stderr, "tandem: the migration is at the last step ({}); there is no next step\n", n);
      return kExitRefused;
    }
    to = current->step_index + 1;
  } else if (action == "back") {
    if (current->step_index == 0) {
      fmt::print(stderr, "tandem: the migration is at the first step; there is no step back\n");
      return kExitRefused;
    }
    to = current->step_index - 1;
  } else {
    if (step_number < 1 || static_cast<size_t>(step_number) > n) {
      fmt::print(stderr, "tandem: there is no step {}; the plan has steps 1 to {} (see `tandem plan`)\n",
                 step_number, n);
      return kExitUsage;
    }
    to = static_cast<size_t>(step_number - 1);
  }
  auto moved = (*m)->change_step(to, reason, force);
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
