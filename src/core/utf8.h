// UTF-8 validation shared by the stores that read text they did not write.
#pragma once

#include <string>
#include <string_view>

namespace tandem {

// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s);

// The code points of s, or false if s is not strict UTF-8.
bool decode_utf8(std::string_view s, std::u32string& out);

// Appends the UTF-8 bytes of code point c (at most U+10FFFF, no surrogate).
void append_utf8(std::string& out, char32_t c);

}  // namespace tandem
