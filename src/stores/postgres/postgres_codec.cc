#include "stores/postgres/postgres_codec.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "core/encoding.h"
#include "core/utf8.h"

namespace tandem::postgres {

std::string_view sql_type(Type type) {
  switch (type) {
    case Type::kBool:
      return "BOOLEAN";
    case Type::kInt:
      return "BIGINT";
    case Type::kDouble:
      return "DOUBLE PRECISION";
    case Type::kDecimal:
      return "NUMERIC";
    case Type::kText:
      return "TEXT";
    case Type::kBytes:
      return "BYTEA";
    case Type::kTimestamp:
      return "TIMESTAMPTZ";
    case Type::kJson:
      return "JSONB";
    case Type::kUuid:
      return "UUID";
    case Type::kDate:
      return "DATE";
    case Type::kTime:
      return "TIME";
    case Type::kDateTime:
      return "TIMESTAMP";
    case Type::kNull:
      break;
  }
  return "TEXT";
}

// information_schema data types each tandem type reads from an existing table.
bool compatible(Type type, std::string_view data_type) {
  switch (type) {
    case Type::kBool:
      return data_type == "boolean";
    case Type::kInt:
      return data_type == "bigint" || data_type == "integer" || data_type == "smallint";
    case Type::kDouble:
      return data_type == "double precision" || data_type == "real";
    case Type::kDecimal:
      return data_type == "numeric";
    case Type::kText:
      // An enum reads as its label; an interval as its text (IntervalStyle postgres).
      return data_type == "text" || data_type == "character varying" || data_type == "character" ||
             data_type == "enum" || data_type == "interval";
    case Type::kBytes:
      return data_type == "bytea";
    case Type::kTimestamp:  // an instant; a zone-less timestamp is a datetime
      return data_type == "timestamp with time zone";
    case Type::kJson:
      return data_type == "jsonb" || data_type == "json";
    case Type::kUuid:
      return data_type == "uuid";
    case Type::kDate:
      return data_type == "date";
    case Type::kTime:
      return data_type == "time without time zone";
    case Type::kDateTime:
      return data_type == "timestamp without time zone";
    case Type::kNull:
      break;
  }
  return false;
}

Param to_param(const Value& v) {
  Param p;
  switch (v.type()) {
    case Type::kNull:
      p.is_null = true;
      break;
    case Type::kBool:
      p.value = v.as<bool>() ? "true" : "false";
      break;
    case Type::kInt:
      p.value = std::to_string(v.as<int64_t>());
      break;
    case Type::kDouble: {
      double d = v.as<double>();
      if (std::isnan(d)) {
        p.value = "NaN";
      } else if (std::isinf(d)) {
        p.value = d > 0 ? "Infinity" : "-Infinity";
      } else {
        p.value = fmt::format("{}", d);
      }
      break;
    }
    case Type::kDecimal:
      p.value = v.as<Decimal>().text;
      break;
    case Type::kText:
      p.value = v.as<std::string>();
      break;
    case Type::kBytes:
      p.value = v.as<Bytes>().data;
      p.binary = true;
      break;
    case Type::kTimestamp:
      p.value = v.as<Timestamp>().to_string();
      break;
    case Type::kJson:
      p.value = v.as<Json>().text;
      break;
    case Type::kUuid:
      p.value = v.as<Uuid>().to_string();
      break;
    case Type::kDate:
      p.value = v.as<Date>().to_string();
      break;
    case Type::kTime:
      p.value = v.as<TimeOfDay>().to_string();
      break;
    case Type::kDateTime:
      p.value = v.as<DateTime>().to_string();
      break;
  }
  return p;
}

// Appends bytea's hex input form with its backslash doubled ("\\\\x0aff"), as
// both an array literal's quoted element and COPY's text format need it.
void append_escaped_bytea(std::string_view bytes, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\\\x";
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

// Appends p as one element of an array literal: "...", with \ and " escaped;
// bytea as its hex input form.
void append_array_element(const Param& p, std::string& out) {
  out += '"';
  if (p.binary) {
    append_escaped_bytea(p.value, out);
  } else {
    for (char c : p.value) {
      if (c == '\\' || c == '"') out += '\\';
      out += c;
    }
  }
  out += '"';
}

Param bytes_param(std::string value) {
  Param p;
  p.value = std::move(value);
  p.binary = true;
  return p;
}

Param text_param(std::string value) {
  Param p;
  p.value = std::move(value);
  return p;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Value> from_text(Type type, std::string_view s) {
  auto bad = [&](std::string_view what) {
    return Status::Corruption(fmt::format("'{}' is not {}", s.substr(0, 64), what));
  };
  switch (type) {
    case Type::kBool:
      if (s == "t") return Value(true);
      if (s == "f") return Value(false);
      return bad("a boolean");
    case Type::kInt: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || p != s.data() + s.size()) return bad("a 64-bit integer");
      return Value(v);
    }
    case Type::kDouble: {
      if (s == "NaN") return Value(std::nan(""));
      if (s == "Infinity") return Value(HUGE_VAL);
      if (s == "-Infinity") return Value(-HUGE_VAL);
      std::string copy(s);
      char* end = nullptr;
      double d = std::strtod(copy.c_str(), &end);
      if (end != copy.c_str() + copy.size()) return bad("a double");
      return Value(d);
    }
    case Type::kDecimal: {
      auto d = Decimal::parse(s);
      if (!d.ok()) return Status::Corruption(d.status().message());
      return Value(std::move(*d));
    }
    case Type::kText:
      // A database in SQL_ASCII hands over its bytes unconverted.
      if (!valid_utf8(s)) return Status::Corruption("text is not valid UTF-8");
      return Value(std::string(s));
    case Type::kBytes: {
      if (s.size() < 2 || s[0] != '\\' || s[1] != 'x' || s.size() % 2 != 0) return bad("hex bytea");
      std::string out;
      out.reserve((s.size() - 2) / 2);
      for (size_t i = 2; i < s.size(); i += 2) {
        int hi = hex_value(s[i]);
        int lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) return bad("hex bytea");
        out += static_cast<char>(hi * 16 + lo);
      }
      return Value(Bytes{std::move(out)});
    }
    case Type::kTimestamp: {
      auto t = Timestamp::parse(s);
      if (!t.ok()) return Status::Corruption(t.status().message());
      return Value(*t);
    }
    case Type::kJson: {
      auto j = Json::parse(s);
      if (!j.ok()) return Status::Corruption(j.status().message());
      return Value(std::move(*j));
    }
    case Type::kUuid: {
      auto u = Uuid::parse(s);
      if (!u.ok()) return Status::Corruption(u.status().message());
      return Value(*u);
    }
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime: {
      // ISO output ("2024-05-01", "12:00:00.5", "2024-05-01 12:00:00"); a
      // BC date, 'infinity' or a year past 9999 does not parse: quarantined.
      auto v = parse_calendar(type, s);
      if (!v.ok()) return Status::Corruption(v.status().message());
      return v;
    }
    case Type::kNull:
      break;
  }
  return Status::Internal("column without type");
}

// A REAL (float4) column's text, as the float it is, widened exactly.
Result<Value> float4_from_text(std::string_view s) {
  if (s == "NaN") return Value(std::nan(""));
  if (s == "Infinity") return Value(HUGE_VAL);
  if (s == "-Infinity") return Value(-HUGE_VAL);
  std::string copy(s);
  char* end = nullptr;
  float f = std::strtof(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size()) {
    return Status::Corruption(fmt::format("'{}' is not a real", s.substr(0, 64)));
  }
  return Value(static_cast<double>(f));
}

// The advisory-lock key of a record (the same hash as every store's record lock).
int64_t lock_key(std::string_view collection, std::string_view encoded_key) {
  return static_cast<int64_t>(record_lock_hash(collection, encoded_key));
}

}  // namespace tandem::postgres
