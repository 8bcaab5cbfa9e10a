#include "stores/sql/sql_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/encoding.h"
#include "core/lock_wait.h"

namespace tandem::sql {

namespace {
// Wide enough for the distance between two 64-bit keys times a part count.
__extension__ typedef __int128 Wide;
}  // namespace

std::string SqlTable::what(std::string_view action, const Key& key, std::string_view store) const {
  return fmt::format("{} {} collection '{}', record {}", action, store, schema.name, key.to_display());
}

std::string SqlTable::raw_columns(const std::function<std::string(int)>& raw) const {
  std::string out;
  int col = 0;
  auto add = [&](const Column& c) {
    if (!out.empty()) out += ", ";
    out += c.name;
    out += '=';
    out += raw(col++);
  };
  for (const Column& c : schema.key_columns) add(c);
  for (const Column& c : schema.columns) add(c);
  return out;
}

Lookup missing(const Key& key, bool tombstoned) {
  Lookup out;
  out.record.key = key;
  out.state = tombstoned ? Lookup::State::kTombstoned : Lookup::State::kAbsent;
  return out;
}

SqlStore::SqlStore(std::string name, StoreOptions options) : name_(std::move(name)), options_(options) {}

void SqlStore::add_table(std::unique_ptr<SqlTable> table) {
  std::string name = table->schema.name;
  MutexLock lock(tables_mutex_);
  tables_[name] = std::move(table);
}

Result<const SqlTable*> SqlStore::table(std::string_view collection) const {
  MutexLock lock(tables_mutex_);
  auto it = tables_.find(std::string(collection));
  if (it == tables_.end()) {
    return Status::InvalidArgument(fmt::format(
        "{} database: collection '{}' is not registered (call ensure_collection first)", name_, collection));
  }
  return it->second.get();
}

std::string SqlStore::record_display(std::string_view collection, const Key& key) const {
  return fmt::format("{} collection '{}', record {}", name_, collection, key.to_display());
}

Status SqlStore::out_of_order(const SqlTable& t, const Key& key, const Key& previous) const {
  (void)t;
  (void)key;
  (void)previous;
  return Status::Ok();
}

std::string SqlStore::order_limit(const SqlTable& t, size_t limit, size_t offset) const {
  return fmt::format(" ORDER BY {}{}", t.order_by, limit_offset(limit, offset));
}

Result<Lookup> SqlStore::get(std::string_view collection, const Key& key) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, {}, true));
  TANDEM_ASSIGN_OR_RETURN(std::vector<Lookup> found, read_lookups(*t, std::span<const Key>(&key, 1), false));
  return std::move(found.front());
}

Result<std::vector<Lookup>> SqlStore::get_many(std::string_view collection, std::span<const Key> keys) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* t, table(collection));
  for (const Key& k : keys) TANDEM_RETURN_IF_ERROR(t->schema.check_fields(k, {}, true));
  return read_lookups(*t, keys, true);
}

Result<std::vector<Record>> SqlStore::scan(std::string_view collection, const KeyRange& range, size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* t, table(collection));
  std::vector<Record> out;
  if (limit == 0) return out;
  out.reserve(std::min<size_t>(limit, 4096));
  TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, t->select_list, order_limit(*t, limit, 0),
                                      [&](const SqlRow& row) -> Result<bool> {
                                        TANDEM_ASSIGN_OR_RETURN(Record rec, row.record(nullptr, nullptr));
                                        out.push_back(std::move(rec));
                                        return true;
                                      }));
  return out;
}

