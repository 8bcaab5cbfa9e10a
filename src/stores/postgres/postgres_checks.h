// What the PostgreSQL store checks so that a copy is exact or refused: the
// table's keys (is the configured key one?), and the values a column cannot
// hold exactly (refused before anything is sent, never rounded or cut).
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stores/postgres/postgres_connection.h"
#include "stores/sql_text.h"
#include "tandem/key.h"
#include "tandem/record.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem::postgres {

// The primary key and unique indexes of table in the current schema
// (partial and expression indexes left out: they do not make a key).
Result<std::vector<TableKey>> read_table_keys(Connection& conn, std::string_view table);

// A NUMERIC column's declared precision and scale (0, 0: unconstrained).
struct NumericLimit {
  int precision = 0;
  int scale = 0;
};

// Reads the declared limits of the table's NUMERIC columns.
Result<std::unordered_map<std::string, NumericLimit>> read_numeric_limits(Connection& conn,
                                                                          std::string_view table);

// kInvalidArgument naming the collection, record and field for a value that
// PostgreSQL cannot hold exactly: text (or a text key) with a NUL byte
// (libpq would cut it there), a timestamp outside Timestamp's range, a
// decimal with more digits than its NUMERIC(p, s) column keeps (PostgreSQL
// would round it). Values the server refuses by itself (a JSON string with
// \u0000, a key too large for its index) come back as kInvalidArgument too.
// A double into a REAL (float4) column is refused unless float4 holds it
// exactly (float4_columns names those columns).
Status check_storable(std::string_view store, const CollectionSchema& schema,
                      const std::unordered_map<std::string, NumericLimit>& numeric,
                      const std::set<std::string>& float4_columns, const Key& key, const FieldMap& fields);

// The REAL (float4) columns of the table: read as float, then widened to
// double exactly (read as a double from their shortest text, 0.1f would
// become 0.1, another number).
Result<std::set<std::string>> read_float4_columns(Connection& conn, std::string_view table);

}  // namespace tandem::postgres
