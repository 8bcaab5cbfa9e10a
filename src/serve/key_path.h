// A record's key in a URL path segment (docs/SERVE.md):
//
//   /v1/collections/users/records/42           key (42)
//   /v1/collections/orders/records/7,eu        key (7, 'eu')
//   /v1/collections/files/records/a%2Fb%2Cc    key ('a/b,c')
//
// The segment is the key's columns in key order, separated by ',', each
// percent-encoded (RFC 3986): a ',' or '/' inside a column is %2C or %2F,
// so the split is unambiguous. A column is written as its JSON string form
// (record_json.h) without quotes: int in decimal, text as UTF-8, bytes in
// base64, uuid and timestamp as text. The segment must be taken from the
// request's raw target, before any decoding.
// Thread safety: free functions of values.
#pragma once

#include <string>
#include <string_view>

#include "tandem/key.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem::serve {

// kInvalidArgument naming the key column when the segment does not name a
// key of schema (wrong arity, bad escape, a value its type refuses).
Result<Key> key_from_path(const CollectionSchema& schema, std::string_view segment);
// The segment for key (what key_from_path reads back).
std::string key_to_path(const Key& key);

// RFC 3986 percent-decoding; kInvalidArgument on a malformed escape.
Result<std::string> percent_decode(std::string_view text);
// Percent-encodes all but unreserved characters.
std::string percent_encode(std::string_view text);

}  // namespace tandem::serve
