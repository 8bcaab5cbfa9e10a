#include "stores/sqlite/sqlite_store.h"

#include <fmt/format.h>

#include <mutex>

#include "core/encoding.h"
#include "core/sync_point.h"
#include "stores/sql/fence.h"
#include "stores/sql_text.h"
#include "stores/sqlite/sqlite_codec.h"
#include "stores/sqlite/sqlite_table.h"

namespace tandem::sqlite {

SqliteStore::SqliteStore(std::string name, std::string path, std::shared_ptr<RecordLockFile> locks,
                         StoreOptions options)
    : SqlStore(std::move(name), options),
      pool_(std::move(path), options.configure, options.read_only),
      locks_(std::move(locks)) {}

SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(std::string name, const std::string& path,
                                                       StoreOptions options) {
  if (options.keep_tombstones && (!options.configure || options.read_only)) {
    return Status::InvalidArgument("a store that keeps tombstones must be allowed to create their table");
  }
  auto locks = RecordLockFile::create(path + ".tandem-locks");
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(name), path, std::move(locks), options));
  TANDEM_RETURN_IF_ERROR(store->pool_.prime(/*create=*/options.configure)
                             .with_context(fmt::format("opening the {} database", store->name_)));
  {
    TANDEM_ASSIGN_OR_RETURN(auto conn, store->pool_.acquire());
    store->length_limit_ = sqlite3_limit(conn->db(), SQLITE_LIMIT_LENGTH, -1);
  }
  if (options.keep_tombstones) {
    TANDEM_ASSIGN_OR_RETURN(auto conn, store->pool_.acquire());
    TANDEM_RETURN_IF_ERROR(conn->exec(
        "CREATE TABLE IF NOT EXISTS tandem_tombstones (collection TEXT NOT NULL, key BLOB NOT NULL, "
        "deleted_at INTEGER NOT NULL, PRIMARY KEY (collection, key)) WITHOUT ROWID"));
    // The fence (tandem/store.h, FenceScope): one row, the step version at
    // which new's write role last changed and that role.
    TANDEM_RETURN_IF_ERROR(conn->exec(
        "CREATE TABLE IF NOT EXISTS tandem_fence (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, "
        "role INTEGER NOT NULL); INSERT OR IGNORE INTO tandem_fence (id, version, role) VALUES (1, 0, 0)"));
  }
  return store;
}

Status SqliteStore::drop_tandem_tables() {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_RETURN_IF_ERROR(conn->exec("DROP TABLE IF EXISTS tandem_fence"));
  return conn->exec("DROP TABLE IF EXISTS tandem_tombstones");
}

Result<std::string> SqliteStore::create_table_sql(const CollectionSchema& schema) const {
  TANDEM_RETURN_IF_ERROR(schema.validate());
  std::vector<std::string> defs, keys;
  for (const Column& c : schema.key_columns) {
    defs.push_back(fmt::format("{} {} NOT NULL", quote_identifier(c.name), sql_type(c.type)));
    keys.push_back(quote_identifier(c.name));
  }
  for (const Column& c : schema.columns) {
    defs.push_back(
        fmt::format("{} {}{}", quote_identifier(c.name), sql_type(c.type), c.nullable ? "" : " NOT NULL"));
  }
  bool integer_key = schema.key_columns.size() == 1 && schema.key_columns[0].type == Type::kInt;
  return fmt::format("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({})) {}", quote_identifier(schema.name),
                     fmt::join(defs, ", "), fmt::join(keys, ", "),
                     integer_key ? "STRICT" : "STRICT, WITHOUT ROWID");
}

void SqliteStore::set_length_limit_for_testing(int limit) {
  pool_.set_length_limit(limit);
  length_limit_ = limit;
}

