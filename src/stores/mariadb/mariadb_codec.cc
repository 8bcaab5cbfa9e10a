#include "stores/mariadb/mariadb_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>

#include "core/utf8.h"
#include "stores/sql_text.h"

namespace tandem::mariadb {

namespace {

bool one_of(std::string_view t, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), t) != names.end();
}

// "8-4-4-4-12" hex digits, either case: the only text a uuid column holds.
bool uuid_text(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// TIMESTAMP columns hold 1970-01-01 00:00:01 to 2038-01-19 03:14:07.999999 UTC.
constexpr int64_t kTimestampMinMicros = 1000000;
constexpr int64_t kTimestampMaxMicros = 2147483647LL * 1000000 + 999999;

// Whether a DATETIME(p)/TIME(p)/TIMESTAMP(p) column keeps micros' fraction
// without rounding it (p < 6 keeps fewer digits).
bool keeps_fraction(const ColumnType& ct, int64_t micros) {
  if (ct.datetime_precision < 0 || ct.datetime_precision >= 6) return true;
  int64_t unit = 1;
  for (int64_t i = ct.datetime_precision; i < 6; ++i) unit *= 10;
  return micros % unit == 0;
}

}  // namespace

bool lower_case_only(const ColumnType& ct) { return !ct.collation.ends_with("_ci"); }

