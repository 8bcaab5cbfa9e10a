// The canonical text of a JSON document, fast: what nlohmann's dump() of its
// parse gives (members sorted by key bytes, no whitespace, strings escaped as
// dump() escapes them), computed with simdjson's parser and no DOM of our own.
// Documents it leaves to the general path return nullopt: floating-point
// numbers (whose shortest rendering is nlohmann's), duplicate keys, integers
// beyond 64 bits, nesting beyond 1024, and anything simdjson refuses
// (including invalid JSON and invalid UTF-8, which the general path reports).
// Thread safety: each thread has its own parser.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tandem {

std::optional<std::string> canonical_json_fast(std::string_view text);

}  // namespace tandem
