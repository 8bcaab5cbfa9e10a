// CollectionSchema: the name, key columns and value columns of a collection
// (a table in SQL stores). Every identifier is validated at config time so
// that stores can quote it safely; values always travel as bound parameters.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/record.h"
#include "tandem/status.h"
#include "tandem/value.h"

namespace tandem {

struct Column {
  std::string name;
  Type type = Type::kText;
  bool nullable = true;
  bool operator==(const Column&) const = default;
};

struct CollectionSchema {
  std::string name;
  std::vector<Column> key_columns;  // in key order; never nullable
  std::vector<Column> columns;      // value columns

  // Checks identifiers, key column types (int, text, bytes, uuid, timestamp),
  // duplicate names. The error names the collection and the bad entry.
  Status validate() const;
  const Column* find_column(std::string_view name) const;
  // Checks that a record (or, with partial = true, a patch) fits: key arity and
  // types, known fields, value types, NOT NULL. The error names the record and
  // the field.
  Status check_record(const Record& record) const;
  Status check_fields(const Key& key, const FieldMap& fields, bool partial) const;
  bool operator==(const CollectionSchema&) const = default;
};

// How an existing table declares one column, in engine-neutral terms: what
// `tandem init` reads from old (Store::column_shapes) to give new's column
// the closest type of new's engine that holds every value old's can hold,
// keeping lengths, precisions, fraction digits and enumerated values. A field
// that does not apply keeps its default.
struct ColumnShape {
  std::string engine;              // "mariadb", "postgres" or "sqlite": whose words declared is in
  std::string declared;            // the column type as that engine names it: "int(10) unsigned"
  std::string charset, collation;  // text columns where the engine has them (MariaDB)
  int int_bytes = 0;               // integers: 1, 2, 3, 4 or 8 bytes (YEAR: 2; BIT(n): n bits)
  int bits = 0;                    // BIT(n): n
  bool is_unsigned = false;
  int64_t max_chars = -1;  // text of at most n characters (CHAR/VARCHAR(n), ENUM, SET)
  int64_t max_bytes = -1;  // bytes of at most n (BINARY/VARBINARY(n))
  bool fixed = false;      // CHAR(n), BINARY(n): padded to n
  int precision = -1;      // DECIMAL/NUMERIC(p, s); -1: none declared
  int scale = -1;
  int fraction_digits = -1;         // TIME/DATETIME/TIMESTAMP(p)
  bool single_float = false;        // FLOAT, REAL (4 bytes)
  std::vector<std::string> labels;  // ENUM (in order) or SET members
  bool is_set = false;
  bool json_text = false;  // a JSON column that keeps its text as written (PostgreSQL json)
  bool operator==(const ColumnShape&) const = default;
};

// Column shapes by column name.
using ColumnShapes = std::map<std::string, ColumnShape, std::less<>>;

// A relation: a foreign key between two configured collections, as old
// declares it (read by Store::foreign_keys at open). tandem never emulates a
// referential action: the write primary's own foreign key changes the
// children, and tandem copies their outcome into the write secondary with the
// parent (docs/ARCHITECTURE.md, "Relations").
enum class ReferentialAction : uint8_t { kNoAction, kRestrict, kCascade, kSetNull, kSetDefault };
// "NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT" (the SQL words).
std::string_view referential_action_sql(ReferentialAction action);

struct Relation {
  std::string name;                     // the constraint's name in the database that declares it
  std::string child, parent;            // collections (tables)
  std::vector<std::string> columns;     // the child's columns, in constraint order
  std::vector<std::string> references;  // the parent's columns, paired with columns
  ReferentialAction on_delete = ReferentialAction::kNoAction;
  ReferentialAction on_update = ReferentialAction::kNoAction;
  bool validated = true;  // PostgreSQL NOT VALID: false
  // Why tandem cannot follow it (a column the mapping converts or puts in a
  // document: children cannot be searched by it in old); empty when it can.
  std::string unusable;

  // Whether the action changes child records (cascade, set null, set default).
  bool changes_children(bool deleting) const;
  // "salaries_ibfk_1: salaries (emp_no) -> employees (emp_no) ON DELETE CASCADE ON UPDATE NO ACTION"
  std::string to_display() const;
  bool operator==(const Relation&) const = default;
};

// A database identifier from configuration: [A-Za-z_][A-Za-z0-9_]{0,62}, not
// starting with "tandem_" (reserved for tandem's own tables).
Status validate_identifier(std::string_view what, std::string_view name);

}  // namespace tandem
