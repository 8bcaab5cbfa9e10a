#include "stores/sql_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace tandem {

std::string quote_identifier(std::string_view identifier) {
  std::string out = "\"";
  for (char c : identifier) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

CollectionSql build_collection_sql(const CollectionSchema& schema,
                                   const std::function<std::string(size_t)>& placeholder) {
  CollectionSql sql;
  sql.quoted = quote_identifier(schema.name);
  std::vector<std::string> keys, all, match, params, sets;
  for (const Column& c : schema.key_columns) keys.push_back(quote_identifier(c.name));
  all = keys;
  for (const Column& c : schema.columns) {
    all.push_back(quote_identifier(c.name));
    sets.push_back(fmt::format("{0} = excluded.{0}", quote_identifier(c.name)));
  }
  for (size_t i = 0; i < keys.size(); ++i)
    match.push_back(fmt::format("{} = {}", keys[i], placeholder(i + 1)));
  for (size_t i = 0; i < all.size(); ++i) params.push_back(placeholder(i + 1));
  sql.select_list = fmt::format("{}", fmt::join(all, ", "));
  sql.key_columns = fmt::format("{}", fmt::join(keys, ", "));
  sql.key_match = fmt::format("{}", fmt::join(match, " AND "));
  sql.get_sql = fmt::format("SELECT {} FROM {} WHERE {}", sql.select_list, sql.quoted, sql.key_match);
  std::string insert =
      fmt::format("INSERT INTO {} ({}) VALUES ({})", sql.quoted, sql.select_list, fmt::join(params, ", "));
  sql.insert_sql = fmt::format("{} ON CONFLICT ({}) DO NOTHING", insert, sql.key_columns);
  sql.upsert_sql = sets.empty() ? sql.insert_sql
                                : fmt::format("{} ON CONFLICT ({}) DO UPDATE SET {}", insert, sql.key_columns,
                                              fmt::join(sets, ", "));
  sql.delete_sql = fmt::format("DELETE FROM {} WHERE {}", sql.quoted, sql.key_match);
  return sql;
}

Status check_existing_columns(std::string_view store, const CollectionSchema& schema,
                              const std::unordered_map<std::string, std::string>& existing,
                              const std::function<bool(Type, std::string_view)>& readable) {
  if (existing.empty()) {
    return Status::FailedPrecondition(
        fmt::format("{} database: there is no table '{}' (tandem creates tables only in new; check the "
                    "collection name and "
                    "the {} database URL)",
                    store, schema.name, store));
  }
  auto check = [&](const Column& c) -> Status {
    auto it = existing.find(c.name);
    if (it == existing.end()) {
      return Status::FailedPrecondition(
          fmt::format("{} database: table '{}' exists but has no column '{}' that the config names; add the "
                      "column or fix "
                      "the config",
                      store, schema.name, c.name));
    }
    if (!readable(c.type, it->second)) {
      std::vector<std::string_view> would;  // the configured types that would read it
      for (int t = static_cast<int>(Type::kBool); t <= static_cast<int>(Type::kDateTime); ++t) {
        if (readable(static_cast<Type>(t), it->second)) would.push_back(type_name(static_cast<Type>(t)));
      }
      return Status::FailedPrecondition(fmt::format(
          "{} database: column '{}.{}' is {}, which tandem cannot read as {}{}", store, schema.name, c.name,
          it->second, type_name(c.type),
          would.empty()
              ? fmt::format(" (no tandem type reads {}: tandem cannot copy this column; arrays, ranges and "
                            "geometric types have none yet)",
                            it->second)
              : fmt::format(" (configure type = \"{}\" for it)", fmt::join(would, "\" or \""))));
    }
    return Status::Ok();
  };
  for (const Column& c : schema.key_columns) TANDEM_RETURN_IF_ERROR(check(c));
  for (const Column& c : schema.columns) TANDEM_RETURN_IF_ERROR(check(c));
  return Status::Ok();
}

Status check_configured_key(std::string_view store, const CollectionSchema& schema,
                            const std::vector<TableKey>& keys) {
  std::vector<std::string> configured;
  for (const Column& c : schema.key_columns) configured.push_back(c.name);
  std::vector<std::string> described;
  for (const TableKey& k : keys) {
    // The same columns in any order: a wider key would also be unique, but
    // writes name the key in ON CONFLICT, which needs a unique index on
    // exactly those columns.
    bool same = k.columns.size() == configured.size();
    for (const std::string& column : k.columns) {
      if (std::find(configured.begin(), configured.end(), column) == configured.end()) same = false;
    }
    if (same && !k.nullable) return Status::Ok();
    described.push_back(fmt::format("{} ({}){}", k.name, fmt::join(k.columns, ", "),
                                    k.nullable ? " with a nullable column" : ""));
  }
  return Status::FailedPrecondition(fmt::format(
      "{} database: the configured key ({}) of collection '{}' is not a key of table '{}', whose keys are: "
      "{}; two rows could share a configured key and one would be lost. Set key = [...] to the columns of "
      "the primary key or of a unique index of NOT NULL columns",
      store, fmt::join(configured, ", "), schema.name, schema.name,
      described.empty() ? std::string("none (no primary key, no unique index)")
                        : fmt::format("{}", fmt::join(described, "; "))));
}

Status duplicate_key_error(std::string_view store, const CollectionSchema& schema, const Key& key) {
  return Status::Corruption(fmt::format(
      "{} database: collection '{}' holds key {} twice: the configured key is not unique in the table "
      "(configure the primary key or a unique index of NOT NULL columns)",
      store, schema.name, key.to_display()));
}

Result<uint64_t> sum_mod_2_64(std::string_view decimal) {
  bool negative = !decimal.empty() && decimal[0] == '-';
  if (negative) decimal.remove_prefix(1);
  if (size_t dot = decimal.find('.'); dot != std::string_view::npos) decimal = decimal.substr(0, dot);
  if (decimal.empty()) return Status::Corruption("an empty digest sum");
  uint64_t v = 0;  // arithmetic mod 2^64
  for (char c : decimal) {
    if (c < '0' || c > '9') return Status::Corruption(fmt::format("'{}' is not a digest sum", decimal));
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return negative ? ~v + 1 : v;
}

namespace {
bool portable_digest_type(Type type) {
  switch (type) {
    case Type::kInt:
    case Type::kBool:
    case Type::kText:
    case Type::kBytes:
    case Type::kTimestamp:
    case Type::kDecimal:
    case Type::kUuid:
      return true;
    default:
      return false;
  }
}
}  // namespace

std::optional<std::vector<std::string>> portable_digest_terms(
    const CollectionSchema& schema, const std::function<std::string(const Column&)>& term) {
  std::vector<std::string> terms;
  for (const auto* cols : {&schema.key_columns, &schema.columns}) {
    for (const Column& c : *cols) {
      if (!portable_digest_type(c.type)) return std::nullopt;
      terms.push_back(term(c));
    }
  }
  return terms;
}

}  // namespace tandem
