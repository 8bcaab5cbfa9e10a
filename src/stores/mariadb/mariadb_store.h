// MariaDbStore: a Store over MariaDB Connector/C (MariaDB 10.6+, InnoDB).
// Each collection is a table with typed columns (int BIGINT, bool BOOLEAN,
// double DOUBLE, decimal DECIMAL(65,30), text LONGTEXT, bytes LONGBLOB,
// timestamp DATETIME(6) in UTC, json JSON, uuid CHAR(36), read from an
// existing BINARY(16) as its bytes); text key columns
// are VARCHAR(255) with the utf8mb4_nopad_bin collation so that keys order by
// bytes and "a" differs from "a ", as in every store. Tombstones live in
// tandem_tombstones. Record locks are named locks (GET_LOCK) on a hash of
// (collection, key), held by a session that the lock keeps until release; the
// server drops them when the session ends, so a dead process holds none.
// Reads stream rows one at a time; no snapshot outlives one call. Values are
// coded by each column's engine type (mariadb_codec.h); writes the column
// would not read back equal, or larger than max_allowed_packet, are refused.
// Contract: see tandem/store.h.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "stores/mariadb/mariadb_codec.h"
#include "stores/mariadb/mariadb_connection.h"
#include "stores/sql/fence.h"
#include "stores/sql/sql_store.h"

namespace tandem::mariadb {

class MariaDbStore : public sql::SqlStore {
 public:
  static Result<std::unique_ptr<MariaDbStore>> open(std::string name, std::string_view url,
                                                    StoreOptions options);
  ~MariaDbStore() override;

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
  std::string placeholder(size_t) const override { return "?"; }
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
  MariaDbStore(std::string name, ConnectionSpec spec, StoreOptions options);
  Result<const Table*> table(std::string_view collection) const;
  Result<Lookup> get_in(Connection& conn, const Table& t, const Key& key);
  Result<bool> tombstoned(Connection& conn, const Table& t, const Key& key);
  // Sets t.identity: old's collation on each text key column that is not
  // *_bin (mariadb_collation.h), or the refusal naming the column.
  Status identify_keys(Connection& conn, Table& t, const std::unordered_map<std::string, ColumnType>& types);
  // The tombstoned keys among encoded_keys, and perhaps others between the
  // least and the greatest of them (callers look theirs up in the result).
  Result<std::vector<std::string>> tombstoned_among(Connection& conn, const Table& t,
                                                    const std::vector<std::string>& encoded_keys);
  // One part of insert_if_absent (mariadb_insert.cc): at most kInsertPart
  // records, their locks, one transaction. blind: insert without asking
  // which are present first; false if one was (nothing of the part written).
  static constexpr size_t kInsertPart = 256;
  struct InsertPart {
    std::span<const Record> records;
    std::span<const std::string> encoded;
    std::span<const size_t> row_bytes;
    std::span<InsertOutcome> outcomes;
  };
  Status insert_part(Connection& conn, const Table& t, const InsertPart& part, LockPolicy policy,
                     std::string_view collection, const std::string& what);
  Result<bool> write_part(Connection& conn, const Table& t, const InsertPart& part, bool blind,
                          const std::string& what);
  // The SELECT of select over range's rows, then suffix; its parameters to params.
  std::string range_sql(const Table& t, const KeyRange& range, std::string_view select,
                        std::string_view suffix, std::vector<Param>& params) const;
  // Refuses (kInvalidArgument, naming the record and the field) a write the
  // table would not read back equal, or whose statement, of bytes for the
  // record, exceeds the server's max_allowed_packet.
  Status check_writable(Connection& conn, const Table& t, const Key& key, const FieldMap& fields,
                        size_t bytes) const;
  // A statement's bytes besides its records' values (header, null bitmap).
  static constexpr size_t kStatementOverhead = 512;

  std::string database_;  // part of every record lock's name: named locks are server-wide
  // The transaction a write to new runs in when a FenceScope applies
  // (tandem/store.h), with the fence read and judged; nullptr when none
  // applies. begin_write: that one, or a plain transaction.
  Result<std::unique_ptr<SqlTransaction<Connection>>> fenced_transaction(Connection& conn);
  Result<std::unique_ptr<SqlTransaction<Connection>>> begin_write(Connection& conn);
  // The raise, bounded (sql::kFenceRaiseTimeoutMs), in its own transaction.
  Status raise_fence_on(Connection& conn, const FenceToken& token);
  // lock: "" or " LOCK IN SHARE MODE".
  static Result<FenceToken> read_fence_on(Connection& conn, std::string_view lock);

  Pool pool_;
};

}  // namespace tandem::mariadb
