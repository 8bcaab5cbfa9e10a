// SqlStore: the skeleton the SQL stores (PostgreSQL, MariaDB, SQLite) share.
// It owns what is the same in every engine: the table map of the registered
// collections and their lookup, get/get_many's checks, scan, scan_batch (bad
// rows, reading on past keys that do not decode, keys met twice), count,
// digest, the tombstone range query, split_points (evenly spaced bounds for a
// one-integer key, no counting pass; row offsets otherwise) and waiting for a
// record lock. An engine supplies its dialect (types, DDL, bound SQL text,
// how a parameter and a LIMIT are written), its codec (SqlRow: one result row
// decoded by the collection's column types), its point reads with their
// tombstones, its writes and its batch insert, through the hooks below.
// Contract: see tandem/store.h.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/thread_annotations.h"
#include "stores/sql_text.h"
#include "tandem/key_identity.h"
#include "tandem/store.h"

namespace tandem::sql {

// One registered collection: its schema and statements. Each engine derives
// its own (codec state, engine types) and downcasts in its hooks.
struct SqlTable : CollectionSql {
  virtual ~SqlTable() = default;
  CollectionSchema schema;
  // The key columns as ORDER BY orders them by bytes (with the engine's
  // collation, and a tie-breaker where keys may tie).
  std::string order_by;
  // How the table's keys are identified (tandem/key_identity.h): null or not
  // collated when a key is its bytes. Locks, tombstones and duplicate checks
  // compare id(key), never spellings.
  std::shared_ptr<const KeyIdentity> identity;
  Result<std::string> id(const Key& key) const { return identity_of(identity.get(), key); }
  bool collated() const { return identity && identity->collated(); }
  // Whether upsert writes the spelling given over a stored record of the
  // same identity: under a collation, unless a foreign key of this database
  // references the table (respelling a parent's key would fire it: a
  // RESTRICT child refuses the write, a CASCADE one is respelled where
  // tandem does not see it). A write that a foreign key refuses for the
  // respelling is retried keeping the stored spelling. Copies carry the
  // write primary's spelling either way.
  bool respells = false;

  // "reading old collection 'users', record 5"
  std::string what(std::string_view action, const Key& key, std::string_view store) const;
  // A row's raw values for the quarantine, "id=5, age='abc'": each column's
  // name (key columns, then value columns) and raw(its index).
  std::string raw_columns(const std::function<std::string(int)>& raw) const;

  // Reads the value columns, from column col on, into out.fields:
  // decode(column, col) each value that is_null(col) does not call NULL.
  // NULL in a NOT NULL column, or a value that does not decode, is
  // kCorruption naming the store, the record and the field (*bad_field).
  template <class IsNull, class Decode>
  Status read_values(Record& out, int col, const IsNull& is_null, const Decode& decode,
                     std::string_view store, std::string* bad_field) const {
    for (const Column& c : schema.columns) {
      int i = col++;
      Result<Value> v = is_null(i)
                            ? (c.nullable ? Result<Value>(Value())
                                          : Result<Value>(Status::Corruption("NULL in a NOT NULL column")))
                            : decode(c, i);
      if (!v.ok()) {
        if (bad_field != nullptr) *bad_field = c.name;
        return Status::Corruption(fmt::format("{} collection '{}', record {}, field '{}': {}", store,
                                              schema.name, out.key.to_display(), c.name,
                                              v.status().message()));
      }
      out.fields.emplace(c.name, std::move(*v));
    }
    return Status::Ok();
  }
};

// What a point read reports for a key without a row: tombstoned or absent.
Lookup missing(const Key& key, bool tombstoned);

// read_lookups for an engine: one Lookup per key, each read by
// get_one(connection, key) on one connection of pool; with one_snapshot,
// all inside the transaction begin(connection) starts.
template <class Pool, class Begin, class GetOne>
Result<std::vector<Lookup>> read_each(Pool& pool, std::span<const Key> keys, bool one_snapshot,
                                      const Begin& begin, const GetOne& get_one) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool.acquire());
  std::remove_cvref_t<decltype(std::move(begin(*conn)).value())> tx;
  if (one_snapshot) {
    TANDEM_ASSIGN_OR_RETURN(tx, begin(*conn));
  }
  std::vector<Lookup> out;
  out.reserve(keys.size());
  for (const Key& k : keys) {
    TANDEM_ASSIGN_OR_RETURN(Lookup l, get_one(*conn, k));
    out.push_back(std::move(l));
  }
  if (tx) TANDEM_RETURN_IF_ERROR(tx->commit());
  return out;
}

