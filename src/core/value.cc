#include "tandem/value.h"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cstring>

#include "core/json_canonical.h"

namespace tandem {

std::string_view type_name(Type type) {
  switch (type) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kDouble:
      return "double";
    case Type::kDecimal:
      return "decimal";
    case Type::kText:
      return "text";
    case Type::kBytes:
      return "bytes";
    case Type::kTimestamp:
      return "timestamp";
    case Type::kJson:
      return "json";
    case Type::kUuid:
      return "uuid";
  }
  return "unknown";
}

Result<Type> parse_type_name(std::string_view name) {
  for (Type t : {Type::kBool, Type::kInt, Type::kDouble, Type::kDecimal, Type::kText, Type::kBytes,
                 Type::kTimestamp, Type::kJson, Type::kUuid}) {
    if (type_name(t) == name) return t;
  }
  return Status::Config(
      fmt::format("unknown type '{}' (expected one of: bool, int, double, decimal, text, bytes, timestamp, "
                  "json, uuid)",
                  name));
}

Result<Decimal> Decimal::parse(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  size_t dot = s.find('.');
  std::string_view int_part = s.substr(0, dot);
  std::string_view frac_part = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  auto all_digits = [](std::string_view v) {
    for (char c : v) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  };
  if ((int_part.empty() && frac_part.empty()) || !all_digits(int_part) || !all_digits(frac_part) ||
      (dot != std::string_view::npos && frac_part.empty() && int_part.empty())) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not an exact decimal (expected e.g. -12.50)", text.substr(0, 64)));
  }
  while (int_part.size() > 1 && int_part[0] == '0') int_part.remove_prefix(1);
  while (!frac_part.empty() && frac_part.back() == '0') frac_part.remove_suffix(1);
  std::string out;
  out.reserve(text.size() + 1);
  bool zero = (int_part.empty() || int_part == "0") && frac_part.empty();
  if (negative && !zero) out += '-';
  out += int_part.empty() ? std::string_view("0") : int_part;
  if (!frac_part.empty()) {
    out += '.';
    out += frac_part;
  }
  return Decimal{std::move(out)};
}

namespace {

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool parse_fixed(std::string_view s, size_t pos, size_t len, int64_t& out) {
  if (pos + len > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

int64_t days_in_month(int64_t year, unsigned month) {
  static constexpr int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<Timestamp> Timestamp::parse(std::string_view s) {
  auto bad = [&] {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a timestamp (expected e.g. 2024-05-01T12:00:00.123456Z)", s.substr(0, 64)));
  };
  int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, micros = 0;
  if (!parse_fixed(s, 0, 4, year) || s.size() < 10 || s[4] != '-' || !parse_fixed(s, 5, 2, month) ||
      s[7] != '-' || !parse_fixed(s, 8, 2, day)) {
    return bad();
  }
  size_t pos = 10;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
    if (!parse_fixed(s, pos + 1, 2, hour) || s.size() < pos + 9 || s[pos + 3] != ':' ||
        !parse_fixed(s, pos + 4, 2, minute) || s[pos + 6] != ':' || !parse_fixed(s, pos + 7, 2, second)) {
      return bad();
    }
    pos += 9;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int digits = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (digits < 6) {
          micros = micros * 10 + (s[pos] - '0');
        } else if (s[pos] != '0') {
          return Status::InvalidArgument(fmt::format(
              "'{}' has more than 6 fraction digits: tandem keeps microseconds and would round it",
              s.substr(0, 64)));
        }
        ++digits;
        ++pos;
      }
      if (digits == 0) return bad();
      for (int i = digits; i < 6; ++i) micros *= 10;
    }
  }
  int64_t offset_minutes = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int64_t oh = 0, om = 0;
      int sign = s[pos] == '-' ? -1 : 1;
      if (!parse_fixed(s, pos + 1, 2, oh)) return bad();
      size_t mpos = pos + 3;
      if (mpos < s.size() && s[mpos] == ':') ++mpos;
      if (mpos < s.size()) {
        if (!parse_fixed(s, mpos, 2, om)) return bad();
        mpos += 2;
      }
      if (oh > 23 || om > 59) return bad();
      offset_minutes = sign * (oh * 60 + om);
      pos = mpos;
    }
  }
  if (pos != s.size() || hour > 23 || minute > 59 || second > 59) return bad();
  if (year < 1 || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, static_cast<unsigned>(month))) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is not a date of the calendar (year 0001 to 9999, a month's own days; no zero date)",
        s.substr(0, 64)));
  }
  int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  Timestamp out{secs * 1000000 + micros};
  if (!out.in_range()) {
    return Status::InvalidArgument(fmt::format(
        "'{}' is outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z once in UTC", s.substr(0, 64)));
  }
  return out;
}