Status SqliteStore::ensure_collection(const CollectionSchema& schema, bool create_if_missing) {
  TANDEM_RETURN_IF_ERROR(schema.validate());
  auto t = std::make_unique<Table>();
  t->schema = schema;
  static_cast<CollectionSql&>(*t) =
      build_collection_sql(schema, [](size_t i) { return fmt::format("?{}", i); });

  // Create, or check the existing table's columns and keys.
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  if (create_if_missing) {
    TANDEM_ASSIGN_OR_RETURN(std::string create, create_table_sql(schema));
    TANDEM_RETURN_IF_ERROR(conn->exec(create));
  }
  TANDEM_ASSIGN_OR_RETURN(TableCatalog catalog, read_catalog(*conn, schema.name));
  TANDEM_RETURN_IF_ERROR(
      check_existing_columns(name_, schema, catalog.column_types,
                             [](Type type, std::string_view found) { return compatible(type, found); }));
  TANDEM_RETURN_IF_ERROR(check_configured_key(name_, schema, catalog.keys));
  bool may_tie = false;
  for (const Column& c : schema.key_columns) {
    // NOCASE equates 'abc' and 'ABC' (RTRIM 'a' and 'a '): one record in
    // this database, two spellings everywhere else (tandem/key_identity.h).
    if (c.type == Type::kText && sqlite3_stricmp(catalog.collation[c.name].c_str(), "BINARY") != 0) {
      return Status::FailedPrecondition(fmt::format(
          "{} database: key column '{}.{}' uses the collation {}, under which keys differing in spelling are "
          "one "
          "record; tandem identifies collated keys only from MariaDB/MySQL in this version (planned: SQLite "
          "NOCASE as an ASCII fold). Key the table by a BINARY text column",
          name_, schema.name, c.name, catalog.collation[c.name]));
    }
    std::string expr = quote_identifier(c.name);
    if (sqlite3_stricmp(catalog.collation[c.name].c_str(), "BINARY") != 0) expr += " COLLATE BINARY";
    t->key_exprs.push_back(std::move(expr));
    t->key_may_be_null.push_back(catalog.may_hold_null[c.name]);
    may_tie = may_tie || t->key_may_be_null.back();
  }
  t->key_tuple = fmt::format("({})", fmt::join(t->key_exprs, ", "));
  t->order_by = fmt::format("{}", fmt::join(t->key_exprs, ", "));
  // Rows whose keys hold NULLs can tie: the rowid orders them, so that a
  // follow-up query with an OFFSET meets them in the same order.
  if (may_tie && !catalog.rowid.empty()) t->order_by += ", " + catalog.rowid;
  add_table(std::move(t));
  return Status::Ok();
}

Result<const SqliteStore::Table*> SqliteStore::table(std::string_view collection) const {
  TANDEM_ASSIGN_OR_RETURN(const sql::SqlTable* t, SqlStore::table(collection));
  return static_cast<const Table*>(t);
}

Result<bool> SqliteStore::tombstoned(Connection& conn, const Table& t, const std::string& encoded_key) {
  if (!options_.keep_tombstones) return false;
  TANDEM_ASSIGN_OR_RETURN(auto raw,
                          conn.prepare("SELECT 1 FROM tandem_tombstones WHERE collection = ?1 AND key = ?2"));
  Statement st(conn, raw);
  st.bind_text(1, t.schema.name);
  st.bind_blob(2, encoded_key);
  return st.step("reading tombstones");
}

Result<Lookup> SqliteStore::get_in(Connection& conn, const Table& t, const Key& key) {
  Lookup out;
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn.prepare(t.get_sql));
    Statement st(conn, raw);
    TANDEM_RETURN_IF_ERROR(Table::bind_key(st, key).with_context(t.what("reading", key, name_)));
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step(t.what("reading", key, name_)));
    if (row) {
      TANDEM_ASSIGN_OR_RETURN(out.record, t.read_row(st, name_));
      out.state = Lookup::State::kPresent;
      return out;
    }
  }
  TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(conn, t, key.encode()));
  return sql::missing(key, dead);
}

Result<std::vector<Lookup>> SqliteStore::read_lookups(const sql::SqlTable& base, std::span<const Key> keys,
                                                      bool one_snapshot) {
  (void)one_snapshot;  // always: row and tombstone are read in one snapshot
  const auto& t = static_cast<const Table&>(base);
  return sql::read_each(
      pool_, keys, true, [](Connection& c) { return Transaction::begin(c, Transaction::Mode::kRead); },
      [&](Connection& c, const Key& k) { return get_in(c, t, k); });
}

