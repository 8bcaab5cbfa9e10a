#include "serve/record_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "serve/key_path.h"

namespace tandem::serve {
namespace {

CollectionSchema all_types() {
  CollectionSchema s;
  s.name = "things";
  s.key_columns = {{"region", Type::kText, false}, {"id", Type::kInt, false}};
  s.columns = {{"b", Type::kBool}, {"i", Type::kInt},    {"d", Type::kDouble},     {"dec", Type::kDecimal},
               {"t", Type::kText}, {"by", Type::kBytes}, {"ts", Type::kTimestamp}, {"j", Type::kJson},
               {"u", Type::kUuid}, {"day", Type::kDate}, {"tod", Type::kTime},     {"dt", Type::kDateTime},
               {"n", Type::kText}};
  return s;
}

Record sample() {
  Record r;
  r.key = Key{Value("eu/west,1"), Value(int64_t{7})};
  r.fields = {
      {"b", Value(true)},
      {"i", Value(int64_t{9007199254740993})},  // 2^53 + 1: a double cannot hold it
      {"d", Value(0.1)},
      {"dec", Value(*Decimal::parse("-12345678901234567890.000000001"))},
      {"t", Value("Zoë \"quoted\" \n 李")},
      {"by", Value(Bytes{std::string("\x00\xff\xfe/+", 5)})},
      {"ts", Value(*Timestamp::parse("2024-05-01T12:00:00.123456Z"))},
      {"j", Value(*Json::parse(R"({"b":[1,2.50,3.14159265358979323846264338327950288e-400],"a":null})"))},
      {"u", Value(*Uuid::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"))},
      {"day", Value(*Date::parse("0001-01-01"))},
      {"tod", Value(*TimeOfDay::parse("24:00:00"))},
      {"dt", Value(*DateTime::parse("9999-12-31T23:59:59.999999"))},
      {"n", Value()}};
  return r;
}

TEST(RecordJson, EveryTypeReadsBackExactlyWhatWasWritten) {
  const CollectionSchema schema = all_types();
  const Record r = sample();
  const std::string json = record_to_json(schema, r);
  // What a client sees: 2^53 + 1 as a string, the JSON column's digits as sent (canonical), bytes in base64.
  EXPECT_NE(json.find(R"("i":"9007199254740993")"), std::string::npos) << json;
  EXPECT_NE(json.find("3.14159265358979323846264338327950288e-400"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("by":"AP/+Lys=")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("ts":"2024-05-01T12:00:00.123456Z")"), std::string::npos) << json;
  Result<ParsedObject> parsed = parse_record_object(schema, json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->fields, r.fields);
  ASSERT_EQ(parsed->key.size(), 2u);
  EXPECT_EQ(*parsed->key[0], r.key[0]);
  EXPECT_EQ(*parsed->key[1], r.key[1]);
}

TEST(RecordJson, DoublesKeepTheirBitsAndNonFiniteValuesAreStrings) {
  for (double d : {0.1, -0.0, 1e300, 5e-324, 123456789.125, std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    std::string out;
    write_value_json(Value(d), out);
    Result<Value> back = value_from_json(Type::kDouble, out, "d");
    ASSERT_TRUE(back.ok()) << out;
    EXPECT_EQ(*back, Value(d)) << out;
  }
  std::string nan;
  write_value_json(Value(std::numeric_limits<double>::quiet_NaN()), nan);
  EXPECT_EQ(nan, "\"NaN\"");
  EXPECT_TRUE(std::isnan(value_from_json(Type::kDouble, nan, "d")->as<double>()));
}

TEST(RecordJson, RefusesWhatCannotArriveExactlyNamingTheField) {
  struct Case {
    Type type;
    const char* raw;
  };
  for (Case c :
       {Case{Type::kInt, "1.0"}, Case{Type::kInt, "1e3"}, Case{Type::kInt, "\"12x\""},
        Case{Type::kInt, "9223372036854775808"}, Case{Type::kInt, "true"}, Case{Type::kBool, "1"},
        Case{Type::kText, "42"}, Case{Type::kDecimal, "\"1.2.3\""}, Case{Type::kBytes, "\"AP8\""},
        Case{Type::kBytes, "\"A P8=\""}, Case{Type::kTimestamp, "\"2024-02-30T00:00:00Z\""},
        Case{Type::kDate, "\"2024-05-01T00:00:00\""}, Case{Type::kDouble, "\"1.5\""},
        Case{Type::kDouble, "1e999"}, Case{Type::kJson, R"({"a":1,"a":2})"}, Case{Type::kUuid, "\"xyz\""}}) {
    Result<Value> v = value_from_json(c.type, c.raw, "f");
    ASSERT_FALSE(v.ok()) << type_name(c.type) << " from " << c.raw;
    EXPECT_EQ(v.status().code(), Code::kInvalidArgument);
    EXPECT_NE(v.status().message().find("field 'f'"), std::string::npos) << v.status().message();
  }
  // What is accepted: an int in a string (beyond 2^53 it must be), a decimal from a number.
  EXPECT_EQ(*value_from_json(Type::kInt, "\"-9223372036854775808\"", "f"),
            Value(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(*value_from_json(Type::kDecimal, "12.50", "f"), Value(*Decimal::parse("12.5")));
}

TEST(RecordJson, ObjectsAreCheckedWhole) {
  const CollectionSchema schema = all_types();
  for (const char* body :
       {"", "{", "[]", "{} {}", R"({"i":1,"i":2})", R"({"nope":1})", "{\"t\":\"\xff\"}", R"({"t":"a"} x)"}) {
    Result<ParsedObject> p = parse_record_object(schema, body);
    EXPECT_FALSE(p.ok()) << body;
  }
  EXPECT_TRUE(parse_record_object(schema, " { \"i\" : 1 } \n").ok());
}

TEST(RecordJson, KeyListsNameTheBadEntry) {
  const CollectionSchema schema = all_types();
  auto keys = parse_key_list(
      schema, R"({"keys":[{"region":"eu","id":1},{"id":"9007199254740993","region":"x"}]})", 10);
  ASSERT_TRUE(keys.ok()) << keys.status().to_string();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[1], (Key{Value("x"), Value(int64_t{9007199254740993})}));
  auto missing = parse_key_list(schema, R"({"keys":[{"region":"eu","id":1},{"region":"eu"}]})", 10);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("keys[1]"), std::string::npos) << missing.status().message();
  EXPECT_FALSE(parse_key_list(schema, R"({"keys":[{"region":"eu","id":1},{"region":"eu","id":2}]})", 1).ok());
}

TEST(KeyPath, CompositeKeysWithSeparatorsInsideRoundTrip) {
  const CollectionSchema schema = all_types();
  const Key key{Value("a,b/c%d\xc3\xa9"), Value(int64_t{-42})};
  const std::string path = key_to_path(key);
  EXPECT_EQ(path.find('/'), std::string::npos) << path;
  EXPECT_EQ(std::count(path.begin(), path.end(), ','), 1) << path;
  Result<Key> back = key_from_path(schema, path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, key);
}

TEST(KeyPath, RefusesMalformedKeysNamingTheColumn) {
  const CollectionSchema schema = all_types();
  for (const char* segment : {"eu", "eu,1,2", "eu,%zz", "eu,1.5", "eu,", "%ff,1", "eu,%001"}) {
    Result<Key> k = key_from_path(schema, segment);
    EXPECT_FALSE(k.ok()) << segment;
    EXPECT_EQ(k.status().code(), Code::kInvalidArgument) << segment;
  }
  EXPECT_NE(key_from_path(schema, "%ff,1").status().message().find("'region'"), std::string::npos);
}

TEST(Base64, IsStrict) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(*base64_decode("AP8="), std::string("\x00\xff", 2));
  for (const char* bad : {"AP8", "AP==8===", "AP8=\n", "A-8=", "AP9="})
    EXPECT_FALSE(base64_decode(bad).ok()) << bad;
}

}  // namespace
}  // namespace tandem::serve
