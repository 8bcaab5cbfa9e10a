#include "ops/operator_commands.h"

#include <fmt/format.h>

#include <chrono>

#include "tandem/clock.h"
#include "tandem/operator_tools.h"
#include "tandem/plan.h"

namespace tandem::ops {

Result<std::vector<BackfillRange>> held_ranges(ControlStore& control, const std::string& collection,
                                               WallTime now) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<BackfillRange> ranges, control.backfill_ranges(collection));
  std::vector<BackfillRange> held;
  for (BackfillRange& r : ranges) {
    if (!r.done && !r.lease_owner.empty() && r.lease_until > now) held.push_back(std::move(r));
  }
  return held;
}

std::optional<double> worker_rate(const BackfillRange& r, WallTime now) {
  if (r.claimed_at == WallTime{} || now - r.claimed_at < std::chrono::seconds(1)) return std::nullopt;
  double seconds = std::chrono::duration<double>(now - r.claimed_at).count();
  return static_cast<double>(r.counts.scanned - r.scanned_at_claim) / seconds;
}

nlohmann::json step_json(const Config& config, const StepState& state) {
  const Step& step = config.plan.at(state.step_index);
  return {{"number", state.step_index + 1},
          {"name", step.name},
          {"roles", step.roles_display()},
          {"version", state.version},
          {"changed_at", format_time(state.changed_at)}};
}

namespace {

// An instance as status and the instances listing show it.
nlohmann::json instance_json(const InstanceHeartbeat& h) {
  return {{"id", h.instance_id},
          {"host", h.host},
          {"pid", h.pid},
          {"applied_step", h.applied_step_index + 1},
          {"applied_version", h.applied_version},
          {"heartbeat_at", format_time(h.heartbeat_at)}};
}

Result<nlohmann::json> collection_report(const Config& config, ControlStore& control,
                                         const CollectionSchema& c, WallTime now) {
  (void)config;
  TANDEM_ASSIGN_OR_RETURN(BackfillState bf, control.backfill_state(c.name));
  TANDEM_ASSIGN_OR_RETURN(std::optional<VerifyRun> v, control.latest_verify(c.name));
  nlohmann::json entry;
  entry["backfill"] = {{"planned", bf.planned},
                       {"complete", bf.complete},
                       {"paused", bf.paused},
                       {"total_estimate", bf.total_estimate},
                       {"scanned", bf.counts.scanned},
                       {"copied", bf.counts.copied},
                       {"present", bf.counts.present},
                       {"locked", bf.counts.locked},
                       {"tombstoned", bf.counts.tombstoned},
                       {"quarantined", bf.counts.quarantined},
                       {"ranges", bf.ranges},
                       {"ranges_done", bf.ranges_done}};
  TANDEM_ASSIGN_OR_RETURN(std::vector<BackfillRange> held, held_ranges(control, c.name, now));
  entry["backfill"]["workers"] = nlohmann::json::array();
  double total_rate = 0;
  for (const BackfillRange& r : held) {
    std::optional<double> rate = worker_rate(r, now);
    if (rate) total_rate += *rate;
    entry["backfill"]["workers"].push_back(
        {{"worker", r.lease_owner},
         {"host", r.lease_owner.substr(0, r.lease_owner.find(':'))},
         {"range", r.id},
         {"scanned", r.counts.scanned},
         {"claimed_at", r.claimed_at == WallTime{} ? "" : format_time(r.claimed_at)},
         {"rows_per_second", rate ? nlohmann::json(*rate) : nlohmann::json()},
         {"lease_until", format_time(r.lease_until)}});
  }
  entry["backfill"]["rows_per_second"] = total_rate;
  if (total_rate > 0 && bf.total_estimate > bf.counts.scanned) {
    entry["backfill"]["eta_seconds"] =
        static_cast<double>(bf.total_estimate - bf.counts.scanned) / total_rate;
  } else {
    entry["backfill"]["eta_seconds"] = nullptr;
  }
  if (v) {
    entry["verify"] = {{"at", format_time(v->at)},     {"clean", v->clean}, {"records", v->records},
                       {"missing", v->missing},        {"extra", v->extra}, {"different", v->different},
                       {"resurrected", v->resurrected}};
  }
  return entry;
}

}  // namespace

