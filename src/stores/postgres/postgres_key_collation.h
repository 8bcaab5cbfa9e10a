// Which key columns of a PostgreSQL table identify keys by more than their
// bytes: a nondeterministic collation (ICU, deterministic = false) makes
// 'abc' and 'ABC' one key. tandem identifies collated keys only from
// MariaDB/MySQL in this version (tandem/key_identity.h), so such a key is
// refused at open with the reason. Included by the PostgreSQL store only.
#pragma once

#include <string_view>

#include "stores/postgres/postgres_connection.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem::postgres {

// kFailedPrecondition naming the store, the column and the collation when a
// text key column of schema's table has a nondeterministic collation.
Status check_key_collations(Connection& conn, std::string_view store, const CollectionSchema& schema);

}  // namespace tandem::postgres
