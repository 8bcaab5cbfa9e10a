// What `tandem init` needs from MariaDB: how an existing table declares its
// columns (read_column_types, shape_of) and the closest MariaDB type for a
// column of new given how old declares it (column_definition).
// Thread safety: plain functions over plain values, and a connection the
// caller holds.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "stores/mariadb/mariadb_codec.h"
#include "tandem/store.h"

namespace tandem::mariadb {

// Every column of the table, by name, as information_schema.COLUMNS describes
// it; empty when there is no such table.
Result<std::unordered_map<std::string, ColumnType>> read_column_types(Connection& conn,
                                                                      std::string_view table);

// The engine-neutral shape of a column (ENUM and SET members parsed from
// COLUMN_TYPE).
ColumnShape shape_of(const ColumnType& ct);

// New's column for c: the type tandem creates for it (key_sql_type /
// sql_type) when like is null, else the closest MariaDB type that holds
// every value of the column like describes (old's own declaration when old
// is MariaDB too), with a note when something like declares is not kept.
Store::ColumnDefinition column_definition(const Column& c, bool key, const ColumnShape* like);

}  // namespace tandem::mariadb