bool ColumnType::is_binary_string() const {
  return one_of(data_type, {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"});
}

std::string_view key_sql_type(Type type) {
  switch (type) {
    case Type::kText:
      // nopad: "a" and "a " are different keys; bin: ordered by bytes.
      return "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin";
    case Type::kBytes:
      return "VARBINARY(255)";
    case Type::kUuid:
      return "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin";
    case Type::kTimestamp:
    case Type::kDateTime:
      return "DATETIME(6)";
    case Type::kDate:
      return "DATE";
    case Type::kTime:
      return "TIME(6)";
    default:
      return "BIGINT";
  }
}

std::string_view sql_type(Type type) {
  switch (type) {
    case Type::kBool:
      return "BOOLEAN";
    case Type::kInt:
      return "BIGINT";
    case Type::kDouble:
      return "DOUBLE";
    case Type::kDecimal:
      return "DECIMAL(65,30)";
    case Type::kText:
      return "LONGTEXT";
    case Type::kBytes:
      return "LONGBLOB";
    case Type::kTimestamp:
      return "DATETIME(6)";
    case Type::kJson:
      return "JSON";
    case Type::kUuid:
      return "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin";
    case Type::kDate:
      return "DATE";
    case Type::kTime:
      return "TIME(6)";
    case Type::kDateTime:
      return "DATETIME(6)";
    case Type::kNull:
      break;
  }
  return "LONGTEXT";
}

bool compatible(Type type, std::string_view t) {
  switch (type) {
    case Type::kBool:  // BIT(1) too: the common boolean of MySQL schemas
      return one_of(t, {"tinyint", "smallint", "int", "bigint", "bit"});
    case Type::kInt:
      return one_of(t, {"bigint", "int", "mediumint", "smallint", "tinyint", "year", "bit"});
    case Type::kDouble:
      return one_of(t, {"double", "float"});
    case Type::kDecimal:
      return one_of(t, {"decimal", "bigint", "int"});
    case Type::kText:
      // Binary strings too: legacy schemas keep UTF-8 text in VARBINARY
      // (each value is checked to be UTF-8 when read).
      return one_of(t, {"varchar", "char", "text", "tinytext", "mediumtext", "longtext", "enum", "set",
                        "varbinary", "tinyblob", "blob", "mediumblob", "longblob"});
    case Type::kBytes:
      return one_of(t, {"varbinary", "binary", "blob", "tinyblob", "mediumblob", "longblob"});
    case Type::kTimestamp:
      return one_of(t, {"datetime", "timestamp"});
    case Type::kJson:
      return one_of(t, {"json", "longtext", "mediumtext", "text"});
    case Type::kUuid:
      return one_of(t, {"uuid", "char", "varchar", "binary"});
    case Type::kDate:
      return t == "date";
    case Type::kTime:
      return t == "time";
    case Type::kDateTime:  // TIMESTAMP names an instant: type timestamp
      return t == "datetime";
    case Type::kNull:
      break;
  }
  return false;
}

std::string unusable(Type type, const ColumnType& ct) {
  if (ct.data_type == "bit" && type == Type::kBool && ct.precision != 1) {
    return fmt::format("{}: a bool is BIT(1); read a wider BIT as int", ct.column_type);
  }
  if (ct.data_type == "bit" && type == Type::kInt && ct.precision > 63) {
    return fmt::format("{}: an int holds at most BIT(63)", ct.column_type);
  }
  if (type == Type::kUuid && ct.data_type == "binary" && ct.max_bytes != 16) {
    return fmt::format("{}: a uuid is 16 bytes (BINARY(16)) or 36 characters (CHAR(36))", ct.column_type);
  }
  return {};
}

std::string datetime_text(const Timestamp& t) {
  std::string s = t.to_string();  // "2024-05-01T12:00:00.123456Z"
  if (!s.empty() && s.back() == 'Z') s.pop_back();
  if (s.size() > 10 && s[10] == 'T') s[10] = ' ';
  return s;
}

Param to_param(const ColumnType& ct, const Value& v) {
  switch (v.type()) {
    case Type::kNull:
      return Param::null();
    case Type::kBool:
      return Param::of(int64_t{v.as<bool>() ? 1 : 0});
    case Type::kInt:
      return Param::of(v.as<int64_t>());
    case Type::kDouble:
      return Param::of(v.as<double>());
    case Type::kDecimal:
      return Param::of(v.as<Decimal>().text);
    case Type::kText:
      return Param::of(v.as<std::string>());
    case Type::kBytes:
      return Param::bytes(v.as<Bytes>().data);
    case Type::kTimestamp:
      return Param::of(datetime_text(v.as<Timestamp>()));
    case Type::kJson:
      return Param::of(v.as<Json>().text);
    case Type::kUuid: {
      const Uuid& u = v.as<Uuid>();
      if (ct.data_type == "binary") return Param::bytes(std::string(u.bytes.begin(), u.bytes.end()));
      return Param::of(u.to_string());
    }
    case Type::kDate:
      return Param::of(v.as<Date>().to_string());
    case Type::kTime:
      return Param::of(v.as<TimeOfDay>().to_string());
    case Type::kDateTime: {
      std::string text = v.as<DateTime>().to_string();  // "2024-05-01T12:00:00.123456"
      text[10] = ' ';
      return Param::of(std::move(text));
    }
  }
  return Param::null();
}

size_t param_bytes(const Value& v) {
  // Type (2 bytes), a length prefix (up to 9), the data; a null bit.
  size_t data = 8;
  switch (v.type()) {
    case Type::kDecimal:
      data = v.as<Decimal>().text.size();
      break;
    case Type::kText:
      data = v.as<std::string>().size();
      break;
    case Type::kBytes:
      data = v.as<Bytes>().data.size();
      break;
    case Type::kJson:
      data = v.as<Json>().text.size();
      break;
    case Type::kTimestamp:
    case Type::kUuid:
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime:
      data = 36;
      break;
    default:
      break;
  }
  return 12 + data;
}

Result<Value> from_row(Type type, const ColumnType& ct, const Row& r, size_t col, bool key) {
  const Row::Kind kind = r.kind(col);
  std::string_view s = kind == Row::Kind::kText ? r.text(col) : std::string_view();
  auto bad = [&](std::string_view what) {
    std::string raw = r.as_text(col).substr(0, 64);
    if (!valid_utf8(raw)) raw = Value(Bytes{raw}).to_display();
    return Status::Corruption(fmt::format("'{}' is not {}", raw, what));
  };
  if (ct.data_type == "bit" && (type == Type::kBool || type == Type::kInt)) {
    // BIT(n) arrives as its bytes, most significant first.
    if (kind != Row::Kind::kText || s.size() > 8) return bad("a BIT value");
    uint64_t bits = 0;
    for (char c : s) bits = bits << 8 | static_cast<unsigned char>(c);
    if (type == Type::kInt && bits <= static_cast<uint64_t>(INT64_MAX))
      return Value(static_cast<int64_t>(bits));
    if (type == Type::kBool && bits <= 1) return Value(bits == 1);
    return bad(type == Type::kBool ? "a boolean (0 or 1)" : "a 64-bit integer");
  }
  switch (type) {
    case Type::kBool:
      if (kind == Row::Kind::kInt && (r.integer(col) == 0 || r.integer(col) == 1))
        return Value(r.integer(col) == 1);
      if (s == "0" || s == "1") return Value(s == "1");
      return bad("a boolean (0 or 1)");
    case Type::kInt: {
      if (kind == Row::Kind::kInt) return Value(r.integer(col));
      int64_t v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (kind != Row::Kind::kText || ec != std::errc() || p != s.data() + s.size())
        return bad("a 64-bit integer");
      return Value(v);
    }
    case Type::kDouble: {
      if (kind == Row::Kind::kDouble) return Value(r.real(col));
      if (kind == Row::Kind::kInt) return Value(static_cast<double>(r.integer(col)));
      std::string copy(s);
      char* end = nullptr;
      double d = std::strtod(copy.c_str(), &end);
      if (copy.empty() || end != copy.c_str() + copy.size()) return bad("a double");
      return Value(d);
    }
    case Type::kDecimal: {
      if (kind == Row::Kind::kInt) return Value(Decimal::parse(std::to_string(r.integer(col))).value());
      auto d = Decimal::parse(s);
      if (kind != Row::Kind::kText || !d.ok()) return bad("a decimal");
      return Value(std::move(*d));
    }
    case Type::kText:
      if (kind != Row::Kind::kText) return bad("text");
      if (!valid_utf8(s)) return bad("text (not valid UTF-8)");
      return Value(std::string(s));
    case Type::kBytes:
      if (kind != Row::Kind::kText) return bad("bytes");
      return Value(Bytes{std::string(s)});
    case Type::kTimestamp: {
      if (kind != Row::Kind::kText || s.size() < 10) return bad("a timestamp");
      if (s.starts_with("0000-00-00") || s.substr(4, 4) == "-00-" || s.substr(7, 3) == "-00") {
        return bad("a timestamp (a zero date)");
      }
      // Refused: a day the month does not have (stored under
      // ALLOW_INVALID_DATES), year 0: never moved to another day.
      auto t = Timestamp::parse(s);
      if (!t.ok()) return Status::Corruption(t.status().message());
      if (!t->in_range()) return bad("a timestamp of years 0001 to 9999");
      return Value(*t);
    }
    case Type::kJson: {
      if (kind != Row::Kind::kText) return bad("JSON");
      if (!valid_utf8(s)) return bad("JSON (not valid UTF-8)");
      auto j = Json::parse(s);
      if (!j.ok()) return Status::Corruption(j.status().message());
      return Value(std::move(*j));
    }
    case Type::kUuid: {
      if (kind != Row::Kind::kText) return bad("a UUID");
      if (ct.data_type == "binary") {  // BINARY(16): the UUID's bytes
        if (s.size() != 16) return bad("a UUID (16 bytes)");
        Uuid u;
        std::copy(s.begin(), s.end(), u.bytes.begin());
        return Value(u);
      }
      if (!uuid_text(s)) return bad("a UUID (8-4-4-4-12 hex digits)");
      if (key && lower_case_only(ct) &&
          std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'F'; })) {
        return bad(fmt::format(
            "a UUID key in lower case (under collation {} upper-case text orders apart from the UUID and may "
            "repeat a lower-case twin)",
            ct.collation));
      }
      auto u = Uuid::parse(s);
      if (!u.ok()) return Status::Corruption(u.status().message());
      return Value(*u);
    }
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime: {
      // Refused, never moved: a zero date, a day the month lacks, a TIME
      // that is negative or longer than a day.
      if (kind != Row::Kind::kText) return bad(type_name(type));
      auto v = parse_calendar(type, s);
      if (!v.ok()) return Status::Corruption(v.status().message());
      return v;
    }
    case Type::kNull:
      break;
  }
  return Status::Internal("column without type");
}

