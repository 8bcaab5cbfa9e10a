// Mapping: how a record of old becomes a record of new, and back, when the two
// databases shape a collection differently. In the config:
//
//   [[collections]]                 # new's table: the shape the service uses
//   name = "users"
//   key = ["id"]
//   columns = [ { name = "id", type = "int" }, { name = "email", type = "text" }, ... ]
//
//   [collections.old]               # old's table, when it differs
//   table = "user_docs"             # default: the collection's name
//   key = ["id"]                    # same number and types as new's key
//   columns = [ { name = "id", type = "int" }, { name = "doc", type = "json" } ]
//   document = "doc"                # optional: old's fields are this JSON column's members
//   unknown_fields = "error"        # old fields no column takes: error | drop | keep
//   keep_in = "extra"               # with keep: the json column of new that receives them
//   map = [ { column = "email", from = "mail" },
//           { column = "signed_up", from = "created", convert = "timestamp:%Y-%m-%d %H:%M:%S" },
//           { column = "city", from = "address.city" } ]   # a path into the document
//
// A column not in `map` comes from the old field of the same name; a field
// set to "" in `drop` is ignored. Conversions: "bool" (integer 0/1 or
// true/false text to bool), "timestamp:FORMAT" (text in strftime FORMAT, UTC),
// "decimal:SCALE" (a decimal with at most SCALE fraction digits: more is an
// error, never rounded), "json" (text or a nested value to a json column),
// "text" (a scalar to text). Without one, types must match, or widen (int to
// double or decimal); nested objects and arrays of a document go to json
// columns. Every conversion has an inverse, used when the service writes old.
//
// A record that does not convert fails with kInvalidArgument naming the field
// and the reason; the backfill quarantines it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/record.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem {

struct FieldMapping {
  std::string column;   // new's value column
  std::string from;     // old's column, or a dotted path in old's document
  std::string convert;  // "" or one of the conversions above
};

enum class UnknownFields : uint8_t { kError, kDrop, kKeep };

struct CollectionMapping {
  CollectionSchema old_schema;          // old's table; its name is old's table name
  std::optional<std::string> document;  // old's JSON column holding the fields
  UnknownFields unknown = UnknownFields::kError;
  std::string keep_in;               // new's json column for unknown fields (kKeep)
  std::vector<FieldMapping> fields;  // as configured; defaults are filled in by Mapper
  std::vector<std::string> drop;     // old fields deliberately not migrated
};

// Converts records between the two shapes. Immutable after create(); safe to
// use from many threads.
class Mapper {
 public:
  // Checks the mapping against new's schema: every column has a source, every
  // conversion fits the types, keys match in number and type. kConfig names
  // the collection and the column.
  static Result<Mapper> create(const CollectionSchema& new_schema, const CollectionMapping& mapping);

  const CollectionSchema& old_schema() const { return mapping_.old_schema; }
  const CollectionSchema& new_schema() const { return new_schema_; }
  const CollectionMapping& mapping() const { return mapping_; }
  // Old fields (or document members) that the record of old has and no
  // column takes decide by unknown_fields.
  // bad_field, if given, receives the field at fault.
  Result<Record> to_new(const Record& old_record, std::string* bad_field = nullptr) const;
  // The record of old for a record of new. existing is old's current record
  // (or null): a document keeps its members that no column maps.
  Result<Record> to_old(const Record& new_record, const Record* existing) const;
  // Whether writing old needs its current record (a document, or columns of
  // old that no column of new maps).
  bool needs_existing() const { return needs_existing_; }

  // A conversion of the config ("", "bool", "json", "text", "decimal",
  // "decimal:SCALE", "timestamp:FORMAT") as create() parses it, once: the
  // per-value code never reads the config's text again.
  struct Conversion {
    enum class Kind : uint8_t { kNone, kBool, kJson, kText, kDecimal, kTimestamp };
    Kind kind = Kind::kNone;
    std::optional<int> scale;  // decimal:SCALE
    std::string format;        // timestamp:FORMAT (strftime)
    // nullopt: not a conversion tandem knows.
    static std::optional<Conversion> parse(std::string_view text);
  };

 private:
  struct Resolved {
    Column column;  // new's
    std::string from;
    std::vector<std::string> path;     // document path (document sources)
    std::optional<Column> old_column;  // relational sources
    Conversion convert;
  };
  CollectionSchema new_schema_;
  CollectionMapping mapping_;
  std::vector<Resolved> resolved_;
  bool needs_existing_ = false;
};

}  // namespace tandem
