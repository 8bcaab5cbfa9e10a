// MoveProblem: a reason a step move (or the start of a backfill) is refused,
// and what the operator can do about it. Returned by Migration::check_move;
// the rules that produce them live with the router (src/router/step_rules.h).
//
// Thread safety: plain values; format_move_problems is a pure function.
#pragma once

#include <string>
#include <vector>

namespace tandem {

struct MoveProblem {
  std::string what;
  std::string fix;  // empty when there is nothing to do
};

// The problems as an indented list, one "\n  - what" per problem, each
// followed by "\n    what to do: fix" unless fix is empty; "" if none.
std::string format_move_problems(const std::vector<MoveProblem>& problems);

}  // namespace tandem
