#include "stores/postgres/postgres_checks.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace tandem::postgres {

namespace {

Param text(std::string_view v) { return Param{std::string(v), false, false}; }

// Why v cannot be stored exactly (empty: it can).
std::string refusal(const Value& v, const NumericLimit* limit) {
  switch (v.type()) {
    case Type::kText:
      if (v.as<std::string>().find('\0') != std::string::npos) {
        return "PostgreSQL text cannot hold a NUL byte (the value would be cut there)";
      }
      break;
    case Type::kJson: {
      // jsonb refuses the escape \u0000 ("unsupported Unicode escape
      // sequence"); in canonical text it is a NUL when the backslashes
      // before its 'u' are odd in number (an even run is an escaped '\').
      const std::string& j = v.as<Json>().text;
      for (size_t at = j.find("u0000"); at != std::string::npos; at = j.find("u0000", at + 1)) {
        size_t run = 0;
        while (run < at && j[at - 1 - run] == '\\') ++run;
        if (run % 2 == 1) return "PostgreSQL's jsonb cannot hold the character U+0000 (\\u0000) in a string";
      }
      break;
    }
    case Type::kTimestamp:
      if (!v.as<Timestamp>().in_range()) {
        return fmt::format("the timestamp ({} microseconds since 1970) is outside 0001-01-01 .. 9999-12-31",
                           v.as<Timestamp>().micros);
      }
      break;
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime:
      if (Status s = check_calendar_range(v); !s.ok()) return std::string(s.message());
      break;
    case Type::kDecimal: {
      if (limit == nullptr || limit->precision == 0) break;
      const std::string& d = v.as<Decimal>().text;
      size_t dot = d.find('.');
      size_t sign = d[0] == '-' ? 1 : 0;
      auto int_digits = static_cast<int>((dot == std::string::npos ? d.size() : dot) - sign);
      auto frac_digits = static_cast<int>(dot == std::string::npos ? 0 : d.size() - dot - 1);
      if (int_digits == 1 && d[sign] == '0') int_digits = 0;
      if (frac_digits > limit->scale || int_digits > limit->precision - limit->scale) {
        return fmt::format("{} does not fit NUMERIC({}, {}) without rounding", d, limit->precision,
                           limit->scale);
      }
      break;
    }
    default:
      break;
  }
  return {};
}

}  // namespace

Result<std::vector<TableKey>> read_table_keys(Connection& conn, std::string_view table) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r,
      conn.exec("SELECT ic.relname, i.indisprimary, a.attname, a.attnotnull "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
                "JOIN pg_class ic ON ic.oid = i.indexrelid "
                "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
                "WHERE c.relname = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL "
                "AND k.ord <= i.indnkeyatts "
                "ORDER BY i.indisprimary DESC, ic.relname, k.ord",
                {text(table)}, fmt::format("reading the keys of table '{}'", table)));
  std::vector<TableKey> keys;
  for (int row = 0; row < r.rows(); ++row) {
    std::string index(r.text(row, 0));
    bool primary = r.text(row, 1) == "t";
    std::string name = primary ? "primary key" : fmt::format("unique index {}", index);
    if (keys.empty() || keys.back().name != name) keys.push_back(TableKey{name, {}, false});
    keys.back().columns.emplace_back(r.text(row, 2));
    if (r.text(row, 3) != "t") keys.back().nullable = true;
  }
  return keys;
}

Result<std::unordered_map<std::string, NumericLimit>> read_numeric_limits(Connection& conn,
                                                                          std::string_view table) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r,
      conn.exec("SELECT column_name, numeric_precision, numeric_scale FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = $1 AND data_type = 'numeric' "
                "AND numeric_precision IS NOT NULL",
                {text(table)}, fmt::format("reading the numeric columns of table '{}'", table)));
  std::unordered_map<std::string, NumericLimit> out;
  for (int row = 0; row < r.rows(); ++row) {
    NumericLimit limit;
    std::string_view p = r.text(row, 1), s = r.text(row, 2);
    std::from_chars(p.data(), p.data() + p.size(), limit.precision);
    std::from_chars(s.data(), s.data() + s.size(), limit.scale);
    out.emplace(std::string(r.text(row, 0)), limit);
  }
  return out;
}

Result<std::set<std::string>> read_float4_columns(Connection& conn, std::string_view table) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r, conn.exec("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                            "current_schema() AND table_name = $1 AND data_type = 'real'",
                            {text(table)}, fmt::format("reading the real columns of table '{}'", table)));
  std::set<std::string> out;
  for (int row = 0; row < r.rows(); ++row) out.emplace(r.text(row, 0));
  return out;
}

Status check_storable(std::string_view store, const CollectionSchema& schema,
                      const std::unordered_map<std::string, NumericLimit>& numeric,
                      const std::set<std::string>& float4_columns, const Key& key, const FieldMap& fields) {
  for (size_t i = 0; i < key.size() && i < schema.key_columns.size(); ++i) {
    std::string why = refusal(key[i], nullptr);
    if (!why.empty()) {
      return Status::InvalidArgument(fmt::format("{} collection '{}', record {}, key column '{}': {}", store,
                                                 schema.name, key.to_display(), schema.key_columns[i].name,
                                                 why));
    }
  }
  for (const auto& [name, value] : fields) {
    auto limit = numeric.find(name);
    std::string why = refusal(value, limit == numeric.end() ? nullptr : &limit->second);
    if (why.empty() && value.type() == Type::kDouble && float4_columns.contains(name)) {
      double d = value.as<double>();
      if (std::isfinite(d) && static_cast<double>(static_cast<float>(d)) != d) {
        why = fmt::format("{} is not exactly a REAL (float4) value: the column would round it", d);
      }
    }
    if (!why.empty()) {
      return Status::InvalidArgument(fmt::format("{} collection '{}', record {}, field '{}': {}", store,
                                                 schema.name, key.to_display(), name, why));
    }
  }
  return Status::Ok();
}

}  // namespace tandem::postgres
