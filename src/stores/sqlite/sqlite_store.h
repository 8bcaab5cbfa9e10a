// SqliteStore: the embedded default Store. One SQLite file in WAL mode; each
// collection is a STRICT table with typed columns; tombstones live in the side
// table tandem_tombstones; record locks are OFD byte locks on a side file
// (record_lock_file.h). Contract: see tandem/store.h.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stores/sql/fence.h"
#include "stores/sql/sql_store.h"
#include "stores/sqlite/record_lock_file.h"
#include "stores/sqlite/sqlite_connection.h"

namespace tandem::sqlite {

class SqliteStore : public sql::SqlStore {
 public:
  // Opens the database file at path; creates it only if options.configure.
  static Result<std::unique_ptr<SqliteStore>> open(std::string name, const std::string& path,
                                                   StoreOptions options = {});

  ~SqliteStore() override;
  Status ensure_collection(const CollectionSchema& schema, bool create_if_missing) override;
  Result<std::vector<Relation>> foreign_keys() override;
  Result<std::string> create_table_sql(const CollectionSchema& schema) const override;
  Status drop_tandem_tables() override;
  Status raise_fence(const FenceToken& token) override;
  Result<FenceToken> read_fence() override;
  Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view collection,
                                                      std::span<const Record> records,
                                                      LockPolicy policy) override;
  Status upsert(std::string_view collection, const Record& record) override;
  Result<PatchOutcome> patch(std::string_view collection, const Key& key, const FieldMap& fields) override;
  Status remove(std::string_view collection, const Key& key) override;
  // Waits on the lock file itself (record_lock_file.h).
  Result<RecordLock> lock(std::string_view collection, const Key& key,
                          std::chrono::milliseconds timeout) override;
  Result<RecordLock> try_lock(std::string_view collection, const Key& key) override;

  // Lowers SQLite's limit on the bytes of one value or row on every
  // connection (SQLITE_LIMIT_LENGTH, 1e9 by default), for tests of the
  // values over it, which writes refuse naming them.
  void set_length_limit_for_testing(int limit);

  struct Table;  // per-collection SQL, built once

 protected:
  std::string placeholder(size_t i) const override { return "?" + std::to_string(i); }
  std::string limit_offset(size_t limit, size_t offset) const override;
  Status for_each_row(const sql::SqlTable& t, const KeyRange& range, std::string_view select,
                      std::string_view suffix, const sql::RowVisitor& visit) override;
  Status query(const std::string& sql, const std::vector<Value>& params, std::string_view what,
               const sql::RowVisitor& visit) override;
  // In the engine's *_relations.cc, with foreign_keys().
  Status query_table(const sql::SqlTable& t, const std::string& sql,
                     const std::vector<std::pair<size_t, Value>>& params, std::string_view what,
                     const sql::RowVisitor& visit) override;
  Result<std::vector<Lookup>> read_lookups(const sql::SqlTable& t, std::span<const Key> keys,
                                           bool one_snapshot) override;
  // A key before the previous one is kCorruption: SQLite orders keys by bytes.
  Status out_of_order(const sql::SqlTable& t, const Key& key, const Key& previous) const override;

 private:
  SqliteStore(std::string name, std::string path, std::shared_ptr<RecordLockFile> locks,
              StoreOptions options);
  Result<const Table*> table(std::string_view collection) const;
  Result<Lookup> get_in(Connection& conn, const Table& t, const Key& key);
  Result<bool> tombstoned(Connection& conn, const Table& t, const std::string& encoded_key);
  // Fences a write (tandem/store.h, FenceScope) inside its write
  // transaction: SQLite's write lock is the whole database's, so reading the
  // fence, raising it and writing are one critical section.
  Status check_fence(Connection& conn);
  Result<FenceToken> read_fence_on(Connection& conn);
  // Runs SELECT select FROM table WHERE <range> suffix on conn, calling visit
  // per row until it returns false or an error.
  Status query_range(Connection& conn, const Table& t, const KeyRange& range, std::string_view select,
                     std::string_view suffix, const std::function<Result<bool>(const Statement&)>& visit);

  Pool pool_;
  std::shared_ptr<RecordLockFile> locks_;
  std::atomic<int64_t> length_limit_{1000000000};  // SQLITE_LIMIT_LENGTH of the connections
};

}  // namespace tandem::sqlite
