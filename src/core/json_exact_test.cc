// Json is exact or refused (issue 12): numbers keep their exact value, the
// two canonicalising paths agree, and what has no single canonical form
// (duplicate keys, nesting beyond the limit) is refused with its reason.
#include <gtest/gtest.h>

#include <string>

#include "core/json_canonical.h"
#include "tandem/value.h"

namespace tandem {
namespace {

std::string canonical(std::string_view text) {
  Result<Json> j = Json::parse(text);
  return j.ok() ? j->text : "refused: " + j.status().message();
}

TEST(JsonExact, NumbersKeepTheirExactValue) {
  EXPECT_EQ(canonical(R"({"a":3.141592653589793238462643383279})"),
            R"({"a":3.141592653589793238462643383279})");
  EXPECT_EQ(canonical("18446744073709551616"), "18446744073709551616");
  EXPECT_EQ(canonical("-18446744073709551617"), "-18446744073709551617");
  EXPECT_EQ(canonical("1e-400"), "1e-400");
  EXPECT_EQ(canonical("1E400"), "1e+400");
  EXPECT_EQ(canonical("123456789012345678901234567890.5"), "1.234567890123456789012345678905e+29");
  EXPECT_EQ(canonical("0.1"), "0.1");
  EXPECT_EQ(canonical("[0.000001, 0.0000001, 1e20, 1e21, 12.50, 1.0, 1E2, 100e-2, -0, -0.0, 0e10]"),
            "[0.000001,1e-7,100000000000000000000,1e+21,12.5,1,100,1,0,0,0]");
  EXPECT_EQ(canonical("5e-324"), "5e-324");
  EXPECT_EQ(canonical("1.7976931348623157e308"), "1.7976931348623157e+308");
}

TEST(JsonExact, EqualValuesHaveOneTextAndDifferentValuesDiffer) {
  EXPECT_EQ(canonical(R"({"x": 1.0, "y": [1e2]})"), canonical(R"({"y":[100],"x":1})"));
  // A change in the 30th digit is a different value (a double would merge them).
  EXPECT_NE(canonical("3.141592653589793238462643383279"), canonical("3.141592653589793238462643383278"));
  EXPECT_NE(canonical("9007199254740993"), canonical("9007199254740992"));
  EXPECT_NE(canonical("1e-400"), canonical("0"));
}

TEST(JsonExact, DuplicateKeysAreRefusedNamingTheKey) {
  std::string out = canonical(R"({"a": 1, "dup": 1, "dup": 2})");
  EXPECT_NE(out.find("refused"), std::string::npos) << out;
  EXPECT_NE(out.find("'dup' appears twice"), std::string::npos) << out;
  EXPECT_NE(canonical(R"({"o": {"k": 1.5, "k": 1.5}})").find("refused"), std::string::npos);
}

TEST(JsonExact, DeepNestingIsRefusedWithoutOverflowingTheStack) {
  auto nested = [](size_t depth, char open, char close) {
    return std::string(depth, open) + std::string(depth, close);
  };
  EXPECT_EQ(canonical(nested(Json::kMaxDepth, '[', ']')), nested(Json::kMaxDepth, '[', ']'));
  std::string deeper = canonical(nested(Json::kMaxDepth + 1, '[', ']'));
  EXPECT_NE(deeper.find("nested deeper than 1000"), std::string::npos) << deeper.substr(0, 80);
  // With a float inside, the exact path decides at the same depth.
  std::string with_float =
      std::string(Json::kMaxDepth - 1, '[') + "1.5" + std::string(Json::kMaxDepth - 1, ']');
  EXPECT_EQ(canonical(with_float), with_float);
  std::string huge = canonical(nested(100000, '[', ']'));
  EXPECT_NE(huge.find("nested deeper"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100000, '}');
  EXPECT_NE(canonical(objects).find("nested deeper"), std::string::npos);
}

TEST(JsonExact, StringsKeepEveryCharacter) {
  EXPECT_EQ(canonical(R"(["\u0000", "\u00e9", "é", "\ud83d\ude00", "\/", "a\tb"])"),
            "[\"\\u0000\",\"é\",\"é\",\"\xF0\x9F\x98\x80\",\"/\",\"a\\tb\"]");
  EXPECT_NE(canonical("\"\xff\"").find("refused"), std::string::npos);
  EXPECT_NE(canonical(R"("\ud800")").find("refused"), std::string::npos);
  EXPECT_NE(canonical("[1, 2,]").find("refused"), std::string::npos);
  EXPECT_NE(canonical("1e999999999999").find("beyond"), std::string::npos);
  EXPECT_NE(canonical("[1e5000]").find("beyond"), std::string::npos);
  EXPECT_EQ(canonical("[1e-5000]"), "[1e-5000]");
}

TEST(JsonExact, TheFastPathGivesWhatTheExactPathGives) {
  const char* corpus[] = {
      R"({"b": [1, 2], "a": {"x": null}})",
      R"({"s": "tab\there \"quoted\" back\\slash \/ \u0001 \u001f \u007f \u00e9 é ✓ \ud83d\ude00"})",
      R"({"z": {}, "y": [], "x": [[]], "w": [{}], "": "empty key"})",
      R"({"B": 1, "a": 2, "A": 3, "b": 4, "é": 5, "e": 6, "aa": 7, "a a": 8})",
      R"([true, false, null, 0, -1, 9223372036854775807, -9223372036854775808, 18446744073709551615])",
      R"(-0)",
      R"("x")",
  };
  for (const char* text : corpus) {
    std::optional<std::string> fast = canonical_json_fast(text);
    ASSERT_TRUE(fast.has_value()) << text;
    EXPECT_EQ(*fast, canonical_json_exact(text).value()) << text;
  }
}

}  // namespace
}  // namespace tandem
