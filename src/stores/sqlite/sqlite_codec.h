// How the SQLite store maps values to SQLite and back, and what it reads of an
// existing table's catalog (its keys, which key columns can hold NULL, their
// collations).
//
// Exact or refused: check_exact() refuses, before anything is written, a value
// that SQLite would store as something else (NaN as NULL, -0.0 as 0) or that
// tandem could not read back equal (invalid UTF-8 text, a timestamp outside
// Timestamp's range, a value over SQLite's length limit); read_value() refuses
// a stored value the column's type does not express exactly (2 in a bool
// column, a real in an int column, an out-of-range timestamp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stores/sql_text.h"
#include "stores/sqlite/sqlite_connection.h"
#include "tandem/schema.h"
#include "tandem/value.h"

namespace tandem::sqlite {

// The column type tandem creates for a value type ("INTEGER", "TEXT", ...).
std::string_view sql_type(Type type);
// Whether a column declared as declared holds values of type: sql_type(type),
// or for dates and times also the names hand-written schemas use (DATE, TIME,
// DATETIME, TIMESTAMP), all stored as text.
bool compatible(Type type, std::string_view declared);
// The text a date, time or datetime is stored as: "2024-05-01", "12:00:00",
// "2024-05-01 12:00:00" (SQLite's own forms), with ".ffffff" when the
// fraction is not zero; fixed widths, so text order is time order.
std::string calendar_text(const Value& v);

// Why value, written to a column of its type, would not read back equal; Ok
// if it would. max_bytes is SQLite's length limit (SQLITE_LIMIT_LENGTH).
Status check_exact(const Value& value, int64_t max_bytes);

// Checks every key part and field of a record (or patch) with check_exact,
// and the total size against max_bytes: kInvalidArgument naming the store,
// the collection, the record and the field.
Status check_record_exact(std::string_view store, const CollectionSchema& schema, const Key& key,
                          const FieldMap& fields, int64_t max_bytes);

// Binds value; a value SQLite refuses (too big) is kInvalidArgument.
Status bind_value(Statement& st, int index, const Value& value);

// Reads column i as c's type; kCorruption with the reason alone (the caller
// names the collection, the record and the field).
Result<Value> read_value(const Statement& st, int i, const Column& c);

// Column i as stored, for messages and the quarantine: NULL, 5, 1.5, 'text',
// x'ff41' (text that is not UTF-8 shows as bytes).
std::string raw_value(const Statement& st, int i);

// What an existing table's catalog says.
struct TableCatalog {
  std::unordered_map<std::string, std::string> column_types;  // name -> declared type
  std::vector<TableKey> keys;  // the primary key (passed as not nullable), unique indexes
  // Columns that can hold NULL whatever they are declared: not NOT NULL, not
  // the rowid, not a WITHOUT ROWID table's primary key (SQLite lets the
  // primary key of a rowid table hold NULL).
  std::unordered_map<std::string, bool> may_hold_null;
  std::unordered_map<std::string, std::string> collation;  // name -> "BINARY", "NOCASE", ...
  // How to name the rowid ("_rowid_", ...), empty without one (WITHOUT ROWID,
  // or every alias is a column's name).
  std::string rowid;
};

// Reads the catalog of table (unquoted name) in the main schema; an absent
// table gives empty column_types.
Result<TableCatalog> read_catalog(Connection& conn, const std::string& table);

}  // namespace tandem::sqlite