// One row of a result, decoded by the engine's codec for the table queried.
class SqlRow {
 public:
  virtual ~SqlRow() = default;
  // The key columns (the first ones); on failure *bad_field names the column.
  virtual Result<Key> key(std::string* bad_field) const = 0;
  // The whole row (select_list order); on failure *bad_field names the field
  // and *key holds the key if it decoded.
  virtual Result<Record> record(std::string* bad_field, std::optional<Key>* key) const = 0;
  // The key columns and the whole row as stored, for the quarantine.
  virtual std::string raw_key() const = 0;
  virtual std::string raw_row() const = 0;
  // A computed column: an integer (COUNT, MIN, SUM), a blob (a tombstone's key).
  virtual bool is_null(int col) const = 0;
  virtual Result<int64_t> integer(int col) const = 0;
  virtual Result<std::string> bytes(int col) const = 0;
  // A computed column as the engine's text (a sum wider than 64 bits).
  virtual Result<std::string> text(int col) const = 0;
};

// Called per row; false stops the query (the rows after it are not visited).
using RowVisitor = std::function<Result<bool>(const SqlRow&)>;

class SqlStore : public Store {
 public:
  std::string_view name() const override { return name_; }
  Result<Lookup> get(std::string_view collection, const Key& key) override;
  Result<std::vector<Lookup>> get_many(std::string_view collection, std::span<const Key> keys) override;
  Result<std::vector<Record>> scan(std::string_view collection, const KeyRange& range, size_t limit) override;
  Result<ScanBatch> scan_batch(std::string_view collection, const KeyRange& range, size_t limit) override;
  Result<std::vector<Key>> tombstones(std::string_view collection, const KeyRange& range,
                                      size_t limit) override;
  Result<uint64_t> count(std::string_view collection, const KeyRange& range) override;
  Result<std::vector<Key>> split_points(std::string_view collection, const KeyRange& range,
                                        size_t parts) override;
  // Waits for try_lock (core/lock_wait.h).
  Result<RecordLock> lock(std::string_view collection, const Key& key,
                          std::chrono::milliseconds timeout) override;
  Result<Digest> digest(std::string_view collection, const KeyRange& range) override;
  std::shared_ptr<const KeyIdentity> key_identity(std::string_view collection) const override;
  // Kept for the engine's ensure_collection (offered_identity).
  void offer_key_identity(std::string_view collection,
                          const std::shared_ptr<const KeyIdentity>& old) override;
  bool respells_keys(std::string_view collection) const override;
  void keep_key_spellings(std::string_view collection) override;
  // SELECT <key> FROM t WHERE "c1" = ? AND ... ORDER BY <key> LIMIT limit,
  // each value bound as its column's type (sql_relations.cc).
  Result<std::vector<Key>> keys_matching(std::string_view collection, const FieldMap& equal,
                                         size_t limit) override;
  // A count and a sample of NOT EXISTS (parent row) over the child's rows
  // with every reference column non-NULL (sql_relations.cc).
  Result<Orphans> orphans(const Relation& relation, size_t limit) override;
  // CREATE INDEX IF NOT EXISTS "<name>_idx" ON child (columns).
  Status ensure_relation_index(const Relation& relation) override;

 protected:
  SqlStore(std::string name, StoreOptions options);

