// `tandem finish`: ends a migration at the last step of its plan (the logic
// is the library's finish_migration, tandem/operator_tools.h): refuses,
// naming every reason, before a clean final verify at the last step; then
// marks it finished in the control store and drops tandem's side tables from
// new.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "tandem/config.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"

namespace tandem::cli {

int run_finish_command(const GlobalOptions& global) {
  auto config = Config::load_file(global.config_path);
  if (!config.ok()) return report(config.status());
  auto done = finish_migration(*config);
  if (!done.ok()) return report(done.status());
  if (done->already_finished) {
    fmt::print("migration '{}' was already finished at {} by {}; tandem's side tables in new are dropped\n",
               config->migration_name, format_time(done->record.at), done->record.actor);
  } else {
    fmt::print(
        "migration '{}' finished at step {} (version {}): tandem's side tables (tandem_tombstones) are "
        "dropped from new; old is untouched\n",
        config->migration_name, done->record.step_index + 1, done->record.version);
  }
  fmt::print(
      "the control store '{}' keeps the step history, the quarantine and the verify runs as the archive; "
      "steps no longer move and services can no longer open the migration\n",
      redact_url(config->control_url));
  return kExitOk;
}

}  // namespace tandem::cli
