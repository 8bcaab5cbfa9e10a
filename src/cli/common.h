// Helpers shared by the CLI's commands.
#pragma once

#include <memory>

#include "cli/commands.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/status.h"

namespace tandem::cli {

// The exit code for an error (see kExitCodesHelp).
int exit_code_for(const Status& s);
// Prints "tandem: <error>" to stderr and returns its exit code.
int report(const Status& s);
// Opens the migration of --config as an operator: no heartbeat, no refresh thread.
Result<std::unique_ptr<Migration>> open_operator(const GlobalOptions& global);

// The config of --config and its control store, initialized; opens neither
// database, so it works (and creates nothing in them) whatever they hold:
// for the commands that only read the control state (plan, status).
struct ControlView {
  Config config;
  std::unique_ptr<ControlStore> control;
};
Result<ControlView> open_control_view(const GlobalOptions& global);

}  // namespace tandem::cli