  // Registers (or replaces) a collection's table; then table() finds it.
  void add_table(std::unique_ptr<SqlTable> table);
  // The registered table, or kInvalidArgument naming the collection.
  Result<const SqlTable*> table(std::string_view collection) const;
  // "old collection 'users', record 5", for lock messages.
  std::string record_display(std::string_view collection, const Key& key) const;

  // --- The engine's hooks ---

  // The i-th parameter of a statement, counting from 1: "?", "?1", "$1".
  virtual std::string placeholder(size_t i) const = 0;
  // " LIMIT n OFFSET m"; limit 0 means no limit, offset 0 no offset.
  virtual std::string limit_offset(size_t limit, size_t offset) const = 0;
  // Runs SELECT select FROM t WHERE <range> suffix (bounds checked against
  // the schema, bound as the key columns' parameters), calling visit per row.
  virtual Status for_each_row(const SqlTable& t, const KeyRange& range, std::string_view select,
                              std::string_view suffix, const RowVisitor& visit) = 0;
  // Runs sql with params (text as text, Bytes as a blob), calling visit per row.
  virtual Status query(const std::string& sql, const std::vector<Value>& params, std::string_view what,
                       const RowVisitor& visit) = 0;
  // One Lookup per key (already checked against the schema), in order; with
  // one_snapshot, all from one consistent snapshot.
  virtual Result<std::vector<Lookup>> read_lookups(const SqlTable& t, std::span<const Key> keys,
                                                   bool one_snapshot) = 0;
  // What scan_batch does with a key that comes before the previous one in
  // the engine's order (and is not the same key): accept it, or refuse.
  virtual Status out_of_order(const SqlTable& t, const Key& key, const Key& previous) const;

  // Runs sql, a SELECT from t's table, with params bound in order, each as
  // the column of t whose index it names (key columns, then value columns),
  // calling visit per row; rows decode as t's (row.key() for a select of
  // t.key_columns). Used by keys_matching.
  virtual Status query_table(const SqlTable& t, const std::string& sql,
                             const std::vector<std::pair<size_t, Value>>& params, std::string_view what,
                             const RowVisitor& visit) = 0;

  const StoreOptions& options() const { return options_; }
  // What offer_key_identity kept for the collection (null: nothing offered).
  std::shared_ptr<const KeyIdentity> offered_identity(std::string_view collection) const;

  std::string name_;
  StoreOptions options_;

 private:
  // " ORDER BY <keys>" and the limit and offset.
  std::string order_limit(const SqlTable& t, size_t limit, size_t offset) const;
  // tombstones() of a collated table (from the deleted spellings).
  Result<std::vector<Key>> collated_tombstones(const SqlTable& t, const KeyRange& range, size_t limit);
  // split_points for a one-integer key: evenly spaced bounds if the parts
  // they make are balanced, none otherwise.
  Result<std::vector<Key>> even_integer_split(const SqlTable& t, const KeyRange& range, size_t parts,
                                              uint64_t n);

  mutable Mutex tables_mutex_;
  std::unordered_map<std::string, std::unique_ptr<SqlTable>> tables_ GUARDED_BY(tables_mutex_);
  std::unordered_map<std::string, std::shared_ptr<const KeyIdentity>> offered_ GUARDED_BY(tables_mutex_);
};

// "ADD CONSTRAINT "name" FOREIGN KEY (...) REFERENCES "parent" (...) ON DELETE ... ON UPDATE ..."
std::string foreign_key_clause(const Relation& relation);

// Foreign keys as the catalogs list them, one row per column pair
// (sql_relations.cc). The rule's SQL words ("CASCADE", "SET NULL", ...) or
// PostgreSQL's letters ('a', 'r', 'c', 'n', 'd'); anything else is kNoAction.
ReferentialAction referential_action_from(std::string_view rule);
// Appends one column pair: to the last relation when it has the same name
// and child (the rows of a composite key come in order), else as a new one.
void add_foreign_key_column(std::vector<Relation>& out, const std::string& name, const std::string& child,
                            const std::string& column, const std::string& parent,
                            const std::string& reference, ReferentialAction on_update,
                            ReferentialAction on_delete);

}  // namespace tandem::sql
