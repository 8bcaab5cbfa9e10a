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
    case Type::kDate:
      return "date";
    case Type::kTime:
      return "time";
    case Type::kDateTime:
      return "datetime";
  }
  return "unknown";
}

Result<Type> parse_type_name(std::string_view name) {
  for (Type t : {Type::kBool, Type::kInt, Type::kDouble, Type::kDecimal, Type::kText, Type::kBytes,
                 Type::kTimestamp, Type::kJson, Type::kUuid, Type::kDate, Type::kTime, Type::kDateTime}) {
    if (type_name(t) == name) return t;
  }
  return Status::Config(
      fmt::format("unknown type '{}' (expected one of: bool, int, double, decimal, text, bytes, timestamp, "
                  "json, uuid, date, time, datetime)",
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

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

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
    case Type::kDate:
      return as<Date>().to_string();
    case Type::kTime:
      return as<TimeOfDay>().to_string();
    case Type::kDateTime:
      return as<DateTime>().to_string();
  }
  return "?";
}

}  // namespace tandem
