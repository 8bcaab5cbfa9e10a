// StoreWrapper: a Store that forwards every call to another Store. Subclass it
// and override what you want to observe or change: fault injection, latency
// injection, call counting (tests), metrics. Same contract as Store.
// Ownership: holds a non-owning pointer; the wrapped store must outlive it.
#pragma once

#include "tandem/store.h"

namespace tandem {

class StoreWrapper : public Store {
 public:
  explicit StoreWrapper(Store* target) : target_(target) {}

  Store* target() const { return target_; }

  std::string_view name() const override { return target_->name(); }
  Status ensure_collection(const CollectionSchema& schema, bool create_if_missing) override {
    return target_->ensure_collection(schema, create_if_missing);
  }
  Result<std::string> create_table_sql(const CollectionSchema& schema) const override {
    return target_->create_table_sql(schema);
  }
  Result<ColumnShapes> column_shapes(const CollectionSchema& schema) override {
    return target_->column_shapes(schema);
  }
  Result<TableDefinition> table_definition(const CollectionSchema& schema,
                                           const ColumnShapes& like) const override {
    return target_->table_definition(schema, like);
  }
  Status create_collection(const CollectionSchema& schema, const ColumnShapes& like) override {
    return target_->create_collection(schema, like);
  }
  Status drop_tandem_tables() override { return target_->drop_tandem_tables(); }
  Status raise_fence(const FenceToken& token) override { return target_->raise_fence(token); }
  Result<FenceToken> read_fence() override { return target_->read_fence(); }
  Result<Lookup> get(std::string_view collection, const Key& key) override {
    return target_->get(collection, key);
  }
  Result<std::vector<Lookup>> get_many(std::string_view collection, std::span<const Key> keys) override {
    return target_->get_many(collection, keys);
  }
  Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view collection,
                                                      std::span<const Record> records,
                                                      LockPolicy policy) override {
    return target_->insert_if_absent(collection, records, policy);
  }
  Status upsert(std::string_view collection, const Record& record) override {
    return target_->upsert(collection, record);
  }
  Result<PatchOutcome> patch(std::string_view collection, const Key& key, const FieldMap& fields) override {
    return target_->patch(collection, key, fields);
  }
  Status remove(std::string_view collection, const Key& key) override {
    return target_->remove(collection, key);
  }
  Result<std::vector<Record>> scan(std::string_view collection, const KeyRange& range,
                                   size_t limit) override {
    return target_->scan(collection, range, limit);
  }
  Result<ScanBatch> scan_batch(std::string_view collection, const KeyRange& range, size_t limit) override {
    return target_->scan_batch(collection, range, limit);
  }
  Result<std::vector<Key>> tombstones(std::string_view collection, const KeyRange& range,
                                      size_t limit) override {
    return target_->tombstones(collection, range, limit);
  }
  Result<uint64_t> count(std::string_view collection, const KeyRange& range) override {
    return target_->count(collection, range);
  }
  Result<std::vector<Key>> split_points(std::string_view collection, const KeyRange& range,
                                        size_t parts) override {
    return target_->split_points(collection, range, parts);
  }
  Result<RecordLock> lock(std::string_view collection, const Key& key,
                          std::chrono::milliseconds timeout) override {
    return target_->lock(collection, key, timeout);
  }
  Result<RecordLock> try_lock(std::string_view collection, const Key& key) override {
    return target_->try_lock(collection, key);
  }
  Result<std::optional<Digest>> portable_digest(std::string_view collection, const KeyRange& range) override {
    return target_->portable_digest(collection, range);
  }
  std::shared_ptr<const KeyIdentity> key_identity(std::string_view collection) const override {
    return target_->key_identity(collection);
  }
  void offer_key_identity(std::string_view collection,
                          const std::shared_ptr<const KeyIdentity>& old) override {
    target_->offer_key_identity(collection, old);
  }
  bool respells_keys(std::string_view collection) const override {
    return target_->respells_keys(collection);
  }
  void keep_key_spellings(std::string_view collection) override { target_->keep_key_spellings(collection); }
  Result<Digest> digest(std::string_view collection, const KeyRange& range) override {
    return target_->digest(collection, range);
  }
  Result<std::vector<Relation>> foreign_keys() override { return target_->foreign_keys(); }
  Result<std::vector<Key>> keys_matching(std::string_view collection, const FieldMap& equal,
                                         size_t limit) override {
    return target_->keys_matching(collection, equal, limit);
  }
  Result<Orphans> orphans(const Relation& relation, size_t limit) override {
    return target_->orphans(relation, limit);
  }
  Result<std::vector<std::string>> foreign_key_sql(const Relation& relation) const override {
    return target_->foreign_key_sql(relation);
  }
  Status ensure_foreign_key(const Relation& relation) override {
    return target_->ensure_foreign_key(relation);
  }
  Status ensure_relation_index(const Relation& relation) override {
    return target_->ensure_relation_index(relation);
  }

 private:
  Store* target_;
};

}  // namespace tandem
