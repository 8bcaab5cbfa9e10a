// SqliteStore: the embedded default Store. One SQLite file in WAL mode; each
// collection is a STRICT table with typed columns; tombstones live in the side
// table tandem_tombstones; record locks are OFD byte locks on a side file
// (record_lock_file.h). Contract: see tandem/store.h.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "stores/sqlite/record_lock_file.h"
#include "stores/sqlite/sqlite_connection.h"
#include "tandem/store.h"

namespace tandem::sqlite {

class SqliteStore : public Store {
 public:
  // Opens the database file at path; creates it only if options.configure.
  static Result<std::unique_ptr<SqliteStore>> open(std::string name, const std::string& path,
                                                   StoreOptions options = {});

  ~SqliteStore() override;
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

  // Lowers SQLite's limit on the bytes of one value or row on every
  // connection (SQLITE_LIMIT_LENGTH, 1e9 by default), for tests of the
  // values over it, which writes refuse naming them.
  void set_length_limit_for_testing(int limit);

  struct Table;  // per-collection SQL, built once

 private:
  SqliteStore(std::string name, std::string path, std::shared_ptr<RecordLockFile> locks,
              StoreOptions options);
  Result<const Table*> table(std::string_view collection) const;
  Result<Lookup> get_in(Connection& conn, const Table& t, const Key& key);
  Result<bool> tombstoned(Connection& conn, const Table& t, const std::string& encoded_key);
  using NamedInts = std::vector<std::pair<const char*, int64_t>>;  // ":limit" -> 10
  // Runs SELECT select FROM table WHERE <range> suffix on conn (suffix's
  // named parameters bound from named), calling visit per row until it
  // returns false or an error.
  Status query_range(Connection& conn, const Table& t, const KeyRange& range, std::string_view select,
                     std::string_view suffix, const NamedInts& named,
                     const std::function<Result<bool>(const Statement&)>& visit);
  // As query_range, on a connection of the pool.
  Status for_each_row(const Table& t, const KeyRange& range, std::string_view select, std::string_view suffix,
                      const NamedInts& named, const std::function<Result<bool>(const Statement&)>& visit);
  static int64_t sql_limit(size_t limit);  // -1 (no limit) when it does not fit

  std::string name_;
  Pool pool_;
  std::shared_ptr<RecordLockFile> locks_;
  StoreOptions options_;
  std::atomic<int64_t> length_limit_{1000000000};  // SQLITE_LIMIT_LENGTH of the connections
  mutable std::shared_mutex tables_mutex_;
  std::unordered_map<std::string, std::unique_ptr<Table>> tables_;  // guarded by tables_mutex_
};

}  // namespace tandem::sqlite
