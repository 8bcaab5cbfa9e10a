// CollectionSchema: the name, key columns and value columns of a collection
// (a table in SQL stores). Every identifier is validated at config time so
// that stores can quote it safely; values always travel as bound parameters.
#pragma once

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
