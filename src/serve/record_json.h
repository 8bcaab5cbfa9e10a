// Records as JSON, for `tandem serve` (docs/SERVE.md): one mapping per type,
// lossless both ways.
//
//   type        JSON                                  example
//   null        null
//   bool        true / false
//   int         a number within ±2^53, else a string  42, "9007199254740993"
//   double      a number (shortest exact spelling);   1.5, "NaN", "-Infinity"
//               NaN and ±Infinity as strings
//   decimal     a string (a number accepted)          "12.50" is read as 12.5
//   text        a string
//   bytes       a string, base64 (RFC 4648 §4, padded) "AP8="
//   timestamp   a string, RFC 3339, microseconds, Z   "2024-05-01T12:00:00.123456Z"
//   datetime    a string without zone                 "2024-05-01T12:00:00.123456"
//   date, time  strings                               "2024-05-01", "12:00:00.5"
//   uuid        a string                              "0f1e..."
//   json        the JSON value itself, numbers exact  {"a": [1, 2.50]}
//
// Input is read exactly: an int from "1e3" or 1.0 is refused rather than
// rounded, a JSON column keeps every digit of its numbers (the request body
// is never parsed into doubles), a string is refused where a number is due
// and the other way round except as the table says. Every error names the
// field (and the record's key when known).
// A record is one flat object: key columns and value columns by name.
// Thread safety: free functions of values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/record.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem::serve {

// Appends v as JSON (the table above).
void write_value_json(const Value& v, std::string& out);
// {"id":42,"email":"a@b",...}: key columns first, then value columns in
// schema order; a field the record lacks is null.
std::string record_to_json(const CollectionSchema& schema, const Record& record);

// The value of a column of type from raw, one JSON value's text as sent.
// kInvalidArgument naming field.
Result<Value> value_from_json(Type type, std::string_view raw, std::string_view field);

// An object of field name -> value from a request body. Key columns may be
// present (key then holds them: the caller checks they match the path's);
// an unknown field, a duplicate or a value of the wrong type is
// kInvalidArgument naming it. Not an object, or not JSON: kInvalidArgument.
struct ParsedObject {
  FieldMap fields;                        // value columns given
  std::vector<std::optional<Value>> key;  // per key column: given or not
};
Result<ParsedObject> parse_record_object(const CollectionSchema& schema, std::string_view body);

// {"keys":[{...key columns...}, ...]}: the keys of a batch get, at most
// max_keys. Errors name the entry by its index.
Result<std::vector<Key>> parse_key_list(const CollectionSchema& schema, std::string_view body,
                                        size_t max_keys);

// RFC 4648 base64 with padding; decode refuses anything else (naming what).
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

}  // namespace tandem::serve
