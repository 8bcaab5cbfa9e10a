// valid_utf8 (simdjson's validator) against a byte-at-a-time reference of
// strict UTF-8: every sequence of 1 to 3 bytes, every 4-byte sequence whose
// first byte can start one (with sampled continuations), and the same
// sequences after 63 ASCII bytes (across the validator's 64-byte blocks).
#include "core/utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace tandem {
namespace {

bool reference(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

void expect_same(const std::string& s, size_t& mismatches) {
  for (const std::string& text : {s, std::string(63, 'a') + s, s + "tail"}) {
    if (valid_utf8(text) != reference(text) && ++mismatches <= 5) {
      ADD_FAILURE() << "bytes of length " << text.size() << " ending in " << std::hex
                    << static_cast<int>(static_cast<unsigned char>(text.back())) << ": valid_utf8 says "
                    << valid_utf8(text);
    }
  }
}

TEST(Utf8, TheValidatorAgreesWithAByteAtATimeReference) {
  size_t mismatches = 0, valid = 0;
  std::string s;
  for (int a = 0; a < 256; ++a) {
    s.assign(1, static_cast<char>(a));
    expect_same(s, mismatches);
    for (int b = 0; b < 256; ++b) {
      s.assign({static_cast<char>(a), static_cast<char>(b)});
      expect_same(s, mismatches);
      if (a < 0xE0 || a > 0xF4) continue;  // three and four bytes only after a lead that can start them
      for (int c = 0; c < 256; ++c) {
        s.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
        if (reference(s)) ++valid;
        expect_same(s, mismatches);
        if (a < 0xF0) continue;
        for (int d : {0x00, 0x7f, 0x80, 0x8f, 0x90, 0xbf, 0xc0, 0xff}) {
          s.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)});
          expect_same(s, mismatches);
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(valid, 61440u) << "three-byte sequences: U+0800..U+FFFF less the 2,048 surrogates";
}

}  // namespace
}  // namespace tandem
