// The canonical text of a JSON value (the form value.h's Json states), on two
// paths that give the same text:
// - canonical_json_fast: simdjson's parser, no DOM of our own; nullopt for
//   what it leaves to the exact path: floating-point or big numbers (whose
//   exact text simdjson's DOM does not keep), duplicate keys, nesting beyond
//   Json::kMaxDepth, and anything simdjson refuses (including invalid JSON
//   and invalid UTF-8, which the exact path reports).
// - canonical_json_exact: nlohmann's SAX parser (iterative: no stack
//   overflow at any depth), numbers kept as exact decimals; the error says
//   why the text has no canonical form.
// Thread safety: each thread has its own parser.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tandem/status.h"

namespace tandem {

std::optional<std::string> canonical_json_fast(std::string_view text);
Result<std::string> canonical_json_exact(std::string_view text);

// The canonical spelling of a JSON number's exact value (see value.h).
Result<std::string> canonical_json_number(std::string_view text);

// Appends s as a JSON string: UTF-8 as it is, '"', '\\' and control
// characters escaped (as nlohmann's dump() with ensure_ascii = false).
void write_json_string(std::string_view s, std::string& out);

}  // namespace tandem
