// When a backfill may start: check_backfill_allowed (tandem/backfill.h) and
// the relations new must not enforce yet.
#include <fmt/format.h>

#include <set>

#include "backfill/backfill_start.h"
#include "router/step_rules.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"

namespace tandem {

Result<std::vector<MoveProblem>> check_backfill_allowed(Migration& migration, bool old_is_frozen) {
  if (old_is_frozen) return std::vector<MoveProblem>{};
  ControlStore& control = OperatorTools(migration).control();
  BackfillStartContext context;
  context.plan = &migration.plan();
  TANDEM_ASSIGN_OR_RETURN(context.current, control.current_step());
  if (migration.plan().at(context.current.step_index).writes(Side::kNew)) {
    TANDEM_ASSIGN_OR_RETURN(context.instances, control.instances());
  }
  TANDEM_ASSIGN_OR_RETURN(context.now, control.clock_now());
  context.instance_timeout = migration.config().instance_timeout;
  context.fence = migration.config().fence;
  return check_backfill_start(context);
}

// A copy in key order cannot respect a foreign key new enforces: a child
// copied (or written live) before its parent is refused. Refused before
// anything is copied, naming each relation, while a child collection still
// has records to copy (docs/ARCHITECTURE.md, "Relations").
Status check_new_enforces_no_relation(Migration& migration,
                                      const std::vector<const CollectionSchema*>& schemas) {
  std::vector<std::string> enforced;
  std::set<std::string> copying;
  for (const CollectionSchema* schema : schemas) {
    TANDEM_ASSIGN_OR_RETURN(BackfillState state,
                            OperatorTools(migration).control().backfill_state(schema->name));
    if (!state.complete) copying.insert(schema->name);
  }
  if (copying.empty()) return Status::Ok();
  TANDEM_ASSIGN_OR_RETURN(std::vector<Relation> in_new,
                          OperatorTools(migration).store(Side::kNew).foreign_keys());
  for (const Relation& r : in_new) {
    if (!copying.contains(r.child) || migration.config().find_collection(r.parent) == nullptr) continue;
    enforced.push_back(fmt::format("{} ({} -> {})", r.name, r.child, r.parent));
  }
  if (enforced.empty()) return Status::Ok();
  return Status::FailedPrecondition(fmt::format(
      "refused to start the backfill: new enforces {} foreign key(s) between the collections it would copy: "
      "{}; a "
      "copy in key order cannot respect them (a child may arrive before its parent). Drop them in new and "
      "create them once the backfill is complete and verified, with `tandem init --constraints`",
      enforced.size(), fmt::join(enforced, ", ")));
}

}  // namespace tandem
