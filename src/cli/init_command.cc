// `tandem init [--dry-run]`: creates new's tables from the config (new's
// columns, the target of any mapping) where they do not exist; --dry-run
// prints the statements instead. Never touches old.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "tandem/config.h"
#include "tandem/store.h"

namespace tandem::cli {

int run_init_command(const GlobalOptions& global, bool dry_run) {
  auto config = Config::load_file(global.config_path);
  if (!config.ok()) return report(config.status());
  // A dry run creates nothing, not even tandem's side table.
  StoreOptions options;
  options.configure = !dry_run;
  options.keep_tombstones = !dry_run;
  auto store = open_store("new", config->new_url, options);
  if (!store.ok()) {
    if (!dry_run) return report(store.status());
    fmt::print("-- new is not reachable ({}); the statements tandem would run:\n", store.status().message());
  }
  int created = 0, existing = 0;
  for (const CollectionSchema& schema : config->collections) {
    bool missing = true;
    if (store.ok()) {
      Status s = (*store)->ensure_collection(schema, /*create_if_missing=*/false);
      if (s.ok()) {
        fmt::print("-- '{}': the table exists in new with the configured columns\n", schema.name);
        ++existing;
        continue;
      }
      missing =
          s.code() == Code::kFailedPrecondition && s.message().find("there is no table") != std::string::npos;
      if (!missing) return report(s);  // it exists but does not match: the operator decides
    }
    if (dry_run) {
      Result<std::string> sql =
          store.ok() ? (*store)->create_table_sql(schema) : Status::Unavailable("new is not reachable");
      if (!sql.ok()) {
        // Without a connection, say what each engine would run is not known: name the columns.
        fmt::print("-- '{}': would be created with key {} and {} column(s)\n", schema.name,
                   schema.key_columns.size(), schema.columns.size());
        continue;
      }
      fmt::print("{};\n", *sql);
      ++created;
      continue;
    }
    Status s = (*store)->ensure_collection(schema, /*create_if_missing=*/true);
    if (!s.ok()) return report(s);
    fmt::print("-- '{}': created in new\n", schema.name);
    ++created;
  }
  fmt::print("-- {} table(s) {}, {} already there\n", created, dry_run ? "to create" : "created", existing);
  return kExitOk;
}

}  // namespace tandem::cli
