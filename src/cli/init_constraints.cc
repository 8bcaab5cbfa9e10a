// `tandem init --constraints [--dry-run]`: creates in new the relations
// (old's foreign keys between configured collections) new lacks, once the
// backfill is complete and verify clean; --dry-run prints the statements. The
// logic is the library's create_relations_in_new (tandem/operator_tools.h).
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"

namespace tandem::cli {

int run_init_constraints_command(const GlobalOptions& global, bool dry_run) {
  auto migration = open_operator(global);
  if (!migration.ok()) return report(migration.status());
  auto lines = create_relations_in_new(**migration, dry_run);
  if (!lines.ok()) return report(lines.status());
  for (const std::string& line : *lines) fmt::print("{}\n", line);
  if (lines->empty()) fmt::print("-- no relations: old has no foreign key between configured collections\n");
  return kExitOk;
}

}  // namespace tandem::cli
