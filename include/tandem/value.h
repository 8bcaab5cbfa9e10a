// Value: one typed field value, the common currency between databases.
//
// Types: null, bool, 64-bit integer, double, exact decimal, text (UTF-8),
// bytes, timestamp (an instant: UTC, microseconds), JSON document/array, UUID,
// and the calendar types without a time zone: date, time of day, datetime
// (a wall-clock date and time). A date is never a timestamp at midnight UTC:
// carried as a calendar day, it cannot shift in another time zone.
// Decimal and Json are kept in a canonical text form so that equal values
// from different engines compare and hash equal.
// Thread safety: plain values; const access from many threads is safe.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "tandem/status.h"

namespace tandem {

enum class Type : uint8_t {
  kNull = 0,
  kBool = 1,
  kInt = 2,
  kDouble = 3,
  kDecimal = 4,
  kText = 5,
  kBytes = 6,
  kTimestamp = 7,
  kJson = 8,
  kUuid = 9,
  kDate = 10,
  kTime = 11,
  kDateTime = 12,
};

std::string_view type_name(Type type);
// Parses "int", "text", ... as written in the config; error names the bad word.
Result<Type> parse_type_name(std::string_view name);

// Exact decimal in canonical form: optional '-', no leading zeros, no trailing
// fractional zeros, no "-0" ("12.50" -> "12.5", "-0.0" -> "0").
struct Decimal {
  std::string text;
  static Result<Decimal> parse(std::string_view text);
  auto operator<=>(const Decimal&) const = default;
};

struct Bytes {
  std::string data;
  auto operator<=>(const Bytes&) const = default;
};

// Microseconds since 1970-01-01T00:00:00Z, from 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999Z: the range every engine tandem supports can
// hold and read back (in_range()). A store refuses to write a timestamp
// outside it, and parse() refuses text that names no such instant exactly.
struct Timestamp {
  int64_t micros = 0;
  static constexpr int64_t kMinMicros = -62135596800LL * 1000000;           // 0001-01-01T00:00:00Z
  static constexpr int64_t kMaxMicros = 253402300799LL * 1000000 + 999999;  // 9999-12-31T23:59:59.999999Z
  bool in_range() const { return micros >= kMinMicros && micros <= kMaxMicros; }
  // Accepts RFC 3339 / ISO 8601: "2024-05-01T12:00:00.123456Z", offsets "+02:00",
  // a space instead of 'T'; no zone means UTC. Refused (never adjusted): a day
  // the month does not have ("2024-02-30", a zero date), a leap second, more
  // than 6 fraction digits unless the rest are zeros, and an instant outside
  // the range above once the offset is applied.
  static Result<Timestamp> parse(std::string_view text);
  std::string to_string() const;  // "2024-05-01T12:00:00.123456Z"
  auto operator<=>(const Timestamp&) const = default;
};

// A wall-clock date and time without a time zone (MySQL DATETIME,
// PostgreSQL timestamp without time zone): microseconds since
// 1970-01-01T00:00:00 on the same calendar as Timestamp and the same range,
// but naming no instant, so no time zone ever applies to it.
struct DateTime {
  int64_t micros = 0;
  bool in_range() const { return micros >= Timestamp::kMinMicros && micros <= Timestamp::kMaxMicros; }
  // "2024-05-01 12:00:00.123456" or with 'T'; a date alone is midnight.
  // Refused: a zone or offset ("Z", "+02:00": use timestamp for an instant),
  // and what Timestamp::parse refuses.
  static Result<DateTime> parse(std::string_view text);
  std::string to_string() const;  // "2024-05-01T12:00:00.123456"
  auto operator<=>(const DateTime&) const = default;
};

// A calendar date (MySQL DATE, PostgreSQL date): days since 1970-01-01, from
// 0001-01-01 to 9999-12-31.
struct Date {
  int32_t days = 0;
  static constexpr int32_t kMinDays = -719162;  // 0001-01-01
  static constexpr int32_t kMaxDays = 2932896;  // 9999-12-31
  bool in_range() const { return days >= kMinDays && days <= kMaxDays; }
  // Exactly "YYYY-MM-DD"; refused as Timestamp::parse refuses a day.
  static Result<Date> parse(std::string_view text);
  std::string to_string() const;  // "2024-05-01"
  auto operator<=>(const Date&) const = default;
};

// A time of day without a time zone (PostgreSQL time, MariaDB TIME values
// of one day): microseconds after midnight, 00:00:00 to 24:00:00 inclusive
// (PostgreSQL's range). A MariaDB TIME outside it (negative, or a duration
// beyond a day) is refused per record, never wrapped.
struct TimeOfDay {
  int64_t micros = 0;
  static constexpr int64_t kMaxMicros = 86400LL * 1000000;  // 24:00:00
  bool in_range() const { return micros >= 0 && micros <= kMaxMicros; }
  // "HH:MM:SS" with up to 6 fraction digits (more only if zeros).
  static Result<TimeOfDay> parse(std::string_view text);
  std::string to_string() const;  // "12:00:00.123456"
  auto operator<=>(const TimeOfDay&) const = default;
};

// A JSON value in canonical text, lossless: equal texts exactly when the
// values are equal. Members sorted by key bytes; no whitespace; strings as
// UTF-8 with only '"', '\\' and control characters escaped (\n, \t, ...,
// \u00XX otherwise); numbers as exact decimals, never through a double:
// no sign for zero ("-0" and "0.0" are "0"), no leading or trailing zeros,
// plain digits while the exponent stays within [-6, 20] ("1.5", "100",
// "0.000001"), else one digit before the point and an exponent ("1.5e+21",
// "3e-7"). Refused (parse fails, naming why): invalid JSON or UTF-8, a
// duplicate member key (engines disagree on which one wins), nesting deeper
// than kMaxDepth, a number of magnitude beyond 1.1e4932 (the parser's
// limit; smaller magnitudes such as 1e-5000 are kept exactly).
struct Json {
  static constexpr size_t kMaxDepth = 1000;
  std::string text;
  static Result<Json> parse(std::string_view text);
  auto operator<=>(const Json&) const = default;
};

struct Uuid {
  std::array<uint8_t, 16> bytes{};
  static Result<Uuid> parse(std::string_view text);  // 8-4-4-4-12 hex
  std::string to_string() const;
  auto operator<=>(const Uuid&) const = default;
};

class Value;
// The date, time or datetime value (by type) that text names; errors as the
// type's parse(). Other types: kInvalidArgument.
Result<Value> parse_calendar(Type type, std::string_view text);
// Ok unless v is a timestamp, datetime, date or time outside its type's
// range (values built in code can be): then kInvalidArgument naming it.
Status check_calendar_range(const Value& v);

class Value {
 public:
  using Storage = std::variant<std::monostate, bool, int64_t, double, Decimal, std::string, Bytes, Timestamp,
                               Json, Uuid, Date, TimeOfDay, DateTime>;