Result<nlohmann::json> status_report(const Config& config, ControlStore& control) {
  TANDEM_ASSIGN_OR_RETURN(StepState current, control.current_step());
  TANDEM_ASSIGN_OR_RETURN(std::optional<FinishRecord> finished, control.finished());
  TANDEM_ASSIGN_OR_RETURN(std::vector<InstanceHeartbeat> instances, control.instances());
  TANDEM_ASSIGN_OR_RETURN(auto repairs, control.repair_counts());
  TANDEM_ASSIGN_OR_RETURN(int64_t quarantine, control.quarantine_size());
  TANDEM_ASSIGN_OR_RETURN(auto counters, control.shadow_counters());
  TANDEM_ASSIGN_OR_RETURN(WallTime now, control.clock_now());
  const bool operator_fence = config.fence == FencePolicy::kOperator;
  nlohmann::json out;
  out["migration"] = config.migration_name;
  if (finished) out["finished"] = {{"at", format_time(finished->at)}, {"by", finished->actor}};
  out["step"] = step_json(config, current);
  out["steps"] = config.plan.size();
  out["instances"] = nlohmann::json::array();
  for (const InstanceHeartbeat& h : instances) {
    const bool live = instance_is_live(h, now, config.instance_timeout);
    nlohmann::json entry = instance_json(h);
    entry["live"] = live;
    entry["silent"] = !live && operator_fence;
    entry["removed"] = !live && !operator_fence;
    out["instances"].push_back(std::move(entry));
  }
  out["repair_queue"] = {{"old", repairs[Side::kOld]}, {"new", repairs[Side::kNew]}};
  out["quarantine"] = quarantine;
  out["shadow_mismatches"] = nlohmann::json::object();
  for (const auto& [k, n] : counters)
    out["shadow_mismatches"][k.first][std::string(mismatch_kind_name(k.second))] = n;
  out["collections"] = nlohmann::json::object();
  for (const CollectionSchema& c : config.collections) {
    TANDEM_ASSIGN_OR_RETURN(nlohmann::json entry, collection_report(config, control, c, now));
    out["collections"][c.name] = std::move(entry);
  }
  // Gone instances are listed once, by this report, then removed (the delete
  // re-checks each heartbeat's age; one that heartbeats again returns).
  if (!operator_fence) {
    TANDEM_RETURN_IF_ERROR(
        control
            .remove_instances_before(
                now - std::chrono::duration_cast<std::chrono::microseconds>(config.instance_timeout))
            .status());
  }
  return out;
}

Result<nlohmann::json> plan_report(const Config& config, ControlStore& control) {
  TANDEM_ASSIGN_OR_RETURN(StepState current, control.current_step());
  nlohmann::json out;
  out["migration"] = config.migration_name;
  out["current"] = step_json(config, current);
  out["steps"] = nlohmann::json::array();
  for (size_t i = 0; i < config.plan.size(); ++i) {
    const Step& s = config.plan.at(i);
    nlohmann::json step = {{"number", i + 1},
                           {"name", s.name},
                           {"read_primary", side_name(s.read_primary)},
                           {"write_primary", side_name(s.write_primary)},
                           {"roles", s.roles_display()},
                           {"notes", s.notes},
                           {"current", i == current.step_index}};
    step["read_secondary"] =
        s.read_secondary ? nlohmann::json(side_name(*s.read_secondary)) : nlohmann::json();
    step["read_secondary_mode"] =
        s.read_secondary ? nlohmann::json(read_secondary_mode_name(s.read_secondary_mode)) : nlohmann::json();
    step["write_secondary"] =
        s.write_secondary ? nlohmann::json(side_name(*s.write_secondary)) : nlohmann::json();
    out["steps"].push_back(std::move(step));
  }
  return out;
}

