#include "tandem/plan.h"

#include <fmt/format.h>

#include <set>

namespace tandem {

std::string_view side_name(Side side) { return side == Side::kOld ? "old" : "new"; }

Result<Side> parse_side(std::string_view text) {
  if (text == "old") return Side::kOld;
  if (text == "new") return Side::kNew;
  return Status::Config(fmt::format("'{}' is not a database (expected \"old\" or \"new\")", text));
}

std::string_view read_secondary_mode_name(ReadSecondaryMode mode) {
  return mode == ReadSecondaryMode::kFallback ? "fallback" : "shadow";
}

std::string Step::roles_display() const {
  std::string rs = "-";
  if (read_secondary) {
    rs = fmt::format("{}({})", side_name(*read_secondary), read_secondary_mode_name(read_secondary_mode));
  }
  return fmt::format("RP={} RS={} WP={} WS={}", side_name(read_primary), rs, side_name(write_primary),
                     write_secondary ? side_name(*write_secondary) : "-");
}

Plan Plan::default_plan() {
  using M = ReadSecondaryMode;
  constexpr Side O = Side::kOld;
  constexpr Side N = Side::kNew;
  Plan p;
  p.steps = {
      {"old-only", O, std::nullopt, M::kFallback, O, std::nullopt, "where every service starts"},
      {"dual-write", O, std::nullopt, M::kFallback, O, N,
       "new receives every write; backfill may run from here on"},
      {"shadow-read", O, N, M::kShadow, O, N, "mismatches are counted and sampled into a report"},
      {"read-new", N, O, M::kFallback, O, N, "needs backfill done and verify clean, or fallback on"},
      {"write-new", N, O, M::kFallback, N, O, "old still receives every write: rollback to 4 is safe"},
      {"old-read-only", N, O, M::kFallback, N, std::nullopt,
       "old is frozen; for immutable data the one intermediate step needed"},
      {"new-only", N, std::nullopt, M::kFallback, N, std::nullopt, "done; old can be retired"},
  };
  return p;
}

FenceRole new_role_at(const Step& step) {
  if (step.write_primary == Side::kNew) return FenceRole::kWritePrimary;
  if (step.write_secondary == Side::kNew) return FenceRole::kWriteSecondary;
  return FenceRole::kNotWritten;
}

Status Plan::validate() const {
  if (steps.empty()) return Status::Config("the plan has no steps");
  // An operation reads its step and the step's version as one word
  // (MigrationState::routing): 8 bits of index.
  if (steps.size() > 255)
    return Status::Config(fmt::format("the plan has {} steps; at most 255", steps.size()));
  std::set<std::string, std::less<>> names;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    auto bad = [&](std::string_view why) {
      return Status::Config(fmt::format("plan step {} ('{}'): {}", i + 1, s.name, why));
    };
    if (s.name.empty()) return bad("the step has no name");
    if (!names.insert(s.name).second) return bad("another step has the same name");
    if (s.read_secondary && *s.read_secondary == s.read_primary) {
      return bad("read_secondary is the same database as read_primary");
    }
    if (s.write_secondary && *s.write_secondary == s.write_primary) {
      return bad("write_secondary is the same database as write_primary");
    }
  }
  const Step& first = steps.front();
  if (first.uses(Side::kNew)) {
    return Status::Config(
        fmt::format("plan step 1 ('{}'): the first step must read and write only old (it is where every "
                    "service starts)",
                    first.name));
  }
  const Step& last = steps.back();
  if (last.uses(Side::kOld)) {
    return Status::Config(fmt::format(
        "plan step {} ('{}'): the last step must read and write only new (old is retired after it)",
        steps.size(), last.name));
  }
  return Status::Ok();
}

}  // namespace tandem
