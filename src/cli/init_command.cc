// `tandem init [--dry-run]`: creates new's tables from the config (new's
// columns, the target of any mapping) where they do not exist, for the
// collections whose table old has (or that are `new_only`); --dry-run prints
// the statements instead. Never touches old. The logic is the library's
// init_new_tables (tandem/operator_tools.h).
#include <fmt/format.h>

#include <algorithm>

#include "cli/commands.h"
#include "cli/common.h"
#include "tandem/config.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"

namespace tandem::cli {

namespace {

// The type mapping of one table, as SQL comments: old's declared type, the
// type tandem carries the values as, new's type, and the notes.
void print_mapping(const InitOutcome& o) {
  if (o.columns.empty()) return;
  size_t wc = 6, wo = 3, wt = 6;
  for (const auto& m : o.columns) {
    wc = std::max(wc, m.column.size());
    wo = std::max(wo, m.old_type.empty() ? size_t{1} : m.old_type.size());
    wt = std::max(wt, m.tandem_type.size());
  }
  fmt::print("-- '{}': {:<{}}  {:<{}}  {:<{}}  {}\n", o.collection, "column", wc, "old", wo, "tandem", wt,
             "new");
  for (const auto& m : o.columns) {
    fmt::print("-- {:>{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", "", o.collection.size() + 2, m.column, wc,
               m.old_type.empty() ? "-" : m.old_type, wo, m.tandem_type, wt,
               m.new_type.empty() ? "(new not reachable)" : m.new_type);
    if (!m.note.empty()) fmt::print("-- {:>{}}  note: {}\n", "", o.collection.size() + 2, m.note);
  }
}

}  // namespace

int run_init_command(const GlobalOptions& global, bool dry_run) {
  auto config = Config::load_file(global.config_path);
  if (!config.ok()) return report(config.status());
  // A dry run creates nothing, not even tandem's side table.
  StoreOptions new_options;
  new_options.configure = !dry_run;
  new_options.keep_tombstones = !dry_run;
  auto old_store =
      open_store("old", config->old_url, StoreOptions{.keep_tombstones = false, .configure = false});
  auto new_store = open_store("new", config->new_url, new_options);
  if (!old_store.ok()) return report(old_store.status());
  if (!new_store.ok()) {
    if (!dry_run) return report(new_store.status());
    // Without new, what its engine would run is not known: the columns are named instead.
    fmt::print("-- new is not reachable ({}); the tables tandem would create:\n",
               new_store.status().message());
  }
  auto outcomes = init_new_tables(*config, **old_store, new_store.ok() ? new_store->get() : nullptr, dry_run);
  if (!outcomes.ok()) return report(outcomes.status());
  int created = 0, existing = 0;
  for (const InitOutcome& o : *outcomes) {
    switch (o.action) {
      case InitOutcome::Action::kExists:
        fmt::print("-- '{}': the table exists in new with the configured columns\n", o.collection);
        ++existing;
        break;
      case InitOutcome::Action::kWouldCreate:
        print_mapping(o);
        if (o.sql.empty()) {
          const CollectionSchema* schema = config->find_collection(o.collection);
          fmt::print("-- '{}': key {} and {} column(s)\n", o.collection, schema->key_columns.size(),
                     schema->columns.size());
        } else {
          fmt::print("{};\n", o.sql);
        }
        ++created;
        break;
      case InitOutcome::Action::kCreated:
        print_mapping(o);
        fmt::print("-- '{}': created in new{}\n", o.collection,
                   config->is_new_only(o.collection) ? " (new_only: old has no table for it)" : "");
        ++created;
        break;
    }
  }
  fmt::print("-- {} table(s) {}, {} already there\n", created, dry_run ? "to create" : "created", existing);
  // Old's foreign keys: created in new only by `tandem init --constraints`.
  auto relations = init_relations(*config, **old_store, new_store.ok() ? new_store->get() : nullptr, dry_run);
  if (!relations.ok()) return report(relations.status());
  for (const std::string& line : *relations) fmt::print("{}\n", line);
  return kExitOk;
}

}  // namespace tandem::cli
