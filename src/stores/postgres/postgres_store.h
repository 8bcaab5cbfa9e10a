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

#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "stores/postgres/pg_connection.h"
#include "tandem/store.h"

namespace tandem::pg {

class PostgresStore : public Store {
 public:
  static Result<std::unique_ptr<PostgresStore>> open(std::string name, std::string_view url,
                                                     StoreOptions options);
  ~PostgresStore() override;

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
  Result<std::optional<Digest>> portable_digest(std::string_view collection, const KeyRange& range) override;

  struct Table;

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
  // Parts with at least this many records to insert go in by COPY.
  static constexpr size_t kCopyMinRecords = 8;
  Result<Lookup> get_in(Connection& conn, const Table& t, const Key& key);
  Result<bool> tombstoned(Connection& conn, const Table& t, const Key& key);
  // Whether PostgreSQL can hold the key (no NUL in its text): no row has a
  // key it cannot, and asking for one would find another (libpq cuts text
  // at a NUL).
  bool holds_key(const Table& t, const Key& key) const;
  Status for_each_row(const Table& t, const KeyRange& range, std::string_view select, std::string_view suffix,
                      const std::function<Status(const PgResult&)>& visit);

  std::string name_;
  Pool pool_;
  StoreOptions options_;
  mutable std::shared_mutex tables_mutex_;
  std::unordered_map<std::string, std::unique_ptr<Table>> tables_;  // guarded by tables_mutex_
};

}  // namespace tandem::pg
