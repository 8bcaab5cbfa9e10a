// Helpers shared by the CLI's commands.
#pragma once

#include <memory>

#include "cli/commands.h"
#include "tandem/migration.h"
#include "tandem/status.h"

namespace tandem::cli {

// The exit code for an error (see kExitCodesHelp).
int exit_code_for(const Status& s);
// Prints "tandem: <error>" to stderr and returns its exit code.
int report(const Status& s);
// Opens the migration of --config as an operator: no heartbeat, no refresh thread.
Result<std::unique_ptr<Migration>> open_operator(const GlobalOptions& global);

}  // namespace tandem::cli
