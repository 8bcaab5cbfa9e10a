// UTF-8 validation shared by the stores that read text they did not write.
#pragma once

#include <string_view>

namespace tandem {

// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace tandem