Result<nlohmann::json> instances_report(const Config& config, ControlStore& control) {
  TANDEM_ASSIGN_OR_RETURN(WallTime now, control.clock_now());
  TANDEM_ASSIGN_OR_RETURN(std::vector<InstanceHeartbeat> instances, control.instances());
  TANDEM_ASSIGN_OR_RETURN(std::vector<InstanceForgotten> forgotten, control.forgotten_instances(20));
  nlohmann::json out;
  out["fence"] = fence_policy_name(config.fence);
  out["lease_ms"] = config.instance_timeout.count();
  out["instances"] = nlohmann::json::array();
  for (const InstanceHeartbeat& h : instances) {
    const char* state = instance_is_live(h, now, config.instance_timeout) ? "live"
                        : config.fence == FencePolicy::kOperator          ? "silent"
                                                                          : "gone";
    nlohmann::json entry = instance_json(h);
    entry["state"] = state;
    out["instances"].push_back(std::move(entry));
  }
  out["forgotten"] = nlohmann::json::array();
  for (const InstanceForgotten& f : forgotten) {
    out["forgotten"].push_back({{"id", f.instance_id},
                                {"host", f.host},
                                {"last_heartbeat", format_time(f.last_heartbeat)},
                                {"at", format_time(f.at)},
                                {"step_version", f.step_version},
                                {"reason", f.reason},
                                {"by", f.actor}});
  }
  return out;
}

Result<nlohmann::json> history_report(ControlStore& control, size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<StepChange> history, control.history(limit));
  nlohmann::json out = nlohmann::json::array();
  for (const StepChange& c : history) {
    out.push_back({{"version", c.version},
                   {"at", format_time(c.at)},
                   {"from_step", c.from_index + 1},
                   {"to_step", c.to_index + 1},
                   {"reason", c.reason},
                   {"forced", c.forced},
                   {"actor", c.actor}});
  }
  return out;
}

Result<StepAction> parse_step_action(std::string_view word) {
  if (word == "next") return StepAction::kNext;
  if (word == "back") return StepAction::kBack;
  if (word == "set") return StepAction::kSet;
  return Status::InvalidArgument(fmt::format("action '{}': expected next, back or set", word));
}

Result<StepState> move_step(Migration& migration, StepAction action, int64_t step_number,
                            std::string_view reason, bool force) {
  TANDEM_ASSIGN_OR_RETURN(StepState current, OperatorTools(migration).control().current_step());
  const size_t n = migration.plan().size();
  size_t to = 0;
  switch (action) {
    case StepAction::kNext:
      if (current.step_index + 1 >= n)
        return Status::FailedPrecondition(
            fmt::format("the migration is at the last step ({}); there is no next step", n));
      to = current.step_index + 1;
      break;
    case StepAction::kBack:
      if (current.step_index == 0)
        return Status::FailedPrecondition("the migration is at the first step; there is no step back");
      to = current.step_index - 1;
      break;
    case StepAction::kSet:
      if (step_number < 1 || static_cast<size_t>(step_number) > n)
        return Status::InvalidArgument(fmt::format(
            "there is no step {}; the plan has steps 1 to {} (see `tandem plan`)", step_number, n));
      to = static_cast<size_t>(step_number - 1);
      break;
  }
  return migration.change_step(to, reason, force);
}

Result<std::vector<std::string>> pause_backfill(Migration& migration,
                                                const std::vector<std::string>& collections, bool paused) {
  std::vector<std::string> names = collections;
  if (names.empty()) {
    for (const CollectionSchema& c : migration.config().collections) names.push_back(c.name);
  }
  for (const std::string& name : names) TANDEM_RETURN_IF_ERROR(migration.collection(name).status());
  for (const std::string& name : names)
    TANDEM_RETURN_IF_ERROR(OperatorTools(migration).control().set_backfill_paused(name, paused));
  return names;
}

}  // namespace tandem::ops
