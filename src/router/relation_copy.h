// copy_with_relations: copy_current_record for a record that is the parent
// of relations (foreign keys between configured collections). The write
// primary's own foreign keys cascade (delete, set null, set default); tandem
// never emulates an action: it copies the *outcome* of each child, as read in
// the source, into the copy, with the parent, in the same sync. Shared by the
// write-secondary sync, the repair queue and verify --repair
// (docs/ARCHITECTURE.md, "Relations").
//
// Children of a parent key P: the pre-image (P's children in the source,
// read before the write that removed P: it holds the children the backfill
// may have read but not yet inserted, which then get a tombstone in the
// copy), and the copy's own search by P's referenced values (children
// already there, whatever the action). Order: P absent in the source (a
// delete): children first, then P (a RESTRICT foreign key in the copy accepts
// P's removal only then); P present: P alone (keys are immutable through
// tandem, so a child's reference to P's key is unchanged).
//
// Locks: all are lock_in's (new's) record locks, taken ancestor before
// descendant only, a visited set so that no key is locked twice in one copy
// (self-references, data cycles); at most depth + 1 held. Bounds: depth <=
// kMaxCascadeDepth (InnoDB's own limit) and at most max_records children; over
// either nothing is copied and P stays in the copy (never orphans): the
// caller queues P, whose repair runs without the bound.
//
// Thread safety: as copy_current_record. Errors: the locks' and the stores';
// an exceeded bound is kFailedPrecondition naming P, the relation and the fix.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "router/copy_record.h"
#include "tandem/key.h"
#include "tandem/schema.h"
#include "tandem/status.h"
#include "tandem/store.h"

namespace tandem {

inline constexpr size_t kMaxCascadeDepth = 15;

// The schema of a configured collection by name, or nullptr.
using SchemaLookup = std::function<const CollectionSchema*(std::string_view)>;

// One record of a cascade and the children found under it.
struct CascadeNode {
  std::string collection;
  Key key;
  std::string relation;  // the relation that made it a child ("" for the root)
  std::vector<CascadeNode> children;
};

// The pre-image of a write to a parent: its children in the write primary
// before the write, recursively through cascading deletes.
struct Cascade {
  CascadeNode root;
  size_t records = 0;     // children found (the root not counted)
  bool exceeded = false;  // more than the budget: not every child was read
  std::string relation;   // the relation that exceeded it
  bool empty() const { return root.children.empty(); }
};

// Whether a write to collection needs a pre-image: it is the parent of a
// relation whose delete action changes children.
bool needs_pre_image(const std::vector<Relation>& relations, std::string_view collection);

// Reads the pre-image in source (the write primary) before a remove of key:
// each child of key by every relation whose ON DELETE changes children, and,
// through cascading deletes, theirs; at most budget + 1 records.
Result<Cascade> collect_children(Store& source, const std::vector<Relation>& relations,
                                 const SchemaLookup& schemas, std::string_view collection, const Key& key,
                                 size_t budget);

struct RelationCopyOptions {
  std::chrono::milliseconds lock_timeout{10000};
  size_t max_records = 1000;  // children per copy; SIZE_MAX for a repair
  CopyFence fence;            // checked after each record lock (copy_record.h)
};

// Copies from's current version of key into to with the children relations
// make it carry, as above. pre may be null (a repair: the copy's search
// alone). *copied, if given, receives how many children were copied.
Status copy_with_relations(Store& from, Store& to, Store& lock_in, const std::vector<Relation>& relations,
                           const SchemaLookup& schemas, std::string_view collection, const Key& key,
                           const Cascade* pre, const RelationCopyOptions& options, size_t* copied = nullptr);

// The relations among old's foreign keys that tandem keeps (both collections
// configured), checked: each column configured in its collection, and no
// foreign key from a configured child to an unconfigured parent whose action
// changes children (its cascades never pass through tandem): kFailedPrecondition
// naming the relation and the fix. Relations named in ignored ([migration]
// ignore_relations) are left out unchecked; a name there that is not one of
// old's foreign keys is a kFailedPrecondition listing old's. An unusable
// relation (Relation::unusable) is left out if it changes no child, else
// refused with its reason.
Result<std::vector<Relation>> effective_relations(const std::vector<Relation>& old_foreign_keys,
                                                  const SchemaLookup& schemas,
                                                  const std::set<std::string, std::less<>>& ignored = {});

// Whether relations holds one between the same collections and columns as r
// (names and actions aside: a database names its constraints its own way).
bool enforced_in(const std::vector<Relation>& relations, const Relation& r);

// The collections in an order where each parent precedes its children
// (stable: config order otherwise, and for cycles): the backfill copies
// parents first, so that a child never arrives before its parent.
std::vector<const CollectionSchema*> parents_first(std::vector<const CollectionSchema*> collections,
                                                   const std::vector<Relation>& relations);

}  // namespace tandem
