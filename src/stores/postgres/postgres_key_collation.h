// How a PostgreSQL table's keys are identified when a text key column has a
// nondeterministic collation (ICU, deterministic = false: 'abc' and 'ABC'
// one key). tandem reads no weights from PostgreSQL: such a column is
// accepted only in new, against an old MariaDB/MySQL key whose collation
// (tandem/key_identity.h) puts the keys both can hold in the same classes,
// probed here; new then identifies keys by old's weights narrowed to those
// keys (TextCollation::narrowed_to_ascii). Included by the PostgreSQL store
// only.
#pragma once

#include <memory>
#include <string_view>

#include "stores/postgres/postgres_connection.h"
#include "tandem/key_identity.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem::postgres {

// Null when no text key column of schema's table has a nondeterministic
// collation. Else old (what Store::offer_key_identity was given) must
// identify that column by a collation, and the column's collation must put
// every pair of probe keys (each printable ASCII character, "x" followed by
// each, and a few words) in the same classes as old's narrowed collation:
// then new's identity, else kFailedPrecondition naming the store, the
// column, both collations, the pair that differs and the fix.
Result<std::shared_ptr<const KeyIdentity>> key_identity_in_new(Connection& conn, std::string_view store,
                                                               const CollectionSchema& schema,
                                                               const KeyIdentity* old);

}  // namespace tandem::postgres