Result<ScanBatch> SqlStore::scan_batch(std::string_view collection, const KeyRange& range, size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* t, table(collection));
  ScanBatch out;
  if (limit == 0) return out;
  out.records.reserve(std::min<size_t>(limit, 4096));
  size_t undecoded = 0;       // rows since the last key that decodes: their keys do not
  bool more = false;          // a row of the range follows those returned
  std::set<std::string> ids;  // under a collation: the identities met
  // One record: equal keys, or equal identities under a collation.
  auto same = [&](const Key& a, const Key& b) {
    if (!t->collated()) return a == b;
    auto ia = t->id(a), ib = t->id(b);
    return ia.ok() && ib.ok() ? *ia == *ib : a == b;
  };
  // Whether a key was returned before (the configured key is then not unique).
  auto met = [&](const Key& key) {
    return std::any_of(out.records.begin(), out.records.end(),
                       [&](const Record& r) { return r.key == key; }) ||
           std::any_of(out.bad.begin(), out.bad.end(), [&](const BadRecord& b) { return b.key == key; });
  };
  auto visit = [&](const SqlRow& row) -> Result<bool> {
    std::string field;
    if (out.rows() >= limit && undecoded == 0) {
      // The row after the batch: the range goes on. The same key again means
      // the configured key is not unique (never drop one of the two).
      auto next = row.key(&field);
      if (next.ok() && out.last_key && same(*next, *out.last_key)) {
        return duplicate_key_error(name_, t->schema, *next);
      }
      more = true;
      return false;
    }
    std::optional<Key> key;
    auto rec = row.record(&field, &key);
    if (!key) {
      ++undecoded;
      out.bad.push_back(BadRecord{std::nullopt, row.raw_key(), field, row.raw_row(), rec.status().message()});
      return true;
    }
    if (range.begin && !range.begin_inclusive && same(*key, *range.begin)) {
      return duplicate_key_error(name_, t->schema, *key);
    }
    if (t->collated()) {
      // Under a collation the database's order is not Key's: every key's
      // identity is checked against those met before.
      auto id = t->id(*key);
      if (id.ok() && !ids.insert(std::move(*id)).second) return duplicate_key_error(name_, t->schema, *key);
    } else if (out.last_key && !(*out.last_key < *key)) {
      if (*key == *out.last_key || met(*key)) return duplicate_key_error(name_, t->schema, *key);
      TANDEM_RETURN_IF_ERROR(out_of_order(*t, *key, *out.last_key));
    }
    undecoded = 0;
    out.last_key = key;
    if (rec.ok()) {
      out.records.push_back(std::move(*rec));
    } else {
      out.bad.push_back(BadRecord{key, key->to_display(), field, row.raw_row(), rec.status().message()});
    }
    return true;
  };
  // The batch and one row more. Never stop right after a row whose key does
  // not decode: the next batch starts after last_key and would meet it
  // again. Read on past such rows, in their order, to the next key that
  // decodes (included): they are the first `undecoded` rows after last_key.
  KeyRange part = range;
  size_t ask = limit == SIZE_MAX ? limit : limit + 1, offset = 0;
  for (;;) {
    size_t got = 0;
    TANDEM_RETURN_IF_ERROR(for_each_row(*t, part, t->select_list, order_limit(*t, ask, offset),
                                        [&](const SqlRow& row) -> Result<bool> {
                                          ++got;
                                          return visit(row);
                                        }));
    if (more) return out;
    if (got < ask) {
      out.end_of_range = true;
      return out;
    }
    part = out.last_key ? KeyRange::after(*out.last_key, range.end) : range;
    offset = undecoded;
    ask = 256;
  }
}

Result<std::vector<Key>> SqlStore::tombstones(std::string_view collection, const KeyRange& range,
                                              size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* t, table(collection));
  std::vector<Key> out;
  if (!options_.keep_tombstones || limit == 0) return out;
  if (t->collated()) return collated_tombstones(*t, range, limit);
  // Encoded keys sort like keys, so the range is a range of blobs.
  std::vector<Value> params = {Value(t->schema.name)};
  std::string sql = "SELECT \"key\" FROM tandem_tombstones WHERE collection = " + placeholder(1);
  if (range.begin) {
    params.emplace_back(Bytes{range.begin->encode()});
    sql += fmt::format(" AND \"key\" {} {}", range.begin_inclusive ? ">=" : ">", placeholder(params.size()));
  }
  if (range.end) {
    params.emplace_back(Bytes{range.end->encode()});
    sql += fmt::format(" AND \"key\" < {}", placeholder(params.size()));
  }
  sql += " ORDER BY \"key\"" + limit_offset(limit, 0);
  TANDEM_RETURN_IF_ERROR(query(sql, params, "reading tombstones", [&](const SqlRow& row) -> Result<bool> {
    TANDEM_ASSIGN_OR_RETURN(std::string encoded, row.bytes(0));
    TANDEM_ASSIGN_OR_RETURN(Key k, Key::decode(encoded));
    out.push_back(std::move(k));
    return true;
  }));
  return out;
}

