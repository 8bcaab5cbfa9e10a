// The backfill's start checks beside check_backfill_allowed
// (tandem/backfill.h). Internal to the backfill.
#pragma once

#include <vector>

#include "tandem/migration.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem {

// A copy in key order cannot respect a foreign key new enforces: a child
// copied (or written live) before its parent is refused. kFailedPrecondition
// naming each relation and the fix while a child collection among schemas
// still has records to copy; Ok otherwise.
Status check_new_enforces_no_relation(Migration& migration,
                                      const std::vector<const CollectionSchema*>& schemas);

}  // namespace tandem
