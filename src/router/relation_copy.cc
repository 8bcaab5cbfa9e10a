#include "router/relation_copy.h"

#include <fmt/format.h>

#include <algorithm>

#include <map>
#include <set>

namespace tandem {

namespace {

std::string node_id(std::string_view collection, const Key& key) {
  return fmt::format("{}\x1f{}", collection, key.encode());
}

std::optional<size_t> key_index(const CollectionSchema& schema, std::string_view column) {
  for (size_t i = 0; i < schema.key_columns.size(); ++i) {
    if (schema.key_columns[i].name == column) return i;
  }
  return std::nullopt;
}

// The child's columns = the parent's referenced values: from the parent's
// key, else from its record (record null: unknown, nullopt).
std::optional<FieldMap> referenced_values(const Relation& r, const CollectionSchema& parent, const Key& key,
                                          const Record* record) {
  FieldMap out;
  for (size_t i = 0; i < r.columns.size() && i < r.references.size(); ++i) {
    if (auto k = key_index(parent, r.references[i]); k && *k < key.size()) {
      out.emplace(r.columns[i], key[*k]);
      continue;
    }
    if (record == nullptr) return std::nullopt;
    auto it = record->fields.find(r.references[i]);
    if (it == record->fields.end()) return std::nullopt;
    out.emplace(r.columns[i], it->second);
  }
  return out;
}

// The values of relation r's columns for parent key in store (its record read
// when a reference is no key column); nullopt when the parent is not there.
Result<std::optional<FieldMap>> parent_values(Store& store, const Relation& r, const SchemaLookup& schemas,
                                              const Key& key) {
  const CollectionSchema* parent = schemas(r.parent);
  if (parent == nullptr) return std::optional<FieldMap>();
  if (auto values = referenced_values(r, *parent, key, nullptr)) return values;
  TANDEM_ASSIGN_OR_RETURN(Lookup found, store.get(r.parent, key));
  if (!found.present()) return std::optional<FieldMap>();
  return referenced_values(r, *parent, key, &found.record);
}

std::string too_many(std::string_view collection, const Key& key, size_t limit, std::string_view relation) {
  return fmt::format(
      "collection '{}' record {}: the delete changed more than {} records through relations ({}); the copy "
      "keeps the record with its children and is queued for `tandem repair`, which copies them without the "
      "bound; or raise [migration] max_cascade_records",
      collection, key.to_display(), limit, relation);
}

class Copier {
 public:
  Copier(Store& from, Store& to, Store& lock_in, const std::vector<Relation>& relations,
         const SchemaLookup& schemas, const RelationCopyOptions& options)
      : from_(from),
        to_(to),
        lock_in_(lock_in),
        relations_(relations),
        schemas_(schemas),
        options_(options) {}

  Status run(std::string_view collection, const Key& key, const Cascade* pre, size_t* copied) {
    TANDEM_ASSIGN_OR_RETURN(RecordLock lock, lock_in_.lock(collection, key, options_.lock_timeout));
    if (options_.fence) TANDEM_RETURN_IF_ERROR(options_.fence());
    // Read the source only once the lock is held (copy_current_record).
    TANDEM_ASSIGN_OR_RETURN(Lookup current, from_.get(collection, key));
    if (current.present()) {
      TANDEM_RETURN_IF_ERROR(to_.upsert(collection, current.record));
      // Re-created since the remove whose cascade the pre-image holds: those
      // children are gone in the source all the same; copy their outcome.
      if (pre != nullptr && !pre->exceeded) {
        for (const CascadeNode& child : pre->root.children) TANDEM_RETURN_IF_ERROR(copy_child(child));
      }
      return Status::Ok();
    }
    if (pre != nullptr && pre->exceeded) {
      return Status::FailedPrecondition(too_many(collection, key, options_.max_records, pre->relation));
    }
    if (pre != nullptr) index(pre->root);
    CascadeNode root{std::string(collection), key, "", {}};
    visited_.insert(node_id(collection, key));
    TANDEM_RETURN_IF_ERROR(gather(root, 0));
    // Children first, then the parent.
    for (const CascadeNode& child : root.children) TANDEM_RETURN_IF_ERROR(copy_child(child));
    if (copied != nullptr) *copied = copied_;
    return to_.remove(collection, key);
  }