std::string check_exact(const ColumnType& ct, const Value& v) {
  switch (v.type()) {
    case Type::kDouble: {
      double d = v.as<double>();
      if (!std::isfinite(d)) return fmt::format("{} cannot be stored in MariaDB (no NaN or infinity)", d);
      if (ct.data_type == "float" && (std::fabs(d) > std::numeric_limits<float>::max() ||
                                      static_cast<double>(static_cast<float>(d)) != d)) {
        return fmt::format("{} is not exactly a FLOAT: column type {} would round it", d, ct.column_type);
      }
      return {};
    }
    case Type::kDecimal: {
      if (ct.precision < 0 || ct.scale < 0) return {};
      std::string_view text = v.as<Decimal>().text;
      if (text.starts_with('-')) text.remove_prefix(1);
      size_t dot = text.find('.');
      std::string_view whole = text.substr(0, dot);
      auto fraction = static_cast<int64_t>(dot == std::string_view::npos ? 0 : text.size() - dot - 1);
      auto integer = static_cast<int64_t>(whole == "0" ? 0 : whole.size());
      if (fraction > ct.scale) {
        return fmt::format(
            "{} has {} fraction digits, more than the {} of column type {}: it would be rounded",
            v.as<Decimal>().text, fraction, ct.scale, ct.column_type);
      }
      if (integer > ct.precision - ct.scale) {
        return fmt::format("{} has {} integer digits, more than the {} of column type {}",
                           v.as<Decimal>().text, integer, ct.precision - ct.scale, ct.column_type);
      }
      return {};
    }
    case Type::kText: {
      const std::string& s = v.as<std::string>();
      // Too long a text the server refuses itself (strict mode, error 1406).
      if (ct.data_type == "char" && !s.empty() && s.back() == ' ') {
        return fmt::format("text ending in a space: column type {} drops trailing spaces", ct.column_type);
      }
      return {};
    }
    case Type::kBytes: {
      size_t n = v.as<Bytes>().data.size();  // too many: the server refuses them (error 1406)
      if (ct.data_type == "binary" && static_cast<int64_t>(n) < ct.max_bytes) {
        return fmt::format("{} bytes: column type {} pads them with zero bytes", n, ct.column_type);
      }
      return {};
    }
    case Type::kTimestamp: {
      const Timestamp& t = v.as<Timestamp>();
      if (!t.in_range()) {
        return fmt::format("timestamp {} is outside 0001-01-01 .. 9999-12-31 (what every store holds)",
                           t.to_string());
      }
      if (ct.data_type == "timestamp" && (t.micros < kTimestampMinMicros || t.micros > kTimestampMaxMicros)) {
        return fmt::format(
            "timestamp {} is outside what column type {} holds (1970-01-01T00:00:01Z .. "
            "2038-01-19T03:14:07Z)",
            t.to_string(), ct.column_type);
      }
      if (!keeps_fraction(ct, t.micros)) {
        return fmt::format("timestamp {} has more fraction digits than column type {} keeps", t.to_string(),
                           ct.column_type);
      }
      return {};
    }
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime: {
      if (Status s = check_calendar_range(v); !s.ok()) return std::string(s.message());
      int64_t micros = v.type() == Type::kTime       ? v.as<TimeOfDay>().micros
                       : v.type() == Type::kDateTime ? v.as<DateTime>().micros
                                                     : 0;
      if (!keeps_fraction(ct, micros)) {
        return fmt::format("{} {} has more fraction digits than column type {} keeps", type_name(v.type()),
                           v.to_display(), ct.column_type);
      }
      return {};
    }
    case Type::kUuid:
      if (ct.data_type != "binary" && ct.data_type != "uuid" && ct.max_chars >= 0 && ct.max_chars < 36) {
        return fmt::format("a UUID takes 36 characters, more than column type {} holds", ct.column_type);
      }
      return {};
    default:
      return {};
  }
}

}  // namespace tandem::mariadb
