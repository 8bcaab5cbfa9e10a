// What `tandem init` needs from PostgreSQL: how an existing table declares
// its columns (read_column_shapes) and the closest PostgreSQL type for a
// column of new given how old declares it (column_definition).
// Thread safety: plain functions over plain values, and a connection the
// caller holds.
#pragma once

#include <string_view>

#include "stores/postgres/postgres_connection.h"
#include "tandem/store.h"

namespace tandem::postgres {

// Every column of the table in the current schema, by name (enum members in
// their order); empty when there is no such table.
Result<ColumnShapes> read_column_shapes(Connection& conn, std::string_view table);

// The collation `tandem init` gives a key column that old compares case-
// insensitively, and the statement that creates it (ICU, nondeterministic:
// 'abc' and 'ABC' are one key). Probed against old's classes at open
// (postgres_key_collation.h).
inline constexpr const char* kKeyCollation = "tandem_ci";
inline constexpr const char* kCreateKeyCollation =
    "CREATE COLLATION IF NOT EXISTS tandem_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = "
    "false)";

// New's column for c: the type tandem creates for it (sql_type, text keys in
// COLLATE "C") when like is null, else the closest PostgreSQL type that holds
// every value of the column like describes (old's own declaration when old is
// PostgreSQL too; a key old compares case-insensitively in kKeyCollation),
// with a note when something like declares is not kept.
Store::ColumnDefinition column_definition(const Column& c, bool key, const ColumnShape* like);

}  // namespace tandem::postgres
