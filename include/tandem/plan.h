// Plan: the migration's steps. Each step assigns the four roles of a
// collection: read primary (RP), read secondary (RS, fallback or shadow),
// write primary (WP), write secondary (WS), each to the old or new database.
// Steps are numbered from 1 for operators; indices in code are 0-based.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/status.h"
#include "tandem/store.h"

namespace tandem {

enum class Side : uint8_t { kOld, kNew };
std::string_view side_name(Side side);  // "old" / "new"
Result<Side> parse_side(std::string_view text);
inline Side other_side(Side side) { return side == Side::kOld ? Side::kNew : Side::kOld; }

enum class ReadSecondaryMode : uint8_t {
  kFallback,  // read RS when RP has no such record (a tombstone in RP is a real miss)
  kShadow,    // read RS too, compare with RP, report mismatches; return RP's answer
};
std::string_view read_secondary_mode_name(ReadSecondaryMode mode);

struct Step {
  std::string name;
  Side read_primary = Side::kOld;
  std::optional<Side> read_secondary;
  ReadSecondaryMode read_secondary_mode = ReadSecondaryMode::kFallback;
  Side write_primary = Side::kOld;
  std::optional<Side> write_secondary;
  std::string notes;

  bool writes(Side side) const { return write_primary == side || write_secondary == side; }
  bool reads(Side side) const { return read_primary == side || read_secondary == side; }
  bool uses(Side side) const { return writes(side) || reads(side); }
  // "RP=old RS=new(shadow) WP=old WS=new"
  std::string roles_display() const;
  bool operator==(const Step&) const = default;
};

// New's write role at a step: what a fence token carries (FenceScope in
// tandem/store.h).
FenceRole new_role_at(const Step& step);

struct Plan {
  std::vector<Step> steps;

  // The brief's seven steps: old-only, dual-write, shadow-read, read-new,
  // write-new, old-read-only, new-only.
  static Plan default_plan();
  // At least one step; names unique and non-empty; RS differs from RP; WS
  // differs from WP; the first step reads and writes only old; the last step
  // reads and writes only new. The error names the step (number and name).
  Status validate() const;
  size_t size() const { return steps.size(); }
  const Step& at(size_t index) const { return steps.at(index); }
  bool operator==(const Plan&) const = default;
};

}  // namespace tandem