 private:
  void index(const CascadeNode& node) {
    pre_.emplace(node_id(node.collection, node.key), &node);
    for (const CascadeNode& c : node.children) index(c);
  }

  // The children of node (its pre-image, then the copy's own), recursively.
  Status gather(CascadeNode& node, size_t depth) {
    if (depth >= kMaxCascadeDepth) {
      return Status::FailedPrecondition(fmt::format(
          "collection '{}' record {}: relations nest deeper than {} levels below it; queued for `tandem "
          "repair`",
          node.collection, node.key.to_display(), kMaxCascadeDepth));
    }
    auto add = [&](const std::string& collection, const Key& k, const std::string& relation) -> Status {
      if (!visited_.insert(node_id(collection, k)).second) return Status::Ok();
      node.children.push_back(CascadeNode{collection, k, relation, {}});
      if (++found_ > options_.max_records) {
        return Status::FailedPrecondition(
            too_many(node.collection, node.key, options_.max_records, relation));
      }
      return Status::Ok();
    };
    if (auto it = pre_.find(node_id(node.collection, node.key)); it != pre_.end()) {
      for (const CascadeNode& c : it->second->children)
        TANDEM_RETURN_IF_ERROR(add(c.collection, c.key, c.relation));
    }
    for (const Relation& r : relations_) {
      if (r.parent != node.collection) continue;
      TANDEM_ASSIGN_OR_RETURN(std::optional<FieldMap> values, parent_values(to_, r, schemas_, node.key));
      if (!values) continue;
      size_t limit = options_.max_records == SIZE_MAX
                         ? SIZE_MAX
                         : options_.max_records - std::min(found_, options_.max_records) + 1;
      TANDEM_ASSIGN_OR_RETURN(std::vector<Key> keys, to_.keys_matching(r.child, *values, limit));
      for (const Key& k : keys) TANDEM_RETURN_IF_ERROR(add(r.child, k, r.name));
    }
    // Only a child its relation deletes with the parent has children to
    // follow: one set to NULL (or kept) stays, and so do its own.
    for (CascadeNode& c : node.children) {
      if (deletes_with_parent(c)) TANDEM_RETURN_IF_ERROR(gather(c, depth + 1));
    }
    return Status::Ok();
  }

  bool deletes_with_parent(const CascadeNode& child) const {
    return std::any_of(relations_.begin(), relations_.end(), [&](const Relation& r) {
      return r.name == child.relation && r.child == child.collection &&
             r.on_delete == ReferentialAction::kCascade;
    });
  }

  // Under the child's lock (its ancestors' held): the source's version; a
  // child still there (set null) is copied, a child gone takes its own
  // children first.
  Status copy_child(const CascadeNode& node) {
    TANDEM_ASSIGN_OR_RETURN(RecordLock lock, lock_in_.lock(node.collection, node.key, options_.lock_timeout));
    if (options_.fence) TANDEM_RETURN_IF_ERROR(options_.fence());
    TANDEM_ASSIGN_OR_RETURN(Lookup current, from_.get(node.collection, node.key));
    ++copied_;
    if (current.present()) return to_.upsert(node.collection, current.record);
    for (const CascadeNode& child : node.children) TANDEM_RETURN_IF_ERROR(copy_child(child));
    Status s = to_.remove(node.collection, node.key);
    if (!s.ok()) {
      return s.with_context(fmt::format("removing collection '{}' record {}, a child through relation {}",
                                        node.collection, node.key.to_display(), node.relation));
    }
    return s;
  }

