#include "mapping/mapped_store.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/encoding.h"

namespace tandem {

Result<std::unique_ptr<MappedStore>> MappedStore::create(
    Store* inner, std::span<const CollectionSchema> collections,
    const std::map<std::string, CollectionMapping>& mappings) {
  std::unique_ptr<MappedStore> store(new MappedStore(inner));
  for (const auto& [name, mapping] : mappings) {
    auto found = std::find_if(collections.begin(), collections.end(),
                              [&name = name](const CollectionSchema& c) { return c.name == name; });
    const CollectionSchema* schema = found == collections.end() ? nullptr : &*found;
    if (schema == nullptr)
      return Status::Config(fmt::format("a mapping names collection '{}', which has no entry", name));
    TANDEM_ASSIGN_OR_RETURN(Mapper m, Mapper::create(*schema, mapping));
    store->mappers_.emplace(name, std::move(m));
  }
  return store;
}

const Mapper* MappedStore::mapper(std::string_view collection) const {
  auto it = mappers_.find(collection);
  return it == mappers_.end() ? nullptr : &it->second;
}

std::string MappedStore::table(std::string_view collection) const {
  const Mapper* m = mapper(collection);
  return m == nullptr ? std::string(collection) : m->old_schema().name;
}

std::mutex& MappedStore::stripe(const Key& key) {
  return stripes_[hash_bytes(key.encode()) % stripes_.size()];
}

Result<Lookup> MappedStore::mapped(const Mapper& m, Lookup l) const {
  if (!l.present()) return l;
  TANDEM_ASSIGN_OR_RETURN(l.record, m.to_new(l.record));
  return l;
}

Status MappedStore::ensure_collection(const CollectionSchema& schema, bool create_if_missing) {
  const Mapper* m = mapper(schema.name);
  return StoreWrapper::ensure_collection(m == nullptr ? schema : m->old_schema(), create_if_missing);
}

Result<Lookup> MappedStore::get(std::string_view c, const Key& k) {
  const Mapper* m = mapper(c);
  if (m == nullptr) return StoreWrapper::get(c, k);
  TANDEM_ASSIGN_OR_RETURN(Lookup l, StoreWrapper::get(m->old_schema().name, k));
  return mapped(*m, std::move(l));
}

Result<std::vector<Lookup>> MappedStore::get_many(std::string_view c, std::span<const Key> keys) {
  const Mapper* m = mapper(c);
  if (m == nullptr) return StoreWrapper::get_many(c, keys);
  TANDEM_ASSIGN_OR_RETURN(std::vector<Lookup> all, StoreWrapper::get_many(m->old_schema().name, keys));
  for (Lookup& l : all) {
    TANDEM_ASSIGN_OR_RETURN(l, mapped(*m, std::move(l)));
  }
  return all;
}

Result<std::vector<InsertOutcome>> MappedStore::insert_if_absent(std::string_view c,
                                                                 std::span<const Record> records,
                                                                 LockPolicy policy) {
  const Mapper* m = mapper(c);
  if (m == nullptr) return StoreWrapper::insert_if_absent(c, records, policy);
  std::vector<Record> old_records;
  old_records.reserve(records.size());
  for (const Record& r : records) {
    TANDEM_ASSIGN_OR_RETURN(Record converted, m->to_old(r, nullptr));
    old_records.push_back(std::move(converted));
  }
  return StoreWrapper::insert_if_absent(m->old_schema().name, old_records, policy);
}

Status MappedStore::upsert(std::string_view c, const Record& r) {
  const Mapper* m = mapper(c);
  if (m == nullptr) return StoreWrapper::upsert(c, r);
  const std::string& t = m->old_schema().name;
  if (!m->needs_existing()) {
    TANDEM_ASSIGN_OR_RETURN(Record old_record, m->to_old(r, nullptr));
    return StoreWrapper::upsert(t, old_record);
  }
  std::lock_guard lock(stripe(r.key));
  TANDEM_ASSIGN_OR_RETURN(Lookup existing, StoreWrapper::get(t, r.key));
  TANDEM_ASSIGN_OR_RETURN(Record old_record, m->to_old(r, existing.present() ? &existing.record : nullptr));
  return StoreWrapper::upsert(t, old_record);
}

Result<PatchOutcome> MappedStore::patch(std::string_view c, const Key& k, const FieldMap& fields) {
  const Mapper* m = mapper(c);
  if (m == nullptr) return StoreWrapper::patch(c, k, fields);
  const std::string& t = m->old_schema().name;
  // A patch in new's shape: read the record, apply the fields, write it back.
  std::lock_guard lock(stripe(k));
  TANDEM_ASSIGN_OR_RETURN(Lookup existing, StoreWrapper::get(t, k));
  if (!existing.present()) return existing.tombstoned() ? PatchOutcome::kTombstoned : PatchOutcome::kNotFound;
  TANDEM_ASSIGN_OR_RETURN(Record current, m->to_new(existing.record));
  for (const auto& [name, value] : fields) current.fields[name] = value;
  TANDEM_ASSIGN_OR_RETURN(Record old_record, m->to_old(current, &existing.record));
  FieldMap changed;
  for (const auto& [name, value] : old_record.fields) {
    auto before = existing.record.fields.find(name);
    if (before == existing.record.fields.end() || before->second != value) changed[name] = value;
  }
  return StoreWrapper::patch(t, k, changed);
}

Status MappedStore::remove(std::string_view c, const Key& k) { return StoreWrapper::remove(table(c), k); }

Result<std::vector<Record>> MappedStore::scan(std::string_view c, const KeyRange& range, size_t limit) {
  const Mapper* m = mapper(c);
  if (m == nullptr) return StoreWrapper::scan(c, range, limit);
  TANDEM_ASSIGN_OR_RETURN(std::vector<Record> records,
                          StoreWrapper::scan(m->old_schema().name, range, limit));
  for (Record& r : records) {
    TANDEM_ASSIGN_OR_RETURN(r, m->to_new(r));
  }
  return records;
}

Result<ScanBatch> MappedStore::scan_batch(std::string_view c, const KeyRange& range, size_t limit) {
  const Mapper* m = mapper(c);
  if (m == nullptr) return StoreWrapper::scan_batch(c, range, limit);
  TANDEM_ASSIGN_OR_RETURN(ScanBatch batch, StoreWrapper::scan_batch(m->old_schema().name, range, limit));
  ScanBatch out;
  out.last_key = std::move(batch.last_key);
  out.end_of_range = batch.end_of_range;
  out.bad = std::move(batch.bad);
  for (Record& r : batch.records) {
    std::string field;
    auto converted = m->to_new(r, &field);
    if (converted.ok()) {
      out.records.push_back(std::move(*converted));
    } else {
      out.bad.push_back(
          BadRecord{r.key, r.key.to_display(), field, r.to_display(), converted.status().message()});
    }
  }
  return out;
}

Result<std::vector<Key>> MappedStore::tombstones(std::string_view c, const KeyRange& range, size_t limit) {
  return StoreWrapper::tombstones(table(c), range, limit);
}

Result<uint64_t> MappedStore::count(std::string_view c, const KeyRange& range) {
  return StoreWrapper::count(table(c), range);
}

Result<std::vector<Key>> MappedStore::split_points(std::string_view c, const KeyRange& range, size_t parts) {
  return StoreWrapper::split_points(table(c), range, parts);
}

Result<RecordLock> MappedStore::lock(std::string_view c, const Key& k, std::chrono::milliseconds timeout) {
  return StoreWrapper::lock(table(c), k, timeout);
}

Result<RecordLock> MappedStore::try_lock(std::string_view c, const Key& k) {
  return StoreWrapper::try_lock(table(c), k);
}

// Of the records as new would hold them: old's rows converted, in batches.
Result<Digest> MappedStore::digest(std::string_view c, const KeyRange& range) {
  const Mapper* m = mapper(c);
  if (m == nullptr) return StoreWrapper::digest(c, range);
  Digest d;
  KeyRange rest = range;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(ScanBatch batch, scan_batch(c, rest, 2000));
    for (const Record& r : batch.records) {
      d.count += 1;
      d.hash += record_hash(m->new_schema(), r);
    }
    d.undecodable += batch.bad.size();
    if (batch.end_of_range || !batch.last_key) break;
    rest = KeyRange::after(*batch.last_key, range.end);
  }
  return d;
}

}  // namespace tandem
