#include "tandem/value.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(Decimal, CanonicalFormDropsInsignificantZeros) {
  EXPECT_EQ(Decimal::parse("12.50").value().text, "12.5");
  EXPECT_EQ(Decimal::parse("-0.000").value().text, "0");
  EXPECT_EQ(Decimal::parse("+007").value().text, "7");
  EXPECT_EQ(Decimal::parse(".5").value().text, "0.5");
  EXPECT_EQ(Decimal::parse("-123456789012345678901234567890.120").value().text,
            "-123456789012345678901234567890.12");
  for (const char* bad : {"", "-", "1e5", "1.2.3", "abc", "."}) {
    auto r = Decimal::parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(Decimal::parse("1,5").status().message().find("'1,5'"), std::string::npos);
}

TEST(Timestamp, ParsesZonesAndMicrosecondsAndFormatsUtc) {
  auto t = Timestamp::parse("2024-02-29T23:59:59.123456+02:00").value();
  EXPECT_EQ(t.to_string(), "2024-02-29T21:59:59.123456Z");
  EXPECT_EQ(Timestamp::parse("1970-01-01T00:00:00Z").value().micros, 0);
  EXPECT_EQ(Timestamp::parse("1969-12-31 23:59:59.5").value().micros, -500000);
  EXPECT_EQ(Timestamp::parse("1969-12-31T23:59:59.500000Z").value().to_string(),
            "1969-12-31T23:59:59.500000Z");
  EXPECT_EQ(Timestamp::parse("2000-01-01").value().to_string(), "2000-01-01T00:00:00.000000Z");
  EXPECT_EQ(Timestamp{253402300799999999}.to_string(), "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(Timestamp{-62135596800000000}.to_string(), "0001-01-01T00:00:00.000000Z");
  // Formatting and parsing are inverse over the whole range (both directions of the epoch).
  for (int64_t micros = -62135596800000000; micros < 253402300799999999; micros += 7777777777777) {
    EXPECT_EQ(Timestamp::parse(Timestamp{micros}.to_string()).value().micros, micros);
  }
  for (const char* bad : {"2024-13-01", "2024-01-01T25:00:00", "yesterday", "2024-01-01T00:00:00.Z"}) {
    EXPECT_FALSE(Timestamp::parse(bad).ok()) << bad;
  }
}

// Issue 12, class 3 and 7: text that names no instant exactly is refused,
// never moved to another day ("2024-02-30" was read as 2024-03-01).
TEST(Timestamp, RefusesWhatNamesNoInstantExactly) {
  for (const char* bad :
       {"2024-02-30", "2023-02-29", "2024-04-31 00:00:00", "0000-00-00 00:00:00", "2024-00-10", "2024-05-00",
        "0000-01-01T00:00:00Z", "2024-01-01T23:59:60Z", "2024-01-01T00:00:00.1234567Z",
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01", "infinity", "-infinity",
        "2024-01-01T00:00:00+24:00"}) {
    EXPECT_FALSE(Timestamp::parse(bad).ok()) << bad;
  }
  EXPECT_EQ(Timestamp::parse("2024-02-29").value().to_string(), "2024-02-29T00:00:00.000000Z");
  EXPECT_EQ(Timestamp::parse("2000-02-29").value().to_string(), "2000-02-29T00:00:00.000000Z");
  EXPECT_EQ(Timestamp::parse("2024-01-01T00:00:00.123456000Z").value().micros % 1000000, 123456)
      << "trailing zeros beyond microseconds lose nothing";
  EXPECT_EQ(Timestamp::parse("0001-01-01T00:00:00Z").value().micros, Timestamp::kMinMicros);
  EXPECT_EQ(Timestamp::parse("9999-12-31T23:59:59.999999Z").value().micros, Timestamp::kMaxMicros);
  EXPECT_TRUE(Timestamp{Timestamp::kMaxMicros}.in_range());
  EXPECT_FALSE(Timestamp{Timestamp::kMaxMicros + 1}.in_range());
  EXPECT_FALSE(Timestamp{INT64_MAX}.in_range());
  EXPECT_FALSE(Timestamp{Timestamp::kMinMicros - 1}.in_range());
}

TEST(Json, CanonicalFormSortsKeysAndRejectsBrokenText) {
  EXPECT_EQ(Json::parse(R"({ "b": 1, "a": [true, null] })").value().text, R"({"a":[true,null],"b":1})");
  auto bad = Json::parse(R"({"a": )");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(Json::parse("{\"a\": \"\xff\"}").ok()) << "invalid UTF-8";
}

TEST(Uuid, RoundTrips) {
  auto u = Uuid::parse("123E4567-e89b-12d3-a456-426614174000").value();
  EXPECT_EQ(u.to_string(), "123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(Uuid::parse("123e4567e89b12d3a456426614174000").value(), u);
  EXPECT_FALSE(Uuid::parse("123e4567-e89b").ok());
  EXPECT_FALSE(Uuid::parse("zz3e4567-e89b-12d3-a456-426614174000").ok());
}

TEST(Value, OrdersByTypeThenValueAndDisplaysAbbreviated) {
  EXPECT_LT(Value(), Value(false));
  EXPECT_LT(Value(int64_t{-5}), Value(int64_t{3}));
  EXPECT_LT(Value("a"), Value("b"));
  EXPECT_EQ(Value("x"), Value(std::string("x")));
  EXPECT_NE(Value(int64_t{1}), Value(1.0));
  EXPECT_EQ(Value(int64_t{42}).to_display(), "42");
  EXPECT_EQ(Value("it's").to_display(), "'it's'");
  EXPECT_EQ(Value(Bytes{"\x01\xff"}).to_display(), "x'01ff'");
  std::string long_text(500, 'a');
  EXPECT_LT(Value(long_text).to_display().size(), 100u);
  EXPECT_EQ(parse_type_name("timestamp").value(), Type::kTimestamp);
  EXPECT_NE(parse_type_name("varchar").status().message().find("'varchar'"), std::string::npos);
}

}  // namespace
}  // namespace tandem
