#include "stores/mariadb/mariadb_shapes.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "stores/sql_text.h"

namespace tandem::mariadb {

namespace {

int64_t optional_int(const Row& r, size_t col) {
  if (r.is_null(col)) return -1;
  if (r.kind(col) == Row::Kind::kInt) return r.integer(col);
  std::string s = r.as_text(col);
  int64_t v = -1;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string optional_text(const Row& r, size_t col) { return r.is_null(col) ? "" : std::string(r.text(col)); }

// The members of "enum('a','b''c')" or "set(...)", quotes undoubled.
std::vector<std::string> members(std::string_view column_type) {
  std::vector<std::string> out;
  size_t i = column_type.find('(');
  if (i == std::string_view::npos) return out;
  for (++i; i < column_type.size(); ++i) {
    if (column_type[i] != '\'') continue;
    std::string label;
    for (++i; i < column_type.size(); ++i) {
      if (column_type[i] == '\'') {
        if (i + 1 < column_type.size() && column_type[i + 1] == '\'') {
          label += '\'';
          ++i;
          continue;
        }
        break;
      }
      label += column_type[i];
    }
    out.push_back(std::move(label));
  }
  return out;
}

std::string literal(std::string_view s) {  // sessions run with NO_BACKSLASH_ESCAPES
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

constexpr std::string_view kUtf8 = " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
constexpr std::string_view kUtf8Key = " CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin";
constexpr int64_t kMaxKeyChars = 768;  // InnoDB's 3072-byte index prefix, 4 bytes a character
constexpr int64_t kMaxVarchar = 2048;  // rows hold at most 65,535 bytes of VARCHAR together
constexpr int64_t kMaxKeyBytes = 3072;

std::string with_charset(const ColumnShape& s) {
  if (s.charset.empty()) return s.declared;
  return fmt::format("{} CHARACTER SET {} COLLATE {}", s.declared, s.charset, s.collation);
}

}  // namespace

Result<std::unordered_map<std::string, ColumnType>> read_column_types(Connection& conn,
                                                                      std::string_view table) {
  std::unordered_map<std::string, ColumnType> types;
  TANDEM_RETURN_IF_ERROR(
      conn.run("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, IS_NULLABLE, "
               "NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_MAXIMUM_LENGTH, "
               "CHARACTER_OCTET_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
               "TABLE_NAME = ?",
               {Param::of(std::string(table))}, fmt::format("reading the columns of table '{}'", table),
               [&](const Row& r) {
                 ColumnType ct{optional_text(r, 1), optional_text(r, 2), optional_text(r, 3),
                               optional_text(r, 4), r.text(5) == "YES",  optional_int(r, 6),
                               optional_int(r, 7),  optional_int(r, 8),  optional_int(r, 9),
                               optional_int(r, 10)};
                 if (ct.charset == "binary") ct.charset.clear();
                 types.emplace(r.text(0), std::move(ct));
                 return Status::Ok();
               })
          .status());
  return types;
}

ColumnShape shape_of(const ColumnType& ct) {
  ColumnShape s;
  s.engine = "mariadb";
  s.declared = ct.column_type;
  s.charset = ct.charset;
  s.collation = ct.collation;
  s.is_unsigned = ct.is_unsigned();
  const std::string& t = ct.data_type;
  if (t == "tinyint") s.int_bytes = 1;
  if (t == "smallint" || t == "year") s.int_bytes = 2;
  if (t == "mediumint") s.int_bytes = 3;
  if (t == "int") s.int_bytes = 4;
  if (t == "bigint") s.int_bytes = 8;
  if (t == "bit") {
    s.bits = static_cast<int>(ct.precision);
    s.int_bytes = (s.bits + 7) / 8;
    s.is_unsigned = true;
  }
  if (t == "char" || t == "varchar") {
    s.max_chars = ct.max_chars;
    s.fixed = t == "char";
  }
  if (t == "binary" || t == "varbinary") {
    s.max_bytes = ct.max_bytes;
    s.fixed = t == "binary";
  }
  if (t == "decimal") {
    s.precision = static_cast<int>(ct.precision);
    s.scale = static_cast<int>(ct.scale);
  }
  if (t == "float") s.single_float = true;
  if (t == "datetime" || t == "timestamp" || t == "time")
    s.fraction_digits = static_cast<int>(ct.datetime_precision);
  if (t == "enum" || t == "set") {
    s.labels = members(ct.column_type);
    s.is_set = t == "set";
    s.max_chars = ct.max_chars;
  }
  return s;
}

Store::ColumnDefinition column_definition(const Column& c, bool key, const ColumnShape* like) {
  Store::ColumnDefinition d{c.name, std::string(key ? key_sql_type(c.type) : sql_type(c.type)), ""};
  if (like == nullptr) return d;
  const ColumnShape& s = *like;
  if (s.engine == "mariadb") {  // old's own declaration: the same values, ordered and compared alike
    d.type = with_charset(s);
    return d;
  }
  const std::string digits =
      s.fraction_digits >= 0 ? fmt::format("({})", std::min(s.fraction_digits, 6)) : "";
  switch (c.type) {
    case Type::kInt:
      if (s.int_bytes == 2) d.type = "SMALLINT";
      if (s.int_bytes == 4) d.type = "INT";
      break;
    case Type::kDecimal:
      if (s.precision > 0 && s.precision <= 65 && s.scale >= 0 && s.scale <= 30) {
        d.type = fmt::format("DECIMAL({},{})", s.precision, s.scale);
      } else if (s.precision > 0) {
        d.note = fmt::format(
            "{} has more digits than MariaDB's widest DECIMAL: a value beyond {} is "
            "refused per record",
            s.declared, d.type);
      } else {
        d.note = fmt::format(
            "{} declares no precision: a value with more than 35 integer or 30 fraction "
            "digits is refused per record",
            s.declared);
      }
      break;
    case Type::kText: {
      std::string_view charset = key ? kUtf8Key : kUtf8;
      if (!s.labels.empty() && !s.is_set && !key) {
        std::vector<std::string> quoted;
        for (const std::string& l : s.labels) quoted.push_back(literal(l));
        d.type = fmt::format("ENUM({}){}", fmt::join(quoted, ","), charset);
      } else if (key && s.max_chars > kMaxKeyChars) {
        d.type = fmt::format("VARCHAR({}){}", kMaxKeyChars, charset);
        d.note = fmt::format(
            "{} is longer than an InnoDB key holds: a key of more than {} characters is "
            "refused per record",
            s.declared, kMaxKeyChars);
      } else if (s.max_chars > 0 && (key || s.max_chars <= kMaxVarchar)) {
        d.type = fmt::format("VARCHAR({}){}", s.max_chars, charset);
        if (s.fixed) d.note = fmt::format("{} as VARCHAR: values keep the spaces that pad them", s.declared);
      } else if (s.max_chars > 0) {
        d.note = fmt::format(
            "{}: the length is not enforced (MariaDB rows hold at most 65,535 bytes of "
            "VARCHAR)",
            s.declared);
      }
      break;
    }
    case Type::kBytes:
      if (s.max_bytes > 0 && (s.max_bytes <= (key ? kMaxKeyBytes : kMaxVarchar))) {
        d.type = fmt::format("{}({})", s.fixed ? "BINARY" : "VARBINARY", s.max_bytes);
      }
      break;
    case Type::kTimestamp:
    case Type::kDateTime:
      if (!digits.empty()) d.type = "DATETIME" + digits;
      break;
    case Type::kTime:
      if (!digits.empty()) d.type = "TIME" + digits;
      break;
    case Type::kDouble:
      if (s.single_float) d.type = "FLOAT";  // read and written as the float's exact value
      break;
    case Type::kJson:
      if (s.json_text) {
        d.note =
            "json keeps its text as written; new gets the same JSON value with keys sorted and spaces "
            "and number spellings normalised";
      }
      break;
    default:
      break;
  }
  return d;
}

}  // namespace tandem::mariadb