Result<std::vector<Key>> SqlStore::collated_tombstones(const SqlTable& t, const KeyRange& range,
                                                       size_t limit) {
  // The "key" column holds identities, which do not decode: the deleted
  // spellings are in "spelling". Identities do not order as the database
  // orders keys: every tombstone of the collection is read, and those whose
  // spelling the range contains (in Key's order) are returned.
  std::vector<Key> out;
  TANDEM_RETURN_IF_ERROR(query("SELECT spelling FROM tandem_tombstones WHERE collection = " + placeholder(1) +
                                   " AND spelling IS NOT NULL",
                               {Value(t.schema.name)}, "reading tombstones",
                               [&](const SqlRow& row) -> Result<bool> {
                                 TANDEM_ASSIGN_OR_RETURN(std::string encoded, row.bytes(0));
                                 TANDEM_ASSIGN_OR_RETURN(Key k, Key::decode(encoded));
                                 if (range.contains(k)) out.push_back(std::move(k));
                                 return true;
                               }));
  std::sort(out.begin(), out.end());
  if (out.size() > limit) out.resize(limit);
  return out;
}

Result<uint64_t> SqlStore::count(std::string_view collection, const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* t, table(collection));
  uint64_t n = 0;
  TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, "COUNT(*)", "", [&](const SqlRow& row) -> Result<bool> {
    TANDEM_ASSIGN_OR_RETURN(int64_t v, row.integer(0));
    n = static_cast<uint64_t>(v);
    return true;
  }));
  return n;
}

Result<Digest> SqlStore::digest(std::string_view collection, const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* t, table(collection));
  // One streamed, unordered pass over the range (the hash is
  // order-independent): memory stays constant whatever the range's size.
  Digest d;
  TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, t->select_list, "", [&](const SqlRow& row) -> Result<bool> {
    auto rec = row.record(nullptr, nullptr);
    if (!rec.ok()) {
      d.undecodable += 1;
      return true;
    }
    d.count += 1;
    d.hash += record_hash(t->schema, *rec);
    return true;
  }));
  return d;
}

Result<std::vector<Key>> SqlStore::even_integer_split(const SqlTable& t, const KeyRange& range, size_t parts,
                                                      uint64_t n) {
  std::vector<Key> out;
  std::optional<int64_t> lo, hi;
  TANDEM_RETURN_IF_ERROR(for_each_row(t, range, fmt::format("MIN({0}), MAX({0})", t.key_columns), "",
                                      [&](const SqlRow& row) -> Result<bool> {
                                        // A key that is no integer (SQLite holds any type): no even split.
                                        auto l = row.integer(0), h = row.integer(1);
                                        if (!row.is_null(0) && !row.is_null(1) && l.ok() && h.ok()) {
                                          lo = *l;
                                          hi = *h;
                                        }
                                        return true;
                                      }));
  if (!lo || !hi || *hi < *lo) return out;
  std::vector<int64_t> bounds;
  for (size_t i = 1; i < parts; ++i) {
    auto b = static_cast<int64_t>(*lo + (static_cast<Wide>(*hi) - *lo + 1) * static_cast<Wide>(i) /
                                            static_cast<Wide>(parts));
    if (b > *lo && (bounds.empty() || b > bounds.back())) bounds.push_back(b);
  }
  if (bounds.empty()) return out;
  // Keys are distinct integers, so a part holds at most as many records as
  // its width. When no part is wider than the limit below (keys at least
  // half dense, as autoincrement ids are), the parts are balanced without
  // counting: the counting pass costs 0.23 s for 1M rows.
  Wide widest = static_cast<Wide>(bounds.front()) - *lo;
  for (size_t i = 0; i < bounds.size(); ++i) {
    Wide end = i + 1 < bounds.size() ? static_cast<Wide>(bounds[i + 1]) : static_cast<Wide>(*hi) + 1;
    widest = std::max(widest, end - bounds[i]);
  }
  const uint64_t limit = 2 * (n / parts) + 1;  // the largest balanced part
  if (widest > static_cast<Wide>(limit)) {
    // Sparser keys: one pass counts the records at or above each bound.
    std::vector<std::string> sums;
    for (int64_t b : bounds)
      sums.push_back(fmt::format("SUM(CASE WHEN {} >= {} THEN 1 ELSE 0 END)", t.key_columns, b));
    std::vector<uint64_t> at_or_above;
    TANDEM_RETURN_IF_ERROR(for_each_row(t, range, fmt::format("{}", fmt::join(sums, ", ")), "",
                                        [&](const SqlRow& row) -> Result<bool> {
                                          for (size_t i = 0; i < bounds.size(); ++i) {
                                            int col = static_cast<int>(i);
                                            int64_t v = 0;
                                            if (!row.is_null(col)) {
                                              TANDEM_ASSIGN_OR_RETURN(v, row.integer(col));
                                            }
                                            at_or_above.push_back(static_cast<uint64_t>(v));
                                          }
                                          return true;
                                        }));
    if (at_or_above.size() != bounds.size()) return out;
    uint64_t largest = n - std::min(n, at_or_above.front());
    for (size_t i = 0; i < at_or_above.size(); ++i) {
      uint64_t next = i + 1 < at_or_above.size() ? at_or_above[i + 1] : 0;
      largest = std::max(largest, at_or_above[i] - std::min(next, at_or_above[i]));
    }
    if (largest > limit) return out;  // skewed keys: split by row offsets
  }
  for (int64_t b : bounds) out.push_back(Key{Value(b)});
  return out;
}