  Store& from_;
  Store& to_;
  Store& lock_in_;
  const std::vector<Relation>& relations_;
  const SchemaLookup& schemas_;
  const RelationCopyOptions& options_;
  std::set<std::string> visited_;
  std::map<std::string, const CascadeNode*> pre_;
  size_t found_ = 0;
  size_t copied_ = 0;
};

}  // namespace

bool needs_pre_image(const std::vector<Relation>& relations, std::string_view collection) {
  for (const Relation& r : relations) {
    if (r.parent == collection && r.changes_children(/*deleting=*/true)) return true;
  }
  return false;
}

Result<Cascade> collect_children(Store& source, const std::vector<Relation>& relations,
                                 const SchemaLookup& schemas, std::string_view collection, const Key& key,
                                 size_t budget) {
  Cascade out;
  out.root = CascadeNode{std::string(collection), key, "", {}};
  std::set<std::string> visited{node_id(collection, key)};
  std::function<Status(CascadeNode&, size_t)> fill = [&](CascadeNode& node, size_t depth) -> Status {
    for (const Relation& r : relations) {
      if (r.parent != node.collection || !r.changes_children(/*deleting=*/true)) continue;
      TANDEM_ASSIGN_OR_RETURN(std::optional<FieldMap> values, parent_values(source, r, schemas, node.key));
      if (!values) continue;
      size_t limit = budget == SIZE_MAX ? SIZE_MAX : budget - std::min(out.records, budget) + 1;
      TANDEM_ASSIGN_OR_RETURN(std::vector<Key> keys, source.keys_matching(r.child, *values, limit));
      size_t first = node.children.size();
      for (const Key& k : keys) {
        if (!visited.insert(node_id(r.child, k)).second) continue;
        node.children.push_back(CascadeNode{r.child, k, r.name, {}});
        if (++out.records > budget) {
          out.exceeded = true;
          out.relation = r.name;
          return Status::Ok();
        }
      }
      // Only a deleted child has children of its own to lose.
      if (r.on_delete != ReferentialAction::kCascade || depth + 1 >= kMaxCascadeDepth) continue;
      for (size_t i = first; i < node.children.size() && !out.exceeded; ++i) {
        TANDEM_RETURN_IF_ERROR(fill(node.children[i], depth + 1));
      }
      if (out.exceeded) return Status::Ok();
    }
    return Status::Ok();
  };
  TANDEM_RETURN_IF_ERROR(fill(out.root, 0));
  return out;
}

Status copy_with_relations(Store& from, Store& to, Store& lock_in, const std::vector<Relation>& relations,
                           const SchemaLookup& schemas, std::string_view collection, const Key& key,
                           const Cascade* pre, const RelationCopyOptions& options, size_t* copied) {
  Copier copier(from, to, lock_in, relations, schemas, options);
  return copier.run(collection, key, pre, copied);
}

Result<std::vector<Relation>> effective_relations(const std::vector<Relation>& old_foreign_keys,
                                                  const SchemaLookup& schemas,
                                                  const std::set<std::string, std::less<>>& ignored) {
  std::vector<Relation> out;
  auto has_column = [](const CollectionSchema& s, const std::string& name) {
    return key_index(s, name).has_value() || s.find_column(name) != nullptr;
  };
  std::set<std::string, std::less<>> names;
  for (const Relation& r : old_foreign_keys) names.insert(r.name);
  for (const std::string& name : ignored) {
    if (names.contains(name)) continue;
    return Status::FailedPrecondition(
        fmt::format("[migration] ignore_relations names '{}', which is not a foreign key of old (old's: {})",
                    name, names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
  }
  const char* const kIgnoreHint =
      "; or, if the service never changes it while tandem routes, list '{}' in [migration] ignore_relations "
      "(tandem then copies none of its changes: verify shows them)";
  for (const Relation& r : old_foreign_keys) {
    if (ignored.contains(r.name)) continue;
    const CollectionSchema* child = schemas(r.child);
    const CollectionSchema* parent = schemas(r.parent);
    if (child == nullptr) continue;  // its children are not migrated
    const bool changes = r.changes_children(true) || r.changes_children(false);
    if (!r.unusable.empty()) {
      if (!changes) continue;  // nothing to copy: tandem need not follow it
      return Status::FailedPrecondition(
          fmt::format("relation {}: {}; its action changes '{}' when '{}' changes{}", r.to_display(),
                      r.unusable, r.child, r.parent, fmt::format(fmt::runtime(kIgnoreHint), r.name)));
    }
    if (parent == nullptr) {
      if (changes) {
        return Status::FailedPrecondition(fmt::format(
            "relation {}: configured collection '{}' references '{}', which is not configured, and old's "
            "foreign key changes '{}' when '{}' changes; those changes never pass through tandem: configure "
            "collection '{}' too{}",
            r.to_display(), r.child, r.parent, r.child, r.parent, r.parent,
            fmt::format(fmt::runtime(kIgnoreHint), r.name)));
      }
      continue;
    }
    for (const std::string& c : r.columns) {
      if (!has_column(*child, c)) {
        return Status::FailedPrecondition(
            fmt::format("relation {}: column '{}' is not configured in collection '{}'; add it to the "
                        "collection's columns",
                        r.to_display(), c, r.child));
      }
    }
    // Keys are immutable through tandem, so an ON UPDATE action fires only
    // for references to other (unique) columns of the parent: tandem does
    // not copy those children yet; refused rather than left to diverge.
    if (r.changes_children(false)) {
      for (const std::string& c : r.references) {
        if (key_index(*parent, c).has_value()) continue;
        return Status::FailedPrecondition(fmt::format(
            "relation {}: its ON UPDATE action changes '{}' when column '{}' of '{}' (not its key) changes, "
            "and "
            "tandem does not copy those children yet{}",
            r.to_display(), r.child, c, r.parent, fmt::format(fmt::runtime(kIgnoreHint), r.name)));
      }
    }
    for (const std::string& c : r.references) {
      if (!has_column(*parent, c)) {
        return Status::FailedPrecondition(
            fmt::format("relation {}: column '{}' is not configured in collection '{}'; add it to the "
                        "collection's columns",
                        r.to_display(), c, r.parent));
      }
    }
    out.push_back(r);
  }
  return out;
}

bool enforced_in(const std::vector<Relation>& relations, const Relation& r) {
  for (const Relation& x : relations) {
    if (x.child == r.child && x.parent == r.parent && x.columns == r.columns &&
        x.references == r.references) {
      return true;
    }
  }
  return false;
}

std::vector<const CollectionSchema*> parents_first(std::vector<const CollectionSchema*> collections,
                                                   const std::vector<Relation>& relations) {
  std::vector<const CollectionSchema*> out;
  std::vector<bool> placed(collections.size(), false);
  auto waits = [&](size_t i) {  // a parent of collections[i] not placed yet (self-references aside)
    for (const Relation& r : relations) {
      if (r.child != collections[i]->name || r.parent == r.child) continue;
      for (size_t j = 0; j < collections.size(); ++j) {
        if (!placed[j] && j != i && collections[j]->name == r.parent) return true;
      }
    }
    return false;
  };
  while (out.size() < collections.size()) {
    bool progress = false;
    for (size_t i = 0; i < collections.size(); ++i) {
      if (placed[i] || waits(i)) continue;
      placed[i] = true;
      out.push_back(collections[i]);
      progress = true;
      break;  // restart: keep config order among those ready
    }
    if (!progress) {  // a cycle: the first left, in config order
      for (size_t i = 0; i < collections.size(); ++i) {
        if (!placed[i]) {
          placed[i] = true;
          out.push_back(collections[i]);
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace tandem
