#include "memory_store.h"

#include "core/encoding.h"

namespace tandem::bench {

class MemoryStore::Held : public RecordLock::Handle {
 public:
  Held(MemoryStore& store, std::string key) : store_(store), key_(std::move(key)) {}
  ~Held() override {
    std::lock_guard lock(store_.mutex_);
    store_.locked_.erase(key_);
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;

 private:
  MemoryStore& store_;
  std::string key_;
};

namespace {
std::string row_key(std::string_view collection, const Key& key) {
  std::string out(collection);
  out += '\0';
  out += key.encode();
  return out;
}
}  // namespace

Status MemoryStore::ensure_collection(const CollectionSchema& schema, bool /*create_if_missing*/) {
  std::lock_guard lock(mutex_);
  schemas_.insert_or_assign(schema.name, schema);
  return Status::Ok();
}

Result<std::string> MemoryStore::create_table_sql(const CollectionSchema& schema) const {
  return "-- in memory: " + schema.name;
}

Result<Lookup> MemoryStore::get(std::string_view collection, const Key& key) {
  std::string k = row_key(collection, key);
  std::lock_guard lock(mutex_);
  Lookup out;
  out.record.key = key;
  if (auto it = rows_.find(k); it != rows_.end()) {
    out.state = Lookup::State::kPresent;
    out.record = it->second;
  } else if (tombstones_.contains(k)) {
    out.state = Lookup::State::kTombstoned;
  }
  return out;
}

Result<std::vector<Lookup>> MemoryStore::get_many(std::string_view collection, std::span<const Key> keys) {
  std::vector<Lookup> out;
  for (const Key& k : keys) {
    TANDEM_ASSIGN_OR_RETURN(Lookup l, get(collection, k));
    out.push_back(std::move(l));
  }
  return out;
}

Result<std::vector<InsertOutcome>> MemoryStore::insert_if_absent(std::string_view collection,
                                                                 std::span<const Record> records,
                                                                 LockPolicy policy) {
  std::lock_guard lock(mutex_);
  std::vector<InsertOutcome> out;
  for (const Record& r : records) {
    std::string k = row_key(collection, r.key);
    if (policy == LockPolicy::kTryLockEach && locked_.contains(k)) {
      out.push_back(InsertOutcome::kLocked);
    } else if (tombstones_.contains(k)) {
      out.push_back(InsertOutcome::kTombstoned);
    } else if (rows_.contains(k)) {
      out.push_back(InsertOutcome::kAlreadyPresent);
    } else {
      rows_.emplace(std::move(k), r);
      out.push_back(InsertOutcome::kInserted);
    }
  }
  return out;
}

Status MemoryStore::upsert(std::string_view collection, const Record& record) {
  std::string k = row_key(collection, record.key);
  std::lock_guard lock(mutex_);
  tombstones_.erase(k);
  rows_.insert_or_assign(std::move(k), record);
  return Status::Ok();
}

Result<PatchOutcome> MemoryStore::patch(std::string_view collection, const Key& key, const FieldMap& fields) {
  std::string k = row_key(collection, key);
  std::lock_guard lock(mutex_);
  auto it = rows_.find(k);
  if (it == rows_.end()) return tombstones_.contains(k) ? PatchOutcome::kTombstoned : PatchOutcome::kNotFound;
  for (const auto& [name, value] : fields) it->second.fields[name] = value;
  return PatchOutcome::kPatched;
}

Status MemoryStore::remove(std::string_view collection, const Key& key) {
  std::string k = row_key(collection, key);
  std::lock_guard lock(mutex_);
  rows_.erase(k);
  tombstones_.insert(std::move(k));
  return Status::Ok();
}

Result<std::vector<Record>> MemoryStore::scan(std::string_view collection, const KeyRange& range,
                                              size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<Record> out;
  std::string prefix(collection);
  prefix += '\0';
  for (auto it = rows_.lower_bound(prefix); it != rows_.end() && out.size() < limit; ++it) {
    if (!it->first.starts_with(prefix)) break;
    if (range.contains(it->second.key)) out.push_back(it->second);
  }
  return out;
}

Result<ScanBatch> MemoryStore::scan_batch(std::string_view collection, const KeyRange& range, size_t limit) {
  ScanBatch out;
  TANDEM_ASSIGN_OR_RETURN(out.records, scan(collection, range, limit));
  if (!out.records.empty()) out.last_key = out.records.back().key;
  out.end_of_range = out.records.size() < limit;
  return out;
}

Result<std::vector<Key>> MemoryStore::tombstones(std::string_view /*collection*/, const KeyRange& /*range*/,
                                                 size_t /*limit*/) {
  return std::vector<Key>{};
}

Result<uint64_t> MemoryStore::count(std::string_view collection, const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<Record> all, scan(collection, range, SIZE_MAX));
  return all.size();
}

Result<std::vector<Key>> MemoryStore::split_points(std::string_view /*collection*/, const KeyRange& /*range*/,
                                                   size_t /*parts*/) {
  return std::vector<Key>{};
}

Result<RecordLock> MemoryStore::lock(std::string_view collection, const Key& key,
                                     std::chrono::milliseconds /*timeout*/) {
  TANDEM_ASSIGN_OR_RETURN(RecordLock l, try_lock(collection, key));
  if (!l.held()) return Status::Timeout("record lock held (the benchmark store does not wait)");
  return l;
}

Result<RecordLock> MemoryStore::try_lock(std::string_view collection, const Key& key) {
  std::string k = row_key(collection, key);
  std::lock_guard lock(mutex_);
  if (!locked_.insert(k).second) return RecordLock();
  return RecordLock(std::make_unique<Held>(*this, std::move(k)));
}

Result<Digest> MemoryStore::digest(std::string_view collection, const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<Record> all, scan(collection, range, SIZE_MAX));
  Digest d;
  std::lock_guard lock(mutex_);
  const CollectionSchema& schema = schemas_.at(std::string(collection));
  for (const Record& r : all) {
    ++d.count;
    d.hash += record_hash(schema, r);
  }
  return d;
}

}  // namespace tandem::bench
