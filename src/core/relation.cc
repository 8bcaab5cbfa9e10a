// Relation and ReferentialAction (tandem/schema.h).
#include <fmt/format.h>

#include "tandem/schema.h"
#include "tandem/store.h"

namespace tandem {

std::string_view referential_action_sql(ReferentialAction action) {
  switch (action) {
    case ReferentialAction::kNoAction:
      return "NO ACTION";
    case ReferentialAction::kRestrict:
      return "RESTRICT";
    case ReferentialAction::kCascade:
      return "CASCADE";
    case ReferentialAction::kSetNull:
      return "SET NULL";
    case ReferentialAction::kSetDefault:
      return "SET DEFAULT";
  }
  return "NO ACTION";
}

bool Relation::changes_children(bool deleting) const {
  ReferentialAction a = deleting ? on_delete : on_update;
  return a == ReferentialAction::kCascade || a == ReferentialAction::kSetNull ||
         a == ReferentialAction::kSetDefault;
}

std::string Relation::to_display() const {
  return fmt::format("{}: {} ({}) -> {} ({}) ON DELETE {} ON UPDATE {}", name, child,
                     fmt::join(columns, ", "), parent, fmt::join(references, ", "),
                     referential_action_sql(on_delete), referential_action_sql(on_update));
}

Result<std::vector<Key>> Store::keys_matching(std::string_view collection, const FieldMap& equal,
                                              size_t limit) {
  (void)equal;
  (void)limit;
  return Status::FailedPrecondition(fmt::format(
      "{} database: cannot search collection '{}' by a relation's columns (this store has no keys_matching)",
      name(), collection));
}

namespace {
Status no_relations(std::string_view store, std::string_view what, const Relation& relation) {
  return Status::FailedPrecondition(fmt::format(
      "{} database: cannot {} for relation {} (this store has no foreign keys)", store, what, relation.name));
}
}  // namespace

Result<Store::Orphans> Store::orphans(const Relation& relation, size_t limit) {
  (void)limit;
  return no_relations(name(), "count orphans", relation);
}

Result<std::vector<std::string>> Store::foreign_key_sql(const Relation& relation) const {
  return no_relations(name(), "create a foreign key", relation);
}

Status Store::ensure_foreign_key(const Relation& relation) {
  return no_relations(name(), "create a foreign key", relation);
}

Status Store::ensure_relation_index(const Relation& relation) {
  return no_relations(name(), "create an index", relation);
}

}  // namespace tandem
