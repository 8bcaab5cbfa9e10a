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
#pragma once

#include "tandem/plan.h"

namespace tandem {

class ControlStore;
class Migration;
class Store;

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

}  // namespace tandem