Result<std::vector<Key>> SqlStore::split_points(std::string_view collection, const KeyRange& range,
                                                size_t parts) {
  TANDEM_ASSIGN_OR_RETURN(const SqlTable* t, table(collection));
  std::vector<Key> out;
  if (parts < 2) return out;
  TANDEM_ASSIGN_OR_RETURN(uint64_t n, count(collection, range));
  if (t->schema.key_columns.size() == 1 && t->schema.key_columns[0].type == Type::kInt && n >= parts * 2) {
    // One integer key: bounds spaced evenly between the smallest and the
    // largest key, kept if no part can hold over twice its share (see
    // even_integer_split). Row offsets (below) cost a scan up to each offset:
    // 0.75 s for 1M rows in 16 parts, where this takes at most 0.2 s.
    TANDEM_ASSIGN_OR_RETURN(std::vector<Key> even, even_integer_split(*t, range, parts, n));
    if (!even.empty()) return even;
  }
  for (size_t i = 1; i < parts; ++i) {
    uint64_t offset = n * i / parts;
    if (offset == 0) continue;
    // The first key from offset on that decodes, within a few rows (a key
    // that does not decode, its row quarantined, is no split point).
    TANDEM_RETURN_IF_ERROR(for_each_row(
        *t, range, t->key_columns, order_limit(*t, 16, offset), [&](const SqlRow& row) -> Result<bool> {
          std::string field;
          auto k = row.key(&field);
          if (!k.ok()) return true;
          if (t->collated()) {
            // Offsets rise in the database's order, not Key's: keep
            // a bound whose identity differs from the previous
            // bound's and the range's beginning.
            auto id = t->id(*k);
            auto differs = [&](const Key& other) {
              auto o = t->id(other);
              return !o.ok() || *o != *id;
            };
            bool fresh =
                id.ok() && (!range.begin || differs(*range.begin)) && (out.empty() || differs(out.back()));
            if (fresh) out.push_back(std::move(*k));
            return false;
          }
          bool after_begin = !range.begin || *range.begin < *k;
          if (after_begin && (out.empty() || out.back() < *k)) out.push_back(std::move(*k));
          return false;
        }));
  }
  return out;
}

std::shared_ptr<const KeyIdentity> SqlStore::key_identity(std::string_view collection) const {
  auto t = table(collection);
  return t.ok() ? (*t)->identity : nullptr;
}

void SqlStore::offer_key_identity(std::string_view collection,
                                  const std::shared_ptr<const KeyIdentity>& old) {
  MutexLock lock(tables_mutex_);
  offered_[std::string(collection)] = old;
}

bool SqlStore::respells_keys(std::string_view collection) const {
  auto t = table(collection);
  return t.ok() && (*t)->respells;
}

void SqlStore::keep_key_spellings(std::string_view collection) {
  MutexLock lock(tables_mutex_);
  auto it = tables_.find(std::string(collection));
  if (it != tables_.end()) it->second->respells = false;
}

std::shared_ptr<const KeyIdentity> SqlStore::offered_identity(std::string_view collection) const {
  MutexLock lock(tables_mutex_);
  auto it = offered_.find(std::string(collection));
  return it == offered_.end() ? nullptr : it->second;
}

Result<RecordLock> SqlStore::lock(std::string_view collection, const Key& key,
                                  std::chrono::milliseconds timeout) {
  return wait_for_lock([&] { return try_lock(collection, key); }, timeout, record_display(collection, key));
}

}  // namespace tandem::sql
