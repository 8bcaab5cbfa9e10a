// Operator commands with one implementation for the CLI and the admin API of
// `tandem serve`: each returns data (JSON where the CLI has a --json form);
// the CLI prints it, the API sends it. Refusals are Status values whose
// message is the one the CLI prints: a refused move is kFailedPrecondition
// listing every problem and what to do.
// Thread safety: as the Migration and ControlStore they are given.
#pragma once

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/status.h"

namespace tandem::ops {

// `tandem status --json`, GET /admin/v1/status: the step, instances, each
// collection's backfill (workers, rates) and latest verify, the repair queue,
// the quarantine and the shadow mismatches. As `tandem status`, instances
// gone for a whole lease are listed once (removed: true) and then removed
// from the control store, unless fence = "operator" (then listed as silent
// until they renew or are forgotten).
Result<nlohmann::json> status_report(const Config& config, ControlStore& control);

// `tandem plan`, GET /admin/v1/plan: the steps and their roles, the current one.
Result<nlohmann::json> plan_report(const Config& config, ControlStore& control);

// `tandem instances list --json`, GET /admin/v1/instances: the fence policy,
// the lease, every registered instance with its applied step and state
// (live, silent under fence = "operator", else gone) and the latest 20
// forgotten ones.
Result<nlohmann::json> instances_report(const Config& config, ControlStore& control);

// GET /admin/v1/history: the latest limit step changes, newest first.
Result<nlohmann::json> history_report(ControlStore& control, size_t limit);

// A backfill worker's rows read per second since it claimed its range (the
// control store's clock); nullopt before its first second.
std::optional<double> worker_rate(const BackfillRange& r, WallTime now);
// The ranges of a collection's backfill that a worker holds now.
Result<std::vector<BackfillRange>> held_ranges(ControlStore& control, const std::string& collection,
                                               WallTime now);

enum class StepAction { kNext, kBack, kSet };
// "next", "back", "set"; kInvalidArgument naming the word otherwise.
Result<StepAction> parse_step_action(std::string_view word);

// `tandem step next|back|set N`, POST /admin/v1/step. step_number (1-based)
// only for kSet. Refused with kFailedPrecondition: no next step at the last,
// no step back at the first, or what Migration::change_step refuses (every
// problem and its fix). kInvalidArgument: no step step_number in the plan.
Result<StepState> move_step(Migration& migration, StepAction action, int64_t step_number,
                            std::string_view reason, bool force);

// `tandem backfill --pause|--resume`, POST /admin/v1/backfill: pauses or
// resumes the backfill of collections (empty: all) on every host: running
// workers stop after their current batch. Returns the collections' names;
// kNotFound naming an unknown one.
Result<std::vector<std::string>> pause_backfill(Migration& migration,
                                                const std::vector<std::string>& collections, bool paused);

// The step state as JSON: number (1-based), name, roles, version, changed_at.
nlohmann::json step_json(const Config& config, const StepState& state);

}  // namespace tandem::ops
