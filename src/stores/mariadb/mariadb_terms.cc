// The MariaDB store's SQL terms over a column: its portable digest text and
// the condition under which its value decodes (see mariadb_codec.h).
#include <fmt/format.h>

#include "stores/mariadb/mariadb_codec.h"
#include "stores/sql_text.h"

namespace tandem::mariadb {

std::string portable_term(const Column& c, const ColumnType& ct) {
  std::string q = quote_identifier(c.name);
  std::string v;
  switch (c.type) {
    case Type::kInt:  // a BIT's bytes as its number
      v = ct.data_type == "bit" ? fmt::format("CAST({} + 0 AS CHAR)", q) : fmt::format("CAST({} AS CHAR)", q);
      break;
    case Type::kBool:
      v = fmt::format("IF({}, '1', '0')", q);
      break;
    case Type::kText: {
      // The UTF-8 bytes whatever the column's character set (latin1 'é' is
      // 2 bytes in UTF-8, as PostgreSQL counts it).
      std::string utf8 = ct.is_binary_string() ? q : fmt::format("CONVERT({} USING utf8mb4)", q);
      v = fmt::format("CONCAT(LENGTH({0}), ':', {0})", utf8);
      break;
    }
    case Type::kBytes:
      v = fmt::format("LOWER(HEX({}))", q);
      break;
    case Type::kTimestamp:
      v = fmt::format("CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {}) AS CHAR)", q);
      break;
    case Type::kDecimal:  // without trailing fraction zeros, as tandem's canonical decimal
      v = fmt::format(
          "IF(LOCATE('.', CAST({0} AS CHAR)) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({0} AS "
          "CHAR))), CAST({0} AS CHAR))",
          q);
      break;
    case Type::kUuid:
      if (ct.data_type == "binary") {
        v = fmt::format(
            "LOWER(CONCAT_WS('-', HEX(SUBSTRING({0}, 1, 4)), HEX(SUBSTRING({0}, 5, 2)), HEX(SUBSTRING({0}, "
            "7, "
            "2)), HEX(SUBSTRING({0}, 9, 2)), HEX(SUBSTRING({0}, 11, 6))))",
            q);
      } else {
        v = fmt::format("LOWER(CAST({} AS CHAR))", q);
      }
      break;
    default:
      return {};
  }
  // As bytes: the columns' collations differ (keys are nopad_bin) and may not mix.
  return fmt::format("CAST(IF({} IS NULL, 'N', CONCAT('V', {})) AS BINARY)", q, v);
}

std::string decodable_condition(const Column& c, const ColumnType& ct, bool key) {
  std::string q = quote_identifier(c.name);
  std::string cond;
  switch (c.type) {
    case Type::kBool:
      cond = fmt::format("{} IN (0, 1)", q);
      break;
    case Type::kInt:
      if (ct.is_unsigned()) cond = fmt::format("{} <= 9223372036854775807", q);
      break;
    case Type::kText:
      // Invalid UTF-8 becomes '?' when converted.
      if (ct.is_binary_string()) cond = fmt::format("CAST(CONVERT({0} USING utf8mb4) AS BINARY) = {0}", q);
      break;
    case Type::kTime:  // a time of day, not a duration
      cond = fmt::format("{0} >= '00:00:00' AND {0} <= '24:00:00'", q);
      break;
    case Type::kTimestamp:  // no zero date, no year 0, no day the month lacks
    case Type::kDate:
    case Type::kDateTime:
      cond = fmt::format(
          "YEAR({0}) >= 1 AND DAYOFMONTH({0}) >= 1 AND DAYOFMONTH({0}) <= DAYOFMONTH(LAST_DAY({0}))", q);
      break;
    case Type::kUuid: {
      std::string hex = key && lower_case_only(ct) ? "[0-9a-f]" : "[0-9A-Fa-f]";
      cond = ct.data_type == "binary"
                 ? fmt::format("LENGTH({}) = 16", q)
                 : fmt::format("CAST({0} AS BINARY) REGEXP '^{1}{{8}}-{1}{{4}}-{1}{{4}}-{1}{{4}}-{1}{{12}}$'",
                               q, hex);
      break;
    }
    default:
      break;
  }
  if (cond.empty()) cond = "1";
  return fmt::format("IF({} IS NULL, {}, COALESCE({}, 0))", q, c.nullable ? 1 : 0, cond);
}

}  // namespace tandem::mariadb
