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

// New's column for c: the type tandem creates for it (sql_type, text keys in
// COLLATE "C") when like is null, else the closest PostgreSQL type that holds
// every value of the column like describes (old's own declaration when old is
// PostgreSQL too), with a note when something like declares is not kept.
Store::ColumnDefinition column_definition(const Column& c, bool key, const ColumnShape* like);

}  // namespace tandem::postgres
