// OperatorTools: direct access to a migration's databases and control store,
// bypassing the routing, for operator tools only: the CLI, the backfill,
// verify and repair, the stress harness and tests. A service reads and writes
// through Migration::collection() and nothing else: a write made through
// OperatorTools is not routed, so no write secondary, repair queue or
// tombstone rule applies to it.
//
//   OperatorTools tools(*migration);
//   auto step = tools.control().current_step();
//
// Ownership: borrows the Migration, which must outlive it. Thread safety:
// that of the stores and the control store (safe to share across threads).
//
// Also here: the two operator actions that run without a Migration, because
// a Migration cannot open before the first or after the second:
// init_new_tables (`tandem init`) and finish_migration (`tandem finish`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tandem/control_store.h"
#include "tandem/plan.h"
#include "tandem/status.h"

namespace tandem {

struct Config;
class ControlStore;
class Migration;
class Store;

// What init_new_tables found or did for one collection.
struct InitOutcome {
  enum class Action { kExists, kCreated, kWouldCreate };
  std::string collection;
  Action action = Action::kExists;
  std::string sql;  // the CREATE TABLE statement (kCreated, kWouldCreate)
  // Per column (key columns first), how old declares it, the type tandem
  // carries it as, and new's type (kCreated, kWouldCreate; new_type empty
  // when new was not reachable) with why it differs from old's if it may
  // refuse or change something (Store::ColumnDefinition::note).
  struct ColumnMapping {
    std::string column;
    std::string old_type;  // empty: old does not describe it (new_only, mapped, SQLite)
    std::string tandem_type;
    std::string new_type;
    std::string note;
  };
  std::vector<ColumnMapping> columns;
};

// `tandem init`: the only thing in tandem that creates a collection's table.
// For every collection of the config, checks old's table (through the
// config's mapping; skipped for `new_only` collections) and new's, then
// creates new's where it is missing, each column of the closest type of new's
// engine that holds every value old's column can hold (Store::column_shapes,
// Store::table_definition). Creates nothing at all if any
// collection's old table is missing (kFailedPrecondition naming it and the
// fix: the name, or `new_only = true`) or does not fit the config, or if a
// table of new exists but does not fit (the error of ensure_collection).
// With dry_run, creates nothing and returns the statements; new_store may
// then be null (new not reachable): old is checked, and every collection is
// kWouldCreate without a statement. old_store is old as opened (unmapped),
// opened without tandem's side table.
Result<std::vector<InitOutcome>> init_new_tables(const Config& config, Store& old_store, Store* new_store,
                                                 bool dry_run);

// What finish_migration did.
struct FinishReport {
  FinishRecord record;
  bool already_finished = false;  // a previous run had marked it; side tables dropped again
};

// `tandem finish`: ends a migration that has reached the last step of its
// plan. Refuses (kFailedPrecondition listing every reason) unless: the
// current step is the last; every collection's latest verify is clean and
// ran at the current step version (after the last step was entered); the
// repair queue is empty; no instance is live (services still linking tandem
// would write tombstones into the table this drops: redeploy them to use new
// directly first). Then marks the migration finished in the control store
// (which keeps its whole history as the archive; change_step and
// Migration::open refuse from then on) and drops tandem's side tables from
// new (Store::drop_tandem_tables). Old is never touched. Idempotent: run
// again after a failure, it drops what is left.
Result<FinishReport> finish_migration(const Config& config);

// `tandem instances forget ID --reason R`: an operator declares a silent
// instance dead, so that step moves no longer wait for it (under fence =
// "operator" a silent instance blocks every move until then). Refused
// (kFailedPrecondition) while the instance is live: its heartbeat is younger
// than its lease (instance_timeout), so it may be routing; and without a
// reason (kInvalidArgument). Recorded with the reason and the actor
// (ControlStore::forgotten_instances). Only forget an instance whose process
// is known to be stopped: one that comes back routes by its last step until
// its next refresh, which is what the fence was holding the moves for.
Result<InstanceForgotten> forget_instance(const Config& config, ControlStore& control,
                                          std::string_view instance_id, std::string_view reason);

class OperatorTools {
 public:
  explicit OperatorTools(Migration& migration) : migration_(migration) {}

  // The control store the migration routes by.
  ControlStore& control() const;
  // The database on side: old as the migration sees it (in new's shape when
  // the config maps collections), or new.
  Store& store(Side side) const;

 private:
  Migration& migration_;
};

// Relations (docs/ARCHITECTURE.md, "Relations"), in relation_init.cc.
//
// `tandem init`, after init_new_tables with the same stores: one line per
// relation tandem keeps (old's foreign keys between configured collections)
// saying what is done with it in new: not created now (a copy in key order
// cannot respect it; `tandem init --constraints` after the backfill), or
// already there (then the backfill may stop on it). Creates in new, unless
// dry_run, the index on each relation's child columns (every parent delete
// searches by them). new_store may be null with dry_run.
Result<std::vector<std::string>> init_relations(const Config& config, Store& old_store, Store* new_store,
                                                bool dry_run);

// `tandem init --constraints [--dry-run]`: creates in new each relation new
// lacks. Refused, naming every reason, unless for each relation both
// collections' backfill is complete, their latest verify is clean and newer
// than that completion, and no repair is pending. Returns one line per
// relation (the statements with dry_run).
Result<std::vector<std::string>> create_relations_in_new(Migration& migration, bool dry_run);

}  // namespace tandem
