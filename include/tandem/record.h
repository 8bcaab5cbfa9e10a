// Record: a key and named fields (the non-key columns of a collection).
// Thread safety: plain values.
#pragma once

#include <map>
#include <string>

#include "tandem/key.h"
#include "tandem/value.h"

namespace tandem {

// Field name -> value, ordered by name (a canonical order for hashing).
using FieldMap = std::map<std::string, Value, std::less<>>;

struct Record {
  Key key;
  FieldMap fields;

  bool operator==(const Record&) const = default;
  // "{id: 42, email: 'a@b', ...}"-style, abbreviated; for reports and messages.
  std::string to_display() const;
};

}  // namespace tandem
