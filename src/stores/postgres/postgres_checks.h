// What the PostgreSQL store checks so that a copy is exact or refused: the
// table's keys (is the configured key one?), and the values a column cannot
// hold exactly (refused before anything is sent, never rounded or cut).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stores/postgres/pg_connection.h"
#include "stores/sql_text.h"
#include "tandem/key.h"
#include "tandem/record.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem::pg {

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
Status check_storable(std::string_view store, const CollectionSchema& schema,
                      const std::unordered_map<std::string, NumericLimit>& numeric, const Key& key,
                      const FieldMap& fields);

}  // namespace tandem::pg
