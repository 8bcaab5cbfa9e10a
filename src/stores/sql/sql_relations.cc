// SqlStore::keys_matching: the records of a collection whose columns equal
// given values (a relation's children of one parent), for every SQL engine.
#include <fmt/format.h>

#include <optional>

#include "stores/sql/sql_store.h"

namespace tandem::sql {

ReferentialAction referential_action_from(std::string_view rule) {
  if (rule == "CASCADE" || rule == "c") return ReferentialAction::kCascade;
  if (rule == "SET NULL" || rule == "n") return ReferentialAction::kSetNull;
  if (rule == "SET DEFAULT" || rule == "d") return ReferentialAction::kSetDefault;
  if (rule == "RESTRICT" || rule == "r") return ReferentialAction::kRestrict;
  return ReferentialAction::kNoAction;
}

void add_foreign_key_column(std::vector<Relation>& out, const std::string& name, const std::string& child,
                            const std::string& column, const std::string& parent,
                            const std::string& reference, ReferentialAction on_update,
                            ReferentialAction on_delete) {
  if (out.empty() || out.back().name != name || out.back().child != child) {
    Relation r;
    r.name = name;
    r.child = child;
    r.parent = parent;
    r.on_update = on_update;
    r.on_delete = on_delete;
    out.push_back(std::move(r));
  }
  out.back().columns.push_back(column);
  out.back().references.push_back(reference);
}

Result<std::vector<Key>> SqlStore::keys_matching(std::string_view collection, const FieldMap& equal,
                                                 size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* t, table(collection));
  std::vector<Key> out;
  if (limit == 0 || equal.empty()) return out;
  const CollectionSchema& schema = t->schema;
  std::vector<std::pair<size_t, Value>> params;
  std::vector<std::string> conds;
  for (const auto& [field, value] : equal) {
    if (value.is_null()) return out;  // NULL = NULL is no match (MATCH SIMPLE)
    std::optional<size_t> index;
    for (size_t i = 0; i < schema.key_columns.size() && !index; ++i) {
      if (schema.key_columns[i].name == field) index = i;
    }
    for (size_t i = 0; i < schema.columns.size() && !index; ++i) {
      if (schema.columns[i].name == field) index = schema.key_columns.size() + i;
    }
    if (!index) {
      return Status::InvalidArgument(
          fmt::format("{} collection '{}': no column '{}' to search by (a relation's column)", name_,
                      schema.name, field));
    }
    params.emplace_back(*index, value);
    conds.push_back(fmt::format("{} = {}", quote_identifier(field), placeholder(params.size())));
  }
  std::string sql = fmt::format("SELECT {} FROM {} WHERE {} ORDER BY {}{}", t->key_columns, t->quoted,
                                fmt::join(conds, " AND "), t->order_by, limit_offset(limit, 0));
  std::vector<std::string> shown;
  for (const auto& [field, value] : equal) shown.push_back(fmt::format("{} = {}", field, value.to_display()));
  std::string what = fmt::format("searching {} collection '{}' for records with {}", name_, schema.name,
                                 fmt::join(shown, " and "));
  TANDEM_RETURN_IF_ERROR(query_table(*t, sql, params, what, [&](const SqlRow& row) -> Result<bool> {
    std::string field;
    TANDEM_ASSIGN_OR_RETURN(Key k, row.key(&field));
    out.push_back(std::move(k));
    return true;
  }));
  return out;
}

namespace {
// c."c1" IS NOT NULL AND ... AND NOT EXISTS (SELECT 1 FROM parent p WHERE p."r1" = c."c1" AND ...)
Result<std::string> orphan_condition(const Relation& r, const SqlTable& parent) {
  if (r.columns.empty() || r.columns.size() != r.references.size()) {
    return Status::InvalidArgument(fmt::format("relation {}: columns and references do not pair", r.name));
  }
  std::vector<std::string> not_null, match;
  for (size_t i = 0; i < r.columns.size(); ++i) {
    not_null.push_back(fmt::format("c.{} IS NOT NULL", quote_identifier(r.columns[i])));
    match.push_back(
        fmt::format("p.{} = c.{}", quote_identifier(r.references[i]), quote_identifier(r.columns[i])));
  }
  return fmt::format("{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})", fmt::join(not_null, " AND "),
                     parent.quoted, fmt::join(match, " AND "));
}
}  // namespace

Result<Store::Orphans> SqlStore::orphans(const Relation& relation, size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* child, table(relation.child));
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* parent, table(relation.parent));
  TANDEM_ASSIGN_OR_RETURN(std::string cond, orphan_condition(relation, *parent));
  std::string what = fmt::format("counting the orphans of relation {} in {}", relation.name, name_);
  Orphans out;
  TANDEM_RETURN_IF_ERROR(query(fmt::format("SELECT COUNT(*) FROM {} c WHERE {}", child->quoted, cond), {},
                               what, [&](const SqlRow& row) -> Result<bool> {
                                 TANDEM_ASSIGN_OR_RETURN(int64_t n, row.integer(0));
                                 out.count = static_cast<uint64_t>(n);
                                 return true;
                               }));
  if (out.count == 0 || limit == 0) return out;
  std::string sql = fmt::format("SELECT {} FROM {} c WHERE {} ORDER BY {}{}", child->key_columns,
                                child->quoted, cond, child->order_by, limit_offset(limit, 0));
  TANDEM_RETURN_IF_ERROR(query_table(*child, sql, {}, what, [&](const SqlRow& row) -> Result<bool> {
    std::string field;
    TANDEM_ASSIGN_OR_RETURN(Key k, row.key(&field));
    out.sample.push_back(std::move(k));
    return true;
  }));
  return out;
}

Status SqlStore::ensure_relation_index(const Relation& relation) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* child, table(relation.child));
  std::string index = relation.name + "_idx";
  TANDEM_RETURN_IF_ERROR(validate_identifier("index", index));
  std::vector<std::string> columns;
  for (const std::string& c : relation.columns) columns.push_back(quote_identifier(c));
  return query(fmt::format("CREATE INDEX IF NOT EXISTS {} ON {} ({})", quote_identifier(index), child->quoted,
                           fmt::join(columns, ", ")),
               {}, fmt::format("creating index {} in {} for relation {}", index, name_, relation.name),
               [](const SqlRow&) -> Result<bool> { return false; });
}

std::string foreign_key_clause(const Relation& r) {
  std::vector<std::string> columns, references;
  for (const std::string& c : r.columns) columns.push_back(quote_identifier(c));
  for (const std::string& c : r.references) references.push_back(quote_identifier(c));
  return fmt::format("ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                     quote_identifier(r.name), fmt::join(columns, ", "), quote_identifier(r.parent),
                     fmt::join(references, ", "), referential_action_sql(r.on_delete),
                     referential_action_sql(r.on_update));
}

}  // namespace tandem::sql
