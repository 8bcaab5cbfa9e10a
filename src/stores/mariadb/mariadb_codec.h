// MariaDB values: how each tandem type is stored, read back and refused.
//
// A column's engine type (information_schema.COLUMNS) decides the codec: a
// uuid in BINARY(16) is its 16 bytes, in CHAR/VARCHAR only the 36-character
// 8-4-4-4-12 text; a timestamp in DATETIME(p) keeps p fraction digits. Writes
// are exact or refused: check_exact() refuses, before anything is sent, a
// value the column would round, pad, truncate or read back otherwise.
// Thread safety: plain functions over plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "stores/mariadb/mariadb_connection.h"
#include "tandem/schema.h"
#include "tandem/value.h"

namespace tandem::mariadb {

// One column of an existing table, as information_schema.COLUMNS describes it.
struct ColumnType {
  std::string data_type;    // DATA_TYPE: "decimal", "char", "datetime", ...
  std::string column_type;  // COLUMN_TYPE: "decimal(65,30)", "bigint(20) unsigned", ...
  std::string charset;      // CHARACTER_SET_NAME; empty for binary strings and non-strings
  std::string collation;    // COLLATION_NAME; empty when none
  bool nullable = true;
  int64_t precision = -1;           // NUMERIC_PRECISION, -1 when NULL
  int64_t scale = -1;               // NUMERIC_SCALE
  int64_t datetime_precision = -1;  // DATETIME_PRECISION
  int64_t max_chars = -1;           // CHARACTER_MAXIMUM_LENGTH
  int64_t max_bytes = -1;           // CHARACTER_OCTET_LENGTH

  bool is_unsigned() const { return column_type.find("unsigned") != std::string::npos; }
  // A binary string (BINARY, VARBINARY, BLOB): bytes, no character set.
  bool is_binary_string() const;
};

// The column types tandem creates.
std::string_view key_sql_type(Type type);
std::string_view sql_type(Type type);
// Whether a column of DATA_TYPE t can be read as type.
bool compatible(Type type, std::string_view t);
// A column type tandem cannot use for type although compatible() accepts
// the DATA_TYPE (a uuid in BINARY(n) with n != 16): the reason, else empty.
std::string unusable(Type type, const ColumnType& ct);

// "2024-05-01 12:00:00.123456": DATETIME(6) in UTC, the session's time zone.
std::string datetime_text(const Timestamp& t);

// The value as a bound parameter for a column of type ct.
Param to_param(const ColumnType& ct, const Value& v);
// The bytes the value's parameter takes in a COM_STMT_EXECUTE packet (an
// upper bound), without building it.
size_t param_bytes(const Value& v);

// The value of column col of row r as type, read from a column of type ct;
// kCorruption with the reason (naming neither record nor field) if it is not
// one: a zero or impossible date, invalid UTF-8, a uuid that is not 8-4-4-4-12
// text or 16 bytes, an integer out of range, ... A uuid key in text under a
// case-sensitive collation must be lower case: upper-case text orders apart
// from the UUID (ranges would miss it) and can repeat a lower-case twin.
Result<Value> from_row(Type type, const ColumnType& ct, const Row& r, size_t col, bool key = false);

// Whether v can be written to a column of type ct and read back equal: the
// reason it cannot (naming neither record nor field), else empty.
std::string check_exact(const ColumnType& ct, const Value& v);

// The portable digest (store.h) of a column: its canonical text, and a
// condition (0 or 1, never NULL) true when the row's value decodes. nullopt
// terms mean the column's type is not covered.
// (mariadb_terms.cc)
std::string portable_term(const Column& c, const ColumnType& ct);
std::string decodable_condition(const Column& c, const ColumnType& ct, bool key);

// Whether a uuid key in text must be lower case: under a case-sensitive
// collation upper-case hex orders apart from the UUID's bytes.
bool lower_case_only(const ColumnType& ct);

}  // namespace tandem::mariadb
