// MappedStore: presents old in new's shape. Every component (router,
// backfill, verify, repair, transfer) then works with one schema per
// collection: reads of old are converted to new's records (a record that does
// not convert is a BadRecord in scan_batch, quarantined by the backfill, and
// an error naming the field elsewhere), writes into old are converted back.
// Collections without a mapping pass through unchanged.
//
// Writes into a document (or into a table with columns no column of new
// maps) read the record first and keep what is not mapped; those
// read-modify-writes are serialised per record within this process.
//
// Thread safety: as the Store it wraps. Ownership: does not own inner.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "tandem/mapping.h"
#include "tandem/schema.h"
#include "tandem/store_wrapper.h"

namespace tandem {

class MappedStore : public StoreWrapper {
 public:
  // mappings: per collection name, how old's records become new's (Config::mappings);
  // each name must be one of collections (Config::collections).
  static Result<std::unique_ptr<MappedStore>> create(
      Store* inner, std::span<const CollectionSchema> collections,
      const std::map<std::string, CollectionMapping>& mappings);

  Status ensure_collection(const CollectionSchema& schema, bool create_if_missing) override;
  // A mapped collection's columns are new's, which old does not declare: none described.
  Result<ColumnShapes> column_shapes(const CollectionSchema& schema) override {
    if (mapper(schema.name) != nullptr) return ColumnShapes{};
    return StoreWrapper::column_shapes(schema);
  }
  Result<Lookup> get(std::string_view c, const Key& k) override;
  Result<std::vector<Lookup>> get_many(std::string_view c, std::span<const Key> keys) override;
  Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view c, std::span<const Record> records,
                                                      LockPolicy policy) override;
  Status upsert(std::string_view c, const Record& r) override;
  Result<PatchOutcome> patch(std::string_view c, const Key& k, const FieldMap& fields) override;
  Status remove(std::string_view c, const Key& k) override;
  Result<std::vector<Record>> scan(std::string_view c, const KeyRange& range, size_t limit) override;
  Result<ScanBatch> scan_batch(std::string_view c, const KeyRange& range, size_t limit) override;
  Result<std::vector<Key>> tombstones(std::string_view c, const KeyRange& range, size_t limit) override;
  Result<uint64_t> count(std::string_view c, const KeyRange& range) override;
  Result<std::vector<Key>> split_points(std::string_view c, const KeyRange& range, size_t parts) override;
  Result<RecordLock> lock(std::string_view c, const Key& k, std::chrono::milliseconds timeout) override;
  Result<RecordLock> try_lock(std::string_view c, const Key& k) override;
  Result<Digest> digest(std::string_view c, const KeyRange& range) override;
  // Old's foreign keys in new's names (mapped_relations.cc): a mapped table
  // and its columns renamed; a relation column that comes from a document
  // path or through a conversion is kConfig naming the relation.
  Result<std::vector<Relation>> foreign_keys() override;
  Result<std::vector<Key>> keys_matching(std::string_view c, const FieldMap& equal, size_t limit) override;
  // The relation in old's names (tables, unconverted columns); the sample's
  // keys are new's (a key maps unconverted, column by column).
  Result<Orphans> orphans(const Relation& relation, size_t limit) override;
  // A mapped collection's digest is of converted records: never computed in SQL.
  Result<std::optional<Digest>> portable_digest(std::string_view c, const KeyRange& range) override {
    if (mapper(c) != nullptr) return std::optional<Digest>();
    return StoreWrapper::portable_digest(c, range);
  }
  std::shared_ptr<const KeyIdentity> key_identity(std::string_view c) const override {
    return StoreWrapper::key_identity(table(c));
  }

 private:
  explicit MappedStore(Store* inner) : StoreWrapper(inner) {}
  const Mapper* mapper(std::string_view collection) const;
  std::string table(std::string_view collection) const;
  Result<Lookup> mapped(const Mapper& m, Lookup l) const;
  std::mutex& stripe(const Key& key);

  std::map<std::string, Mapper, std::less<>> mappers_;  // by collection name; immutable after create
  std::array<std::mutex, 64> stripes_;
};

}  // namespace tandem