Result<std::vector<InsertOutcome>> SqliteStore::insert_if_absent(std::string_view collection,
                                                                 std::span<const Record> records,
                                                                 LockPolicy policy) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  for (const Record& r : records) {
    TANDEM_RETURN_IF_ERROR(t->schema.check_record(r));
    TANDEM_RETURN_IF_ERROR(check_record_exact(name_, t->schema, r.key, r.fields, length_limit_));
  }
  std::vector<InsertOutcome> outcomes(records.size(), InsertOutcome::kInserted);
  std::vector<std::string> encoded;  // each key encoded once, for its lock and its tombstone
  encoded.reserve(records.size());
  for (const Record& r : records) encoded.push_back(r.key.encode());
  // Record locks are taken before the write transaction and held until it has
  // committed, so a concurrent transfer of the same record waits for us or we skip it.
  RecordLock batch_lock;
  if (policy == LockPolicy::kTryLockEach) {
    std::vector<uint64_t> slots;
    slots.reserve(records.size());
    for (const std::string& key : encoded) slots.push_back(RecordLockFile::slot_for(collection, key));
    std::vector<bool> held;
    TANDEM_ASSIGN_OR_RETURN(
        batch_lock, locks_->try_lock_batch(slots, held,
                                           fmt::format("{} collection '{}', a batch of {} records", name_,
                                                       collection, records.size())));
    for (size_t i = 0; i < records.size(); ++i) {
      if (!held[i]) outcomes[i] = InsertOutcome::kLocked;
    }
  }
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  TANDEM_RETURN_IF_ERROR(check_fence(*conn));
  TANDEM_ASSIGN_OR_RETURN(sqlite3_stmt * insert, conn->prepare(t->insert_sql));
  for (size_t i = 0; i < records.size(); ++i) {
    if (outcomes[i] == InsertOutcome::kLocked) continue;
    const Record& r = records[i];
    TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(*conn, *t, encoded[i]));
    if (dead) {
      outcomes[i] = InsertOutcome::kTombstoned;
      continue;
    }
    Statement st(*conn, insert);
    TANDEM_RETURN_IF_ERROR(t->bind_record(st, r).with_context(t->what("inserting into", r.key, name_)));
    TANDEM_RETURN_IF_ERROR(st.run_described([&] { return t->what("inserting into", r.key, name_); }));
    outcomes[i] = st.changes() == 1 ? InsertOutcome::kInserted : InsertOutcome::kAlreadyPresent;
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return outcomes;
}

Status SqliteStore::upsert(std::string_view collection, const Record& record) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_record(record));
  TANDEM_RETURN_IF_ERROR(check_record_exact(name_, t->schema, record.key, record.fields, length_limit_));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  TANDEM_RETURN_IF_ERROR(check_fence(*conn));
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(t->upsert_sql));
    Statement st(*conn, raw);
    TANDEM_RETURN_IF_ERROR(t->bind_record(st, record).with_context(t->what("writing", record.key, name_)));
    TANDEM_RETURN_IF_ERROR(st.run(t->what("writing", record.key, name_)));
  }
  if (options_.keep_tombstones) {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw, conn->prepare("DELETE FROM tandem_tombstones WHERE collection = ?1 AND key = ?2"));
    Statement st(*conn, raw);
    st.bind_text(1, t->schema.name);
    st.bind_blob(2, record.key.encode());
    TANDEM_RETURN_IF_ERROR(st.run(t->what("clearing the tombstone of", record.key, name_)));
  }
  return tx->commit();
}