std::string Timestamp::to_string() const {
  int64_t secs = micros / 1000000;
  int64_t frac = micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  if (y < 0 || y > 9999) {
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", y, m, d, rem / 3600, (rem % 3600) / 60,
                       rem % 60, frac);
  }
  // "YYYY-MM-DDTHH:MM:SS.ffffffZ" by hand: every copied timestamp passes here.
  char buf[27];
  auto put = [&buf](size_t at, int64_t v, size_t width) {
    for (size_t i = width; i > 0; --i, v /= 10) buf[at + i - 1] = static_cast<char>('0' + v % 10);
  };
  put(0, y, 4);
  buf[4] = '-';
  put(5, m, 2);
  buf[7] = '-';
  put(8, d, 2);
  buf[10] = 'T';
  put(11, rem / 3600, 2);
  buf[13] = ':';
  put(14, (rem % 3600) / 60, 2);
  buf[16] = ':';
  put(17, rem % 60, 2);
  buf[19] = '.';
  put(20, frac, 6);
  buf[26] = 'Z';
  return {buf, sizeof buf};
}

Result<Json> Json::parse(std::string_view text) {
  // Most documents (no floating-point numbers) take the fast path; it gives
  // exactly what the exact path would.
  if (std::optional<std::string> canonical = canonical_json_fast(text)) return Json{std::move(*canonical)};
  TANDEM_ASSIGN_OR_RETURN(std::string canonical, canonical_json_exact(text));
  return Json{std::move(canonical)};
}

Result<Uuid> Uuid::parse(std::string_view text) {
  Uuid out;
  size_t n = 0;
  int high = -1;
  for (char c : text) {
    if (c == '-') continue;
    int v = hex_digit(c);
    if (v < 0 || n >= 16) {
      n = 99;
      break;
    }
    if (high < 0) {
      high = v;
    } else {
      out.bytes[n++] = static_cast<uint8_t>(high * 16 + v);
      high = -1;
    }
  }
  if (n != 16 || high >= 0) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a UUID (expected 8-4-4-4-12 hex digits)", text.substr(0, 64)));
  }
  return out;
}

std::string Uuid::to_string() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

std::strong_ordering Value::operator<=>(const Value& other) const {
  if (v_.index() != other.v_.index()) return v_.index() <=> other.v_.index();
  return std::visit(
      [&](const auto& a) -> std::strong_ordering {
        using T = std::decay_t<decltype(a)>;
        const auto& b = std::get<T>(other.v_);
        if constexpr (std::is_same_v<T, std::monostate>) {
          return std::strong_ordering::equal;
        } else if constexpr (std::is_same_v<T, double>) {
          if (a < b) return std::strong_ordering::less;
          if (a > b) return std::strong_ordering::greater;
          return std::bit_cast<uint64_t>(a) <=> std::bit_cast<uint64_t>(b);
        } else if constexpr (std::is_same_v<T, Decimal> || std::is_same_v<T, Json>) {
          return a.text <=> b.text;
        } else {
          return a <=> b;
        }
      },
      v_);
}

namespace {
// Text for messages: at most max bytes, control characters escaped (a NUL
// or a newline in a key must not cut or split a log line).
std::string abbreviate(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max) out += fmt::format("...({} bytes)", s.size());
  return out;
}
}  // namespace

std::string Value::to_display() const {
  switch (type()) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return as<bool>() ? "true" : "false";
    case Type::kInt:
      return std::to_string(as<int64_t>());
    case Type::kDouble:
      return fmt::format("{}", as<double>());
    case Type::kDecimal:
      return as<Decimal>().text;
    case Type::kText:
      return fmt::format("'{}'", abbreviate(as<std::string>(), 64));
    case Type::kBytes: {
      static constexpr char kHex[] = "0123456789abcdef";
      const std::string& d = as<Bytes>().data;
      std::string hex;
      for (size_t i = 0; i < d.size() && i < 32; ++i) {
        hex += kHex[static_cast<uint8_t>(d[i]) >> 4];
        hex += kHex[static_cast<uint8_t>(d[i]) & 15];
      }
      if (d.size() > 32) hex += fmt::format("...({} bytes)", d.size());
      return fmt::format("x'{}'", hex);
    }
    case Type::kTimestamp:
      return as<Timestamp>().to_string();
    case Type::kJson:
      return abbreviate(as<Json>().text, 96);
    case Type::kUuid:
      return as<Uuid>().to_string();
  }
  return "?";
}

}  // namespace tandem
