#include "router/step_rules.h"

#include <fmt/format.h>

namespace tandem {

namespace {
std::string step_label(const Plan& plan, size_t index) {
  return fmt::format("{} ({})", index + 1, plan.at(index).name);
}

// Under fence = "operator" a silent instance may still route by its last
// step (it keeps routing while it cannot reach the control store).
MoveProblem silent_instance(const InstanceHeartbeat& h, WallTime now) {
  return {fmt::format("instance {} (host {}, pid {}) has been silent since {} ({} s ago) and may still route "
                      "by step {} (version {}): with fence = \"operator\" a silent instance keeps routing "
                      "by its last step",
                      h.instance_id, h.host, h.pid, format_time(h.heartbeat_at),
                      std::chrono::duration_cast<std::chrono::seconds>(now - h.heartbeat_at).count(),
                      h.applied_step_index + 1, h.applied_version),
          fmt::format("wait for it to reach the control store again, or, once you know its process is "
                      "stopped, `tandem instances forget {} --reason \"...\"`",
                      h.instance_id)};
}
}  // namespace

std::vector<Side> sides_to_drain(const Plan& plan, size_t from, size_t to) {
  std::vector<Side> out;
  if (from >= plan.size() || to >= plan.size()) return out;
  const Step& s_from = plan.at(from);
  const Step& s_to = plan.at(to);
  for (Side side : {Side::kOld, Side::kNew}) {
    bool becomes_primary = s_to.read_primary == side || s_to.write_primary == side;
    bool stops_written = s_from.writes(side) && !s_to.writes(side);
    if (becomes_primary || stops_written) out.push_back(side);
  }
  return out;
}

std::vector<MoveProblem> check_step_move(const MoveContext& c) {
  std::vector<MoveProblem> problems;
  const Plan& plan = *c.plan;
  const size_t from = c.current.step_index;
  const size_t to = c.to_index;
  if (to >= plan.size()) {
    problems.push_back({fmt::format("there is no step {}; the plan has {} steps", to + 1, plan.size()),
                        "run `tandem plan` to see the steps"});
    return problems;
  }
  if (to == from) {
    problems.push_back({fmt::format("the migration is already at step {}", step_label(plan, to)), ""});
    return problems;
  }
  const Step& s_from = plan.at(from);
  const Step& s_to = plan.at(to);

  // New becomes the write primary: its own foreign keys must cascade as
  // old's did, or the service loses its cascades (and old, then the write
  // secondary, refuses or diverges).
  if (s_to.write_primary == Side::kNew && s_from.write_primary != Side::kNew) {
    for (const std::string& r : c.relations_missing_in_new) {
      problems.push_back({fmt::format("new does not enforce relation {}, which old enforces", r),
                          "run `tandem init --constraints` (after a complete backfill and a clean verify)"});
    }
  }

  if (to > from + 1) {
    problems.push_back(
        {fmt::format("step {} is more than one step ahead of the current step {}", step_label(plan, to),
                     step_label(plan, from)),
         "move forward one step at a time (`tandem step next`), so that every instance applies "
         "each step and each step's preconditions are checked"});
  }

  // Every live instance must route by the current step before the next move:
  // otherwise two instances could be two steps apart.
  for (const InstanceHeartbeat& h : c.instances) {
    if (!instance_is_live(h, c.now, c.instance_timeout)) {
      if (c.fence == FencePolicy::kOperator) problems.push_back(silent_instance(h, c.now));
      continue;
    }
    if (h.applied_version == c.current.version) continue;
    problems.push_back(
        {fmt::format("instance {} (host {}, pid {}) still routes by step version {} (step {}), not the "
                     "current version {} (step {})",
                     h.instance_id, h.host, h.pid, h.applied_version, h.applied_step_index + 1,
                     c.current.version, from + 1),
         "wait for it to apply the current step (it re-reads it every refresh interval), or stop it; "
         "an instance that sends no heartbeat for the instance timeout (its lease) no longer counts"});
  }

  // A database with pending repairs is missing acknowledged writes: it must
  // not become a primary, nor stop being written, until the queue is drained.
  for (Side side : sides_to_drain(plan, from, to)) {
    auto it = c.pending_repairs.find(side);
    int64_t pending = it == c.pending_repairs.end() ? 0 : it->second;
    if (pending == 0) continue;
    bool becomes_primary = s_to.read_primary == side || s_to.write_primary == side;
    {
      problems.push_back(
          {fmt::format("the repair queue holds {} key(s) whose copy to {} failed; step {} would {} {}",
                       pending, side_name(side), step_label(plan, to),
                       becomes_primary ? "make it a primary for" : "stop writing", side_name(side)),
           "drain the repair queue first (`tandem repair`), and fix what makes the copies fail"});
    }
  }

  // Forward into reading new: new must hold everything old holds.
  if (to > from && s_to.read_primary == Side::kNew && s_from.read_primary != Side::kNew) {
    for (const auto& [collection, backfill] : c.backfills) {
      if (!backfill.planned || !backfill.complete) {
        problems.push_back({fmt::format("step {} reads new first, but the backfill of '{}' is {}",
                                        step_label(plan, to), collection,
                                        backfill.planned ? fmt::format("not complete ({} of {} ranges done)",
                                                                       backfill.ranges_done, backfill.ranges)
                                                         : "not started"),
                            "run `tandem backfill` until it reports complete"});
        continue;
      }
      auto v = c.verifies.find(collection);
      if (v == c.verifies.end() || !v->second) {
        problems.push_back({fmt::format("step {} reads new first, but '{}' has not been verified",
                                        step_label(plan, to), collection),
                            "run `tandem verify` (and `tandem verify --repair` if it finds differences)"});
      } else if (v->second->at < backfill.completed_at) {
        problems.push_back(
            {fmt::format("the latest verify of '{}' ran before its backfill completed", collection),
             "run `tandem verify` again"});
      } else if (!v->second->clean) {
        problems.push_back(
            {fmt::format(
                 "the latest verify of '{}' ({}) found {} missing, {} extra, {} different, {} resurrected",
                 collection, format_time(v->second->at), v->second->missing, v->second->extra,
                 v->second->different, v->second->resurrected),
             "run `tandem verify --repair`, then `tandem verify`"});
      }
    }
  }

  // Back: only to a step whose primaries and written databases all received
  // every write at the current step (else they miss acknowledged writes).
  if (to < from) {
    for (Side side : {Side::kOld, Side::kNew}) {
      bool needed = s_to.read_primary == side || s_to.writes(side);
      if (needed && !s_from.writes(side)) {
        problems.push_back(
            {fmt::format("moving back to step {} needs {} to hold every acknowledged write, but {} is "
                         "not written at the current step {}",
                         step_label(plan, to), side_name(side), side_name(side), step_label(plan, from)),
             fmt::format("a reverse sync of what changed since is not available yet; only with "
                         "--force and a reason, accepting that {} misses those writes",
                         side_name(side))});
      }
    }
  }
  return problems;
}

std::vector<MoveProblem> check_backfill_start(const BackfillStartContext& c) {
  std::vector<MoveProblem> problems;
  const Plan& plan = *c.plan;
  const Step& step = plan.at(c.current.step_index);
  if (!step.writes(Side::kNew)) {
    problems.push_back(
        {fmt::format("at step {} ({}) new does not receive every write, so records written during the copy "
                     "would be missing in new",
                     c.current.step_index + 1, step.name),
         "move to a step where new is written (`tandem step next` to dual-write), or pass --old-is-frozen "
         "if nothing writes old any more"});
    return problems;
  }
  for (const InstanceHeartbeat& h : c.instances) {
    if (!instance_is_live(h, c.now, c.instance_timeout)) {
      if (c.fence == FencePolicy::kOperator) problems.push_back(silent_instance(h, c.now));
      continue;
    }
    if (h.applied_step_index < plan.size() && plan.at(h.applied_step_index).writes(Side::kNew)) continue;
    problems.push_back(
        {fmt::format("instance {} (host {}, pid {}) still routes by step {}, where new receives no "
                     "writes",
                     h.instance_id, h.host, h.pid, h.applied_step_index + 1),
         "wait until every instance has applied the current step (`tandem status`)"});
  }
  return problems;
}

std::string format_move_problems(const std::vector<MoveProblem>& problems) {
  std::string list;
  for (const MoveProblem& p : problems) {
    list += fmt::format("\n  - {}", p.what);
    if (!p.fix.empty()) list += fmt::format("\n    what to do: {}", p.fix);
  }
  return list;
}

}  // namespace tandem