Result<PatchOutcome> SqliteStore::patch(std::string_view collection, const Key& key, const FieldMap& fields) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, fields, /*partial=*/true));
  TANDEM_RETURN_IF_ERROR(check_record_exact(name_, t->schema, key, fields, length_limit_));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  TANDEM_RETURN_IF_ERROR(check_fence(*conn));
  PatchOutcome outcome = PatchOutcome::kPatched;
  if (fields.empty()) {
    TANDEM_ASSIGN_OR_RETURN(Lookup l, get_in(*conn, *t, key));
    outcome = l.present()      ? PatchOutcome::kPatched
              : l.tombstoned() ? PatchOutcome::kTombstoned
                               : PatchOutcome::kNotFound;
  } else {
    std::vector<std::string> sets;
    int index = static_cast<int>(key.size()) + 1;
    for (const auto& [name, value] : fields)
      sets.push_back(fmt::format("{} = ?{}", quote_identifier(name), index++));
    std::string sql =
        fmt::format("UPDATE {} SET {} WHERE {}", t->quoted, fmt::join(sets, ", "), t->key_match);
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(sql));
    Statement st(*conn, raw);
    index = 1;
    TANDEM_RETURN_IF_ERROR(Table::bind_key(st, key, &index).with_context(t->what("patching", key, name_)));
    for (const auto& [name, value] : fields) {
      TANDEM_RETURN_IF_ERROR(
          bind_value(st, index++, value)
              .with_context(fmt::format("{}, field '{}'", t->what("patching", key, name_), name)));
    }
    TANDEM_RETURN_IF_ERROR(st.run(t->what("patching", key, name_)));
    if (st.changes() == 0) {
      TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(*conn, *t, key.encode()));
      outcome = dead ? PatchOutcome::kTombstoned : PatchOutcome::kNotFound;
    }
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return outcome;
}

Status SqliteStore::remove(std::string_view collection, const Key& key) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, {}, true));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  TANDEM_RETURN_IF_ERROR(check_fence(*conn));
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(t->delete_sql));
    Statement st(*conn, raw);
    TANDEM_RETURN_IF_ERROR(Table::bind_key(st, key).with_context(t->what("deleting", key, name_)));
    TANDEM_RETURN_IF_ERROR(st.run(t->what("deleting", key, name_)));
  }
  if (options_.keep_tombstones) {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare("INSERT INTO tandem_tombstones (collection, key, deleted_at) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT (collection, key) DO UPDATE SET deleted_at = excluded.deleted_at"));
    Statement st(*conn, raw);
    st.bind_text(1, t->schema.name);
    st.bind_blob(2, key.encode());
    st.bind_int(3, std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count());
    TANDEM_RETURN_IF_ERROR(st.run(t->what("writing the tombstone of", key, name_)));
  }
  return tx->commit();
}

Status SqliteStore::raise_fence(const FenceToken& token) {
  if (!options_.keep_tombstones) return Status::Ok();
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare("INSERT INTO tandem_fence (id, version, role) VALUES (1, ?1, ?2) ON CONFLICT (id) "
                      "DO UPDATE SET version = excluded.version, role = excluded.role WHERE "
                      "tandem_fence.version < excluded.version"));
    Statement st(*conn, raw);
    st.bind_int(1, token.version);
    st.bind_int(2, static_cast<int64_t>(token.role));
    TANDEM_RETURN_IF_ERROR(st.run("raising tandem_fence"));
  }
  return tx->commit();
}

Result<FenceToken> SqliteStore::read_fence_on(Connection& conn) {
  FenceToken fence;
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn.prepare("SELECT version, role FROM tandem_fence WHERE id = 1"));
  Statement st(conn, raw);
  TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading tandem_fence"));
  if (row) {
    fence.version = st.column_int(0);
    TANDEM_ASSIGN_OR_RETURN(fence.role, sql::fence_role_of(st.column_int(1)));
  }
  return fence;
}

Result<FenceToken> SqliteStore::read_fence() {
  if (!options_.keep_tombstones) return FenceToken{};
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return read_fence_on(*conn);
}

