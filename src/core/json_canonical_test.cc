#include "core/json_canonical.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace tandem {
namespace {

// The general path: what Json::parse gave before the fast path existed.
std::optional<std::string> general(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return std::nullopt;
  try {
    return doc.dump();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

TEST(CanonicalJsonFast, GivesWhatTheGeneralPathGivesOrDeclines) {
  const char* corpus[] = {
      R"({"b": [1, 2], "a": {"x": null}})",
      R"(  {"plan" : "pro", "score": 417, "tags": ["t3", "t9"], "bio": "aaaa"}  )",
      R"({"s": "tab\there \"quoted\" back\\slash \/ \u0001 \u001f \u007f \u00e9 é ✓ \ud83d\ude00"})",
      R"({"z": {}, "y": [], "x": [[]], "w": [{}], "": "empty key"})",
      R"({"B": 1, "a": 2, "A": 3, "b": 4, "é": 5, "e": 6, "aa": 7, "a a": 8})",
      R"([true, false, null, 0, -1, 9223372036854775807, -9223372036854775808, 18446744073709551615])",
      R"("just a string")",
      R"(42)",
      R"(-0)",
      R"(1.5)",
      R"({"price": 12.50})",
      R"(1e3)",
      R"(18446744073709551616)",
      R"({"dup": 1, "dup": 2})",
      R"({"a": )",
      R"([1, 2,])",
      "{\"bad utf8\": \"\xff\xfe\"}",
      R"({"lone": "\ud800"})",
      "",
      "   ",
      R"({} extra)",
  };
  for (const char* text : corpus) {
    std::optional<std::string> fast = canonical_json_fast(text);
    if (fast) {
      EXPECT_EQ(fast, general(text)) << text;
    } else {
      SCOPED_TRACE(text);  // declined: the general path decides (and may refuse)
    }
  }
  EXPECT_TRUE(canonical_json_fast(R"({"b": [1, 2], "a": {"x": null}})").has_value())
      << "the common case is fast";
  EXPECT_EQ(canonical_json_fast(R"({"b": [1, 2], "a": {"x": null}})"), R"({"a":{"x":null},"b":[1,2]})");
  EXPECT_FALSE(canonical_json_fast(R"({"dup": 1, "dup": 2})").has_value());
  EXPECT_FALSE(canonical_json_fast("{\"bad\": \"\xff\"}").has_value());
  EXPECT_FALSE(canonical_json_fast(R"({"a": )").has_value());
}

// Random documents: nested objects and arrays, keys and strings with every
// escape, control bytes and multi-byte UTF-8, integers at the 64-bit limits.
TEST(CanonicalJsonFast, RandomDocumentsMatchTheGeneralPath) {
  std::mt19937_64 rng(20261125);
  const std::vector<std::string> pieces = {"a",
                                           "b",
                                           "A",
                                           "é",
                                           "✓",
                                           "\\n",
                                           "\\t",
                                           "\\\"",
                                           "\\\\",
                                           "\\u0000",
                                           "\\u001f",
                                           "\\u00e9",
                                           "\\ud83d\\ude00",
                                           " ",
                                           "/",
                                           "\\/",
                                           "zz"};
  std::function<std::string(int)> value = [&](int depth) -> std::string {
    auto str = [&] {
      std::string s = "\"";
      for (int i = static_cast<int>(rng() % 6); i > 0; --i) s += pieces[rng() % pieces.size()];
      return s + "\"";
    };
    switch (depth > 4 ? rng() % 4 : rng() % 7) {
      case 0:
        return str();
      case 1:
        return std::to_string(static_cast<int64_t>(rng()));
      case 2:
        return rng() % 2 ? "true" : (rng() % 2 ? "false" : "null");
      case 3:
        return std::to_string(rng() % 3 == 0 ? rng() : rng() % 1000);
      case 4:
      case 5: {
        std::string s = "{";
        for (int i = static_cast<int>(rng() % 5); i > 0; --i) {
          s += str() + (rng() % 2 ? ": " : ":") + value(depth + 1) + (i > 1 ? ", " : "");
        }
        return s + "}";
      }
      default: {
        std::string s = "[";
        for (int i = static_cast<int>(rng() % 5); i > 0; --i) s += value(depth + 1) + (i > 1 ? "," : "");
        return s + "]";
      }
    }
  };
  int fast_count = 0;
  for (int n = 0; n < 3000; ++n) {
    std::string text = value(0);
    std::optional<std::string> fast = canonical_json_fast(text);
    if (!fast) continue;  // duplicate keys
    ++fast_count;
    ASSERT_EQ(fast, general(text)) << text;
  }
  EXPECT_GT(fast_count, 2500);
}

}  // namespace
}  // namespace tandem