  Value() = default;
  Value(std::nullptr_t) {}                           // NOLINT(google-explicit-constructor)
  Value(bool v) : v_(v) {}                           // NOLINT(google-explicit-constructor)
  Value(int v) : v_(int64_t{v}) {}                   // NOLINT(google-explicit-constructor)
  Value(int64_t v) : v_(v) {}                        // NOLINT(google-explicit-constructor)
  Value(double v) : v_(v) {}                         // NOLINT(google-explicit-constructor)
  Value(Decimal v) : v_(std::move(v)) {}             // NOLINT(google-explicit-constructor)
  Value(std::string v) : v_(std::move(v)) {}         // NOLINT(google-explicit-constructor)
  Value(std::string_view v) : v_(std::string(v)) {}  // NOLINT(google-explicit-constructor)
  Value(const char* v) : v_(std::string(v)) {}       // NOLINT(google-explicit-constructor)
  Value(Bytes v) : v_(std::move(v)) {}               // NOLINT(google-explicit-constructor)
  Value(Timestamp v) : v_(v) {}                      // NOLINT(google-explicit-constructor)
  Value(Json v) : v_(std::move(v)) {}                // NOLINT(google-explicit-constructor)
  Value(Uuid v) : v_(v) {}                           // NOLINT(google-explicit-constructor)
  Value(Date v) : v_(v) {}                           // NOLINT(google-explicit-constructor)
  Value(TimeOfDay v) : v_(v) {}                      // NOLINT(google-explicit-constructor)
  Value(DateTime v) : v_(v) {}                       // NOLINT(google-explicit-constructor)

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return v_.index() == 0; }

  template <typename T>
  const T& as() const {
    return std::get<T>(v_);
  }
  template <typename T>
  const T* get_if() const {
    return std::get_if<T>(&v_);
  }
  const Storage& storage() const { return v_; }

  // Total order: first by type, then by value (doubles by IEEE total order).
  std::strong_ordering operator<=>(const Value& other) const;
  bool operator==(const Value& other) const { return (*this <=> other) == 0; }

  // Human-readable, for messages and reports: 42, 'text', x'00ff', ... Long
  // text and bytes are abbreviated.
  std::string to_display() const;

 private:
  Storage v_;
};

}  // namespace tandem
