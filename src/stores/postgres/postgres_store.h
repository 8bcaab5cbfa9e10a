// PostgresStore: a Store over libpq. Each collection is a table with typed
// columns (int BIGINT, bool BOOLEAN, double DOUBLE PRECISION, decimal NUMERIC,
// text TEXT, bytes BYTEA, timestamp TIMESTAMPTZ, json JSONB, uuid UUID); text
// key columns use COLLATE "C" so that keys order by bytes, as in every store.
// Tombstones live in tandem_tombstones. Record locks are session-level
// advisory locks on a 64-bit hash of (collection, key), held on a connection
// that the lock keeps until release; the server drops them if the process
// dies. Reads stream in single-row mode; no snapshot outlives one call.
// Contract: see tandem/store.h.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "stores/postgres/postgres_connection.h"
#include "stores/sql/fence.h"
#include "stores/sql/sql_store.h"

namespace tandem::postgres {

class PostgresStore : public sql::SqlStore {
 public:
  static Result<std::unique_ptr<PostgresStore>> open(std::string name, std::string_view url,
                                                     StoreOptions options);
  ~PostgresStore() override;

  Status ensure_collection(const CollectionSchema& schema, bool create_if_missing) override;
  Result<std::vector<Relation>> foreign_keys() override;
  Result<std::vector<std::string>> foreign_key_sql(const Relation& relation) const override;
  Status ensure_foreign_key(const Relation& relation) override;
  Result<std::string> create_table_sql(const CollectionSchema& schema) const override;
  Result<ColumnShapes> column_shapes(const CollectionSchema& schema) override;
  Result<TableDefinition> table_definition(const CollectionSchema& schema,
                                           const ColumnShapes& like) const override;
  Status create_collection(const CollectionSchema& schema, const ColumnShapes& like) override;
  Status drop_tandem_tables() override;
  Status raise_fence(const FenceToken& token) override;
  Result<FenceToken> read_fence() override;
  Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view collection,
                                                      std::span<const Record> records,
                                                      LockPolicy policy) override;
  Status upsert(std::string_view collection, const Record& record) override;
  Result<PatchOutcome> patch(std::string_view collection, const Key& key, const FieldMap& fields) override;
  Status remove(std::string_view collection, const Key& key) override;
  Result<RecordLock> try_lock(std::string_view collection, const Key& key) override;
  Result<std::optional<Digest>> portable_digest(std::string_view collection, const KeyRange& range) override;

  struct Table;

 protected:
  std::string placeholder(size_t i) const override { return "$" + std::to_string(i); }
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

 private:
  PostgresStore(std::string name, ConnectionSpec spec, StoreOptions options);
  Result<const Table*> table(std::string_view collection) const;
  // One transaction of insert_if_absent: at most kLocksPerTransaction records.
  // With copy_refused, large parts go in by COPY, and a row the server
  // refuses sets *copy_refused (nothing was written); without, by statements.
  Result<std::vector<InsertOutcome>> insert_part(const Table* t, std::string_view collection,
                                                 std::span<const Record> records, LockPolicy policy,
                                                 bool* copy_refused);
  static constexpr size_t kLocksPerTransaction = 1000;
  // Records a transaction of insert_if_absent takes locks for: from
  // kLocksPerTransaction, halved (down to kMinLocksPerTransaction) each time
  // the server's lock table is full ("out of shared memory", SQLSTATE 53200:
  // max_locks_per_transaction x connections, about 7,800 entries by default,
  // shared by every session: 16 workers of 1,000 do not fit), for this store
  // from then on.
  std::atomic<size_t> locks_per_transaction_{kLocksPerTransaction};
  static constexpr size_t kMinLocksPerTransaction = 32;
  // Parts with at least this many records to insert go in by COPY.
  static constexpr size_t kCopyMinRecords = 8;
  Result<Lookup> get_in(Connection& conn, const Table& t, const Key& key);
  Result<bool> tombstoned(Connection& conn, const Table& t, const Key& key);
  // Whether PostgreSQL can hold the key (no NUL in its text): no row has a
  // key it cannot, and asking for one would find another (libpq cuts text
  // at a NUL).
  bool holds_key(const Table& t, const Key& key) const;
  // The transaction a write to new runs in when a FenceScope applies
  // (tandem/store.h), with the fence read and judged; nullptr when none
  // applies: the write is then its own statement.
  Result<std::unique_ptr<SqlTransaction<Connection>>> fenced_transaction(Connection& conn);
  // The raise, bounded (sql::kFenceRaiseTimeoutMs), in its own transaction.
  Status raise_fence_on(Connection& conn, const FenceToken& token);
  static Result<FenceToken> read_fence_on(Connection& conn);
  // One statement of a write: its own transaction, or the fence's.
  Status run_write(Connection& conn, const std::string& sql, const std::vector<Param>& params,
                   std::string_view what);

  Pool pool_;
};

}  // namespace tandem::postgres
