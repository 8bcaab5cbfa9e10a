// An in-memory Store for the microbenchmarks: the router's own cost is
// measured against it, so the "database calls" cost next to nothing. Only for
// benchmarks (integration tests use real servers). Thread safety: every call
// takes one mutex; record locks are a set of held keys.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "tandem/store.h"

namespace tandem::bench {

class MemoryStore : public Store {
 public:
  explicit MemoryStore(std::string name) : name_(std::move(name)) {}

  std::string_view name() const override { return name_; }
  Status ensure_collection(const CollectionSchema& schema, bool create_if_missing) override;
  Result<std::string> create_table_sql(const CollectionSchema& schema) const override;
  Result<Lookup> get(std::string_view collection, const Key& key) override;
  Result<std::vector<Lookup>> get_many(std::string_view collection, std::span<const Key> keys) override;
  Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view collection,
                                                      std::span<const Record> records,
                                                      LockPolicy policy) override;
  Status upsert(std::string_view collection, const Record& record) override;
  Result<PatchOutcome> patch(std::string_view collection, const Key& key, const FieldMap& fields) override;
  Status remove(std::string_view collection, const Key& key) override;
  Result<std::vector<Record>> scan(std::string_view collection, const KeyRange& range, size_t limit) override;
  Result<ScanBatch> scan_batch(std::string_view collection, const KeyRange& range, size_t limit) override;
  Result<std::vector<Key>> tombstones(std::string_view collection, const KeyRange& range,
                                      size_t limit) override;
  Result<uint64_t> count(std::string_view collection, const KeyRange& range) override;
  Result<std::vector<Key>> split_points(std::string_view collection, const KeyRange& range,
                                        size_t parts) override;
  Result<RecordLock> lock(std::string_view collection, const Key& key,
                          std::chrono::milliseconds timeout) override;
  Result<RecordLock> try_lock(std::string_view collection, const Key& key) override;
  Result<Digest> digest(std::string_view collection, const KeyRange& range) override;

 private:
  class Held;
  std::string name_;
  std::mutex mutex_;
  std::map<std::string, Record> rows_;               // encoded key -> record; guarded by mutex_
  std::set<std::string> tombstones_;                 // guarded by mutex_
  std::set<std::string> locked_;                     // guarded by mutex_
  std::map<std::string, CollectionSchema> schemas_;  // guarded by mutex_
};

}  // namespace tandem::bench
