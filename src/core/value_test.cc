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

// Issue 14: a date is a calendar day, never a timestamp at midnight UTC.
TEST(Date, IsACalendarDayWithItsOwnRange) {
  EXPECT_EQ(Date::parse("1970-01-01").value().days, 0);
  EXPECT_EQ(Date::parse("1986-06-26").value().to_string(), "1986-06-26");
  EXPECT_EQ(Date::parse("0001-01-01").value().days, Date::kMinDays);
  EXPECT_EQ(Date::parse("9999-12-31").value().days, Date::kMaxDays);
  EXPECT_EQ(Date::parse("1969-12-31").value().days, -1);
  for (int32_t d = Date::kMinDays; d <= Date::kMaxDays; d += 997) {
    EXPECT_EQ(Date::parse(Date{d}.to_string()).value().days, d);
  }
  for (const char* bad : {"2024-02-30", "0000-00-00", "2024-13-01", "2024-1-01", "2024-01-01 00:00:00",
                          "2024-01-01Z", "", "infinity", "10000-01-01"}) {
    EXPECT_FALSE(Date::parse(bad).ok()) << bad;
  }
  EXPECT_NE(Date::parse("2024-02-30").status().message().find("calendar"), std::string::npos);
  EXPECT_FALSE(Date{Date::kMaxDays + 1}.in_range());
  EXPECT_TRUE(Value(Date{1}) > Value(Date{0}));
  EXPECT_EQ(type_name(Type::kDate), "date");
  EXPECT_EQ(parse_type_name("date").value(), Type::kDate);
}

TEST(TimeOfDay, RunsFromMidnightToMidnightInclusive) {
  EXPECT_EQ(TimeOfDay::parse("00:00:00").value().micros, 0);
  EXPECT_EQ(TimeOfDay::parse("12:34:56.5").value().to_string(), "12:34:56.500000");
  EXPECT_EQ(TimeOfDay::parse("24:00:00").value().micros, TimeOfDay::kMaxMicros);
  EXPECT_EQ(TimeOfDay::parse("23:59:59.999999000").value().micros, TimeOfDay::kMaxMicros - 1);
  // A MariaDB TIME beyond a day or below zero is a duration: refused, never wrapped.
  for (const char* bad : {"24:00:01", "25:00:00", "-01:00:00", "838:59:59", "12:60:00", "12:00:60",
                          "12:00:00.1234567", "12:00", "12:00:00Z"}) {
    EXPECT_FALSE(TimeOfDay::parse(bad).ok()) << bad;
  }
  EXPECT_EQ(parse_type_name("time").value(), Type::kTime);
}

TEST(DateTime, IsAWallClockTimeWithoutAZone) {
  auto t = DateTime::parse("2024-05-01 12:00:00.123456").value();
  EXPECT_EQ(t.to_string(), "2024-05-01T12:00:00.123456");
  EXPECT_EQ(DateTime::parse("2024-05-01T12:00:00").value().micros, t.micros - 123456);
  EXPECT_EQ(DateTime::parse("2024-05-01").value().to_string(), "2024-05-01T00:00:00.000000");
  // The same text read as a timestamp and as a datetime counts the same micros:
  // only the meaning (an instant, or a wall-clock time) differs.
  EXPECT_EQ(DateTime::parse("1986-06-26 00:00:00").value().micros,
            Timestamp::parse("1986-06-26T00:00:00Z").value().micros);
  for (const char* zoned : {"2024-05-01T12:00:00Z", "2024-05-01 12:00:00+02:00", "2024-05-01T12:00:00-05"}) {
    auto r = DateTime::parse(zoned);
    ASSERT_FALSE(r.ok()) << zoned;
    EXPECT_NE(r.status().message().find("time zone"), std::string::npos) << r.status().message();
  }
  for (const char* bad : {"2024-02-30 00:00:00", "2024-01-01 24:00:00", "0000-00-00 00:00:00"}) {
    EXPECT_FALSE(DateTime::parse(bad).ok()) << bad;
  }
  EXPECT_EQ(parse_type_name("datetime").value(), Type::kDateTime);
  EXPECT_FALSE(check_calendar_range(Value(DateTime{Timestamp::kMaxMicros + 1})).ok());
  EXPECT_TRUE(check_calendar_range(Value(DateTime{Timestamp::kMaxMicros})).ok());
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