Status SqliteStore::check_fence(Connection& conn) {
  const FenceToken* token = sql::fence_for(options_);
  if (token == nullptr) return Status::Ok();
  TANDEM_ASSIGN_OR_RETURN(FenceToken fence, read_fence_on(conn));
  switch (sql::judge_fence(fence, *token)) {
    case sql::FenceVerdict::kWrite:
      TANDEM_SYNC_POINT("fence.passed");  // holding the write lock until the write commits
      return Status::Ok();
    case sql::FenceVerdict::kRefuse:
      return sql::fence_refusal(name_, fence, *token);
    case sql::FenceVerdict::kRaise:
      break;
  }
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn.prepare("INSERT INTO tandem_fence (id, version, role) VALUES (1, ?1, ?2) ON CONFLICT (id) "
                   "DO UPDATE SET version = excluded.version, role = excluded.role"));
  Statement st(conn, raw);
  st.bind_int(1, token->version);
  st.bind_int(2, static_cast<int64_t>(token->role));
  return st.run("raising tandem_fence");
}

Status SqliteStore::query_range(Connection& conn, const Table& t, const KeyRange& range,
                                std::string_view select, std::string_view suffix,
                                const std::function<Result<bool>(const Statement&)>& visit) {
  for (const auto* k : {range.begin ? &*range.begin : nullptr, range.end ? &*range.end : nullptr}) {
    if (k != nullptr) {
      TANDEM_RETURN_IF_ERROR(t.schema.check_fields(*k, {}, true).with_context("key range bound"));
    }
  }
  std::string what =
      fmt::format("scanning {} collection '{}' range {}", name_, t.schema.name, range.to_display());
  std::string sql = fmt::format("SELECT {} FROM {}{}{}", select, t.quoted, t.range_where(range), suffix);
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn.prepare(sql));
  Statement st(conn, raw);
  int next = 1;
  if (range.begin) TANDEM_RETURN_IF_ERROR(Table::bind_key(st, *range.begin, &next).with_context(what));
  if (range.end) TANDEM_RETURN_IF_ERROR(Table::bind_key(st, *range.end, &next).with_context(what));
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step(what));
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(bool more, visit(st));
    if (!more) break;
  }
  return Status::Ok();
}

Status SqliteStore::for_each_row(const sql::SqlTable& base, const KeyRange& range, std::string_view select,
                                 std::string_view suffix, const sql::RowVisitor& visit) {
  const auto& t = static_cast<const Table&>(base);
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return query_range(*conn, t, range, select, suffix,
                     [&](const Statement& st) { return visit(SqliteRow(&t, st, name_)); });
}

Status SqliteStore::query(const std::string& sql, const std::vector<Value>& params, std::string_view what,
                          const sql::RowVisitor& visit) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(sql));
  Statement st(*conn, raw);
  for (size_t i = 0; i < params.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(bind_value(st, static_cast<int>(i) + 1, params[i]).with_context(what));
  }
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step(what));
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(bool more, visit(SqliteRow(nullptr, st, name_)));
    if (!more) break;
  }
  return Status::Ok();
}

std::string SqliteStore::limit_offset(size_t limit, size_t offset) const {
  if (limit == 0 && offset == 0) return "";
  std::string out = fmt::format(" LIMIT {}", limit == 0 || limit >= static_cast<size_t>(INT64_MAX)
                                                 ? int64_t{-1}
                                                 : static_cast<int64_t>(limit));
  if (offset > 0) out += fmt::format(" OFFSET {}", offset);
  return out;
}

Status SqliteStore::out_of_order(const sql::SqlTable& t, const Key& key, const Key& previous) const {
  return Status::Corruption(fmt::format("{} collection '{}': key {} comes after {} in SQLite's order", name_,
                                        t.schema.name, key.to_display(), previous.to_display()));
}

Result<RecordLock> SqliteStore::lock(std::string_view collection, const Key& key,
                                     std::chrono::milliseconds timeout) {
  std::string encoded = key.encode();
  return locks_->lock(RecordLockFile::slot_for(collection, encoded), timeout,
                      record_display(collection, key));
}

Result<RecordLock> SqliteStore::try_lock(std::string_view collection, const Key& key) {
  std::string encoded = key.encode();
  return locks_->try_lock(RecordLockFile::slot_for(collection, encoded), record_display(collection, key));
}

}  // namespace tandem::sqlite
