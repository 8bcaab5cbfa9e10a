// The rules a step move and the start of a backfill must satisfy (see
// Migration::check_move and run_backfill). Pure functions of a snapshot of
// the control state, so that they are unit-tested without a database; the
// callers read the snapshot.
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/backfill_ledger.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/move_problem.h"
#include "tandem/plan.h"
#include "tandem/verify_ledger.h"

namespace tandem {

struct MoveContext {
  const Plan* plan = nullptr;
  StepState current;
  size_t to_index = 0;
  std::vector<InstanceHeartbeat> instances;
  WallTime now{};  // the control store's clock (ControlStore::clock_now)
  std::chrono::milliseconds instance_timeout{10000};
  // kOperator: a silent instance is not gone until forgotten; it stops the move.
  FencePolicy fence = FencePolicy::kLease;
  std::map<Side, int64_t> pending_repairs;  // by target database
  // Per collection: its backfill and latest verify (nullopt: none yet).
  std::map<std::string, BackfillState> backfills;
  std::map<std::string, std::optional<VerifyRun>> verifies;
  // The relations (old's foreign keys between configured collections) that
  // new does not enforce, "name: child (cols) -> parent (cols)": read only
  // for a move that makes new the write primary, which then needs them.
  std::vector<std::string> relations_missing_in_new;
};

// Every reason the move is refused, each with what to do; empty if allowed.
std::vector<MoveProblem> check_step_move(const MoveContext& context);

// The databases whose repair queue must be empty for the move: those it makes
// a primary and those it stops writing (they would miss acknowledged writes).
std::vector<Side> sides_to_drain(const Plan& plan, size_t from, size_t to);

struct BackfillStartContext {
  const Plan* plan = nullptr;
  StepState current;
  std::vector<InstanceHeartbeat> instances;
  WallTime now{};  // the control store's clock
  std::chrono::milliseconds instance_timeout{10000};
  FencePolicy fence = FencePolicy::kLease;
};

// Every reason a backfill may not start now: new must receive every write at
// the current step and at the step every live instance has applied (records
// written during the copy would otherwise be missing in new). Empty if it
// may. (A backfill of data the operator knows is frozen skips this check.)
std::vector<MoveProblem> check_backfill_start(const BackfillStartContext& context);

}  // namespace tandem
