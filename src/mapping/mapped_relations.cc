// MappedStore: old's foreign keys, and its search by a relation's columns,
// in new's names.
#include <fmt/format.h>

#include <optional>

#include "mapping/mapped_store.h"

namespace tandem {

namespace {
// Old's column for new's column of a mapped collection, when it is the same
// value renamed (no document, no conversion); nullopt otherwise.
std::optional<std::string> old_column(const Mapper& m, std::string_view column) {
  const CollectionMapping& mapping = m.mapping();
  const auto& new_keys = m.new_schema().key_columns;
  for (size_t i = 0; i < new_keys.size() && i < mapping.old_schema.key_columns.size(); ++i) {
    if (new_keys[i].name == column) return mapping.old_schema.key_columns[i].name;
  }
  if (mapping.document) return std::nullopt;
  for (const FieldMapping& f : mapping.fields) {
    if (f.column != column) continue;
    if (!f.convert.empty() || f.from.find('.') != std::string::npos) return std::nullopt;
    return f.from;
  }
  return std::string(column);  // a column not in `map` comes from the field of the same name
}

// New's column for old's column; nullopt when no column of new is that value unconverted.
std::optional<std::string> new_column(const Mapper& m, std::string_view column) {
  for (const Column& c : m.new_schema().key_columns) {
    if (old_column(m, c.name) == column) return c.name;
  }
  for (const Column& c : m.new_schema().columns) {
    if (old_column(m, c.name) == column) return c.name;
  }
  return std::nullopt;
}
}  // namespace

Result<std::vector<Relation>> MappedStore::foreign_keys() {
  TANDEM_ASSIGN_OR_RETURN(std::vector<Relation> found, StoreWrapper::foreign_keys());
  // Old's table name -> the mapped collection.
  std::map<std::string, const Mapper*, std::less<>> by_table;
  for (const auto& [name, m] : mappers_) by_table.emplace(m.old_schema().name, &m);
  // A relation through a column the mapping converts cannot be followed:
  // marked unusable (effective_relations decides), not an error here, so
  // that a foreign key that changes nothing never stops an open.
  auto rename = [&](std::string& table, std::vector<std::string>& columns, const Relation& r) -> Status {
    auto it = by_table.find(table);
    if (it == by_table.end()) return Status::Ok();
    table = it->second->new_schema().name;
    for (std::string& c : columns) {
      std::optional<std::string> renamed = new_column(*it->second, c);
      if (!renamed) {
        return Status::Config(fmt::format(
            "relation {}: old's column '{}' of table '{}' reaches new's collection '{}' through a document "
            "or a conversion; a relation's columns must map unconverted (map them as plain columns)",
            r.name, c, it->first, table));
      }
      c = *renamed;
    }
    return Status::Ok();
  };
  for (Relation& r : found) {
    Relation original = r;
    Status renamed = rename(r.child, r.columns, original);
    if (renamed.ok()) renamed = rename(r.parent, r.references, original);
    if (!renamed.ok()) r.unusable = renamed.message();
  }
  return found;
}

Result<std::vector<Key>> MappedStore::keys_matching(std::string_view c, const FieldMap& equal, size_t limit) {
  const Mapper* m = mapper(c);
  if (m == nullptr) return StoreWrapper::keys_matching(c, equal, limit);
  FieldMap in_old;
  for (const auto& [field, value] : equal) {
    std::optional<std::string> column = old_column(*m, field);
    if (!column) {
      return Status::InvalidArgument(fmt::format(
          "old collection '{}': column '{}' is converted or in a document: cannot search by it", c, field));
    }
    in_old.emplace(*column, value);
  }
  return StoreWrapper::keys_matching(m->old_schema().name, in_old, limit);
}

Result<Store::Orphans> MappedStore::orphans(const Relation& relation, size_t limit) {
  Relation in_old = relation;
  for (auto [table, columns] :
       {std::pair{&in_old.child, &in_old.columns}, std::pair{&in_old.parent, &in_old.references}}) {
    const Mapper* m = mapper(*table);
    if (m == nullptr) continue;
    for (std::string& c : *columns) {
      std::optional<std::string> column = old_column(*m, c);
      if (!column) {
        return Status::InvalidArgument(
            fmt::format("relation {}: column '{}' of '{}' is converted or in a document in old: cannot count "
                        "orphans by it",
                        relation.name, c, *table));
      }
      c = *column;
    }
    *table = m->old_schema().name;
  }
  return StoreWrapper::orphans(in_old, limit);
}

}  // namespace tandem
