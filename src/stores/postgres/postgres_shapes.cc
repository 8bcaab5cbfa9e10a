#include "stores/postgres/postgres_shapes.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "stores/postgres/postgres_codec.h"
#include "stores/sql_text.h"

namespace tandem::postgres {

namespace {

int to_int(std::string_view s) {
  int v = -1;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string literal(std::string_view s) {  // standard_conforming_strings: only quotes double
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

constexpr char kLabelSeparator = '\x1f';

}  // namespace

Result<ColumnShapes> read_column_shapes(Connection& conn, std::string_view table) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r,
      conn.exec("SELECT a.attname, format_type(a.atttypid, a.atttypmod), c.data_type, "
                "c.character_maximum_length, c.numeric_precision, c.numeric_scale, c.datetime_precision, "
                "(SELECT string_agg(e.enumlabel, chr(31) ORDER BY e.enumsortorder) FROM pg_enum e WHERE "
                "e.enumtypid = a.atttypid) "
                "FROM information_schema.columns c JOIN pg_class k ON k.relname = c.table_name JOIN "
                "pg_namespace n ON n.oid = k.relnamespace AND n.nspname = c.table_schema JOIN pg_attribute a "
                "ON a.attrelid = k.oid AND a.attname = c.column_name "
                "WHERE c.table_schema = current_schema() AND c.table_name = $1",
                {text_param(std::string(table))},
                fmt::format("reading the column types of table '{}'", table)));
  ColumnShapes out;
  for (int i = 0; i < r.rows(); ++i) {
    ColumnShape s;
    s.engine = "postgres";
    s.declared = std::string(r.text(i, 1));
    std::string_view t = r.text(i, 2);
    auto number = [&](int col) { return r.is_null(i, col) ? -1 : to_int(r.text(i, col)); };
    if (t == "smallint") s.int_bytes = 2;
    if (t == "integer") s.int_bytes = 4;
    if (t == "bigint") s.int_bytes = 8;
    if (t == "character varying" || t == "character") {
      s.max_chars = number(3);
      s.fixed = t == "character";
    }
    if (t == "numeric") {
      s.precision = number(4);
      s.scale = number(5);
    }
    if (t == "real") s.single_float = true;
    if (t.starts_with("time")) s.fraction_digits = number(6);
    if (t == "json") s.json_text = true;
    if (!r.is_null(i, 7)) {
      std::string_view labels = r.text(i, 7);
      size_t start = 0;
      while (true) {
        size_t end = labels.find(kLabelSeparator, start);
        s.labels.emplace_back(labels.substr(start, end - start));
        if (end == std::string_view::npos) break;
        start = end + 1;
      }
      for (const std::string& l : s.labels) s.max_chars = std::max<int64_t>(s.max_chars, l.size());
    }
    out.emplace(std::string(r.text(i, 0)), std::move(s));
  }
  return out;
}

bool case_insensitive_in_old(const ColumnShape& s) {
  const std::string& c = s.collation;
  return s.engine == "mariadb" && !c.empty() && c != "binary" && !c.ends_with("_bin") &&
         (c.find("_ci") != std::string::npos || c.find("_ai") != std::string::npos);
}

Store::ColumnDefinition column_definition(const Column& c, bool key, const ColumnShape* like) {
  const bool text_key = key && c.type == Type::kText;
  const bool collated = text_key && like != nullptr && case_insensitive_in_old(*like);
  const std::string collate = collated   ? fmt::format(" COLLATE {}", kKeyCollation)
                              : text_key ? " COLLATE \"C\""
                                         : "";
  Store::ColumnDefinition d{c.name, std::string(sql_type(c.type)) + collate, ""};
  if (like == nullptr) return d;
  const ColumnShape& s = *like;
  if (collated) {
    d.note = fmt::format(
        "old's key collation {}: new's column uses the ICU collation {} (case-insensitive, probed against "
        "old's "
        "at open); a key outside printable ASCII{} is refused per record",
        s.collation, kKeyCollation,
        s.collation.find("nopad") == std::string::npos ? ", or ending in a space" : "");
  }
  const std::string q = quote_identifier(c.name);
  // An enumeration is a CHECK on its members (an enum type would be one more
  // object in new), in either engine's words.
  if (c.type == Type::kText && !s.labels.empty() && !s.is_set) {
    std::vector<std::string> quoted;
    int64_t longest = 1;
    for (const std::string& l : s.labels) {
      quoted.push_back(literal(l));
      longest = std::max<int64_t>(longest, static_cast<int64_t>(l.size()));
    }
    d.type = fmt::format("VARCHAR({}){} CHECK ({} IN ({}))", longest, collate, q, fmt::join(quoted, ", "));
    d.note = fmt::format("{}: a CHECK on its members (values order as text, not by member)", s.declared);
    return d;
  }
  if (s.engine == "postgres") {  // old's own declaration
    d.type = s.declared + collate;
    return d;
  }
  const std::string digits =
      s.fraction_digits >= 0 ? fmt::format("({})", std::min(s.fraction_digits, 6)) : "";
  switch (c.type) {
    case Type::kInt:
      if (s.int_bytes == 1 || (s.int_bytes == 2 && !s.is_unsigned)) d.type = "SMALLINT";
      if ((s.int_bytes == 2 && s.is_unsigned) || s.int_bytes == 3 || (s.int_bytes == 4 && !s.is_unsigned)) {
        d.type = "INTEGER";
      }
      if (s.int_bytes == 8 && s.is_unsigned) {
        d.note = fmt::format(
            "{}: a value above 9223372036854775807 is refused per record (configure type = "
            "\"decimal\" to carry them in NUMERIC(20,0))",
            s.declared);
      }
      break;
    case Type::kDecimal:
      if (s.precision > 0 && s.scale >= 0) d.type = fmt::format("NUMERIC({},{})", s.precision, s.scale);
      if (s.int_bytes > 0) d.type = fmt::format("NUMERIC({},0)", s.int_bytes == 8 && s.is_unsigned ? 20 : 19);
      break;
    case Type::kText:
      if (s.max_chars > 0) {
        d.type = fmt::format("VARCHAR({}){}", s.max_chars, collate);
        if (s.fixed)
          d.note = fmt::format("{} as VARCHAR: values keep the text {} returns", s.declared, s.engine);
      }
      if (s.is_set) d.note = fmt::format("{} as text: the members are not checked", s.declared);
      break;
    case Type::kBytes:
      if (s.max_bytes > 0) d.type = fmt::format("BYTEA CHECK (octet_length({}) <= {})", q, s.max_bytes);
      break;
    case Type::kTimestamp:
      d.type = "TIMESTAMPTZ" + digits;
      break;
    case Type::kDateTime:
      d.type = "TIMESTAMP" + digits;
      break;
    case Type::kTime:
      d.type = "TIME" + digits;
      break;
    case Type::kDouble:
      if (s.single_float) d.type = "REAL";  // read and written as the float's exact value
      break;
    case Type::kJson:
      if (s.json_text) d.type = "JSON";
      break;
    default:
      break;
  }
  return d;
}

}  // namespace tandem::postgres
