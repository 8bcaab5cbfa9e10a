#include "stores/sqlite/sqlite_store.h"

#include <fmt/format.h>

#include <mutex>

#include "core/encoding.h"
#include "core/utf8.h"
#include "stores/sql_text.h"

namespace tandem::sqlite {

namespace {

std::string_view sql_type(Type type) {
  switch (type) {
    case Type::kBool:
    case Type::kInt:
    case Type::kTimestamp:
      return "INTEGER";
    case Type::kDouble:
      return "REAL";
    case Type::kDecimal:
    case Type::kText:
    case Type::kJson:
      return "TEXT";
    case Type::kBytes:
    case Type::kUuid:
      return "BLOB";
    case Type::kNull:
      break;
  }
  return "ANY";
}

void bind_value(Statement& st, int index, const Value& v) {
  switch (v.type()) {
    case Type::kNull:
      st.bind_null(index);
      break;
    case Type::kBool:
      st.bind_int(index, v.as<bool>() ? 1 : 0);
      break;
    case Type::kInt:
      st.bind_int(index, v.as<int64_t>());
      break;
    case Type::kDouble:
      sqlite3_bind_double(st.get(), index, v.as<double>());
      break;
    case Type::kDecimal:
      st.bind_text(index, v.as<Decimal>().text);
      break;
    case Type::kText:
      st.bind_text(index, v.as<std::string>());
      break;
    case Type::kBytes:
      st.bind_blob(index, v.as<Bytes>().data);
      break;
    case Type::kTimestamp:
      st.bind_int(index, v.as<Timestamp>().micros);
      break;
    case Type::kJson:
      st.bind_text(index, v.as<Json>().text);
      break;
    case Type::kUuid:
      st.bind_blob(index, std::string_view(reinterpret_cast<const char*>(v.as<Uuid>().bytes.data()), 16));
      break;
  }
}

}  // namespace

struct SqliteStore::Table : CollectionSql {
  CollectionSchema schema;
  std::string key_tuple;  // ("k1", "k2"): for key order and row comparisons

  // Reads one row (select_list order) into a Record; Corruption names the
  // record and field when a stored value does not match the schema. On
  // failure, *bad_field names the field and *key holds the key if it decoded.
  Result<Record> read_row(const Statement& st, std::string_view store, std::string* bad_field = nullptr,
                          std::optional<Key>* key = nullptr) const {
    Record r;
    std::vector<Value> key_parts;
    key_parts.reserve(schema.key_columns.size());
    int col = 0;
    for (const Column& c : schema.key_columns) {
      auto v = read_value(st, col++, c);
      if (!v.ok()) {
        if (bad_field != nullptr) *bad_field = c.name;
        return Status::Corruption(fmt::format("{} collection '{}', key column '{}': {}", store, schema.name,
                                              c.name, v.status().message()));
      }
      key_parts.push_back(std::move(*v));
    }
    r.key = Key(std::move(key_parts));
    if (key != nullptr) *key = r.key;
    for (const Column& c : schema.columns) {
      auto v = read_value(st, col++, c);
      if (!v.ok()) {
        if (bad_field != nullptr) *bad_field = c.name;
        return Status::Corruption(fmt::format("{} collection '{}', record {}, field '{}': {}", store,
                                              schema.name, r.key.to_display(), c.name, v.status().message()));
      }
      r.fields.emplace(c.name, std::move(*v));
    }
    return r;
  }

  // The row's raw values as text, for the quarantine: "id=5, age='abc'".
  std::string raw_row(const Statement& st) const {
    std::string out;
    int col = 0;
    auto add = [&](const Column& c) {
      if (!out.empty()) out += ", ";
      out += c.name;
      out += '=';
      int i = col++;
      switch (sqlite3_column_type(st.get(), i)) {
        case SQLITE_NULL:
          out += "NULL";
          break;
        case SQLITE_BLOB:
          out += Value(Bytes{st.column_blob(i)}).to_display();
          break;
        case SQLITE_TEXT: {
          std::string text = st.column_text(i);
          out += valid_utf8(text) ? Value(text).to_display() : Value(Bytes{text}).to_display();
          break;
        }
        default:
          out += st.column_text(i);
      }
    };
    for (const Column& c : schema.key_columns) add(c);
    for (const Column& c : schema.columns) add(c);
    return out;
  }

  static Result<Value> read_value(const Statement& st, int i, const Column& c) {
    int t = sqlite3_column_type(st.get(), i);
    if (t == SQLITE_NULL) {
      if (!c.nullable) return Status::Corruption("NULL in a NOT NULL column");
      return Value();
    }
    auto expect = [&](int want) -> Status {
      if (t == want) return Status::Ok();
      return Status::Corruption(fmt::format("stored SQLite type {} where {} ({}) was expected", t,
                                            sql_type(c.type), type_name(c.type)));
    };
    switch (c.type) {
      case Type::kBool:
        TANDEM_RETURN_IF_ERROR(expect(SQLITE_INTEGER));
        return Value(st.column_int(i) != 0);
      case Type::kInt:
        TANDEM_RETURN_IF_ERROR(expect(SQLITE_INTEGER));
        return Value(st.column_int(i));
      case Type::kTimestamp:
        TANDEM_RETURN_IF_ERROR(expect(SQLITE_INTEGER));
        return Value(Timestamp{st.column_int(i)});
      case Type::kDouble:
        if (t == SQLITE_INTEGER) return Value(static_cast<double>(st.column_int(i)));
        TANDEM_RETURN_IF_ERROR(expect(SQLITE_FLOAT));
        return Value(sqlite3_column_double(st.get(), i));
      case Type::kDecimal: {
        TANDEM_RETURN_IF_ERROR(expect(SQLITE_TEXT));
        auto d = Decimal::parse(st.column_text(i));
        if (!d.ok()) return Status::Corruption(d.status().message());
        return Value(std::move(*d));
      }
      case Type::kText: {
        TANDEM_RETURN_IF_ERROR(expect(SQLITE_TEXT));
        std::string text = st.column_text(i);
        if (!valid_utf8(text)) return Status::Corruption("text is not valid UTF-8");
        return Value(std::move(text));
      }
      case Type::kJson: {
        TANDEM_RETURN_IF_ERROR(expect(SQLITE_TEXT));
        std::string text = st.column_text(i);
        if (!valid_utf8(text)) return Status::Corruption("JSON text is not valid UTF-8");
        // Canonical form, as every store returns it: a service's own JSON
        // ("{\"b\": 1, \"a\": 2}") must hash like PostgreSQL's normalized JSONB.
        auto json = Json::parse(text);
        if (!json.ok()) return Status::Corruption(json.status().message());
        return Value(std::move(*json));
      }
      case Type::kBytes:
        TANDEM_RETURN_IF_ERROR(expect(SQLITE_BLOB));
        return Value(Bytes{st.column_blob(i)});
      case Type::kUuid: {
        TANDEM_RETURN_IF_ERROR(expect(SQLITE_BLOB));
        std::string b = st.column_blob(i);
        if (b.size() != 16) return Status::Corruption(fmt::format("a UUID of {} bytes", b.size()));
        Uuid u;
        std::copy(b.begin(), b.end(), u.bytes.begin());
        return Value(u);
      }
      case Type::kNull:
        break;
    }
    return Status::Internal("column without type");
  }

  int bind_key(Statement& st, const Key& key, int first = 1) const {
    for (size_t i = 0; i < key.size(); ++i) bind_value(st, first + static_cast<int>(i), key[i]);
    return first + static_cast<int>(key.size());
  }

  // Binds key then every value column (missing fields as null).
  void bind_record(Statement& st, const Record& r) const {
    int index = bind_key(st, r.key);
    static const Value kNull;
    for (const Column& c : schema.columns) {
      auto it = r.fields.find(c.name);
      bind_value(st, index++, it == r.fields.end() ? kNull : it->second);
    }
  }

  std::string what(std::string_view action, const Key& key, std::string_view store) const {
    return fmt::format("{} {} collection '{}', record {}", action, store, schema.name, key.to_display());
  }
};

SqliteStore::SqliteStore(std::string name, std::string path, std::shared_ptr<RecordLockFile> locks,
                         StoreOptions options)
    : name_(std::move(name)),
      pool_(std::move(path), options.configure, options.read_only),
      locks_(std::move(locks)),
      options_(options) {}

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
  if (options.keep_tombstones) {
    TANDEM_ASSIGN_OR_RETURN(auto conn, store->pool_.acquire());
    TANDEM_RETURN_IF_ERROR(conn->exec(
        "CREATE TABLE IF NOT EXISTS tandem_tombstones (collection TEXT NOT NULL, key BLOB NOT NULL, "
        "deleted_at INTEGER NOT NULL, PRIMARY KEY (collection, key)) WITHOUT ROWID"));
  }
  return store;
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

Status SqliteStore::ensure_collection(const CollectionSchema& schema, bool create_if_missing) {
  TANDEM_RETURN_IF_ERROR(schema.validate());
  auto t = std::make_unique<Table>();
  t->schema = schema;
  static_cast<CollectionSql&>(*t) =
      build_collection_sql(schema, [](size_t i) { return fmt::format("?{}", i); });
  t->key_tuple = fmt::format("({})", t->key_columns);

  // Create, or check the existing table's columns.
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  if (create_if_missing) {
    TANDEM_ASSIGN_OR_RETURN(std::string create, create_table_sql(schema));
    TANDEM_RETURN_IF_ERROR(conn->exec(create));
  }
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(fmt::format("PRAGMA table_info({})", t->quoted)));
    Statement st(*conn, raw);
    std::unordered_map<std::string, std::string> existing;
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading table_info"));
      if (!row) break;
      existing.emplace(st.column_text(1), st.column_text(2));
    }
    TANDEM_RETURN_IF_ERROR(check_existing_columns(
        name_, schema, existing, [](Type type, std::string_view found) { return found == sql_type(type); }));
  }
  std::unique_lock lock(tables_mutex_);
  tables_[schema.name] = std::move(t);
  return Status::Ok();
}

Result<const SqliteStore::Table*> SqliteStore::table(std::string_view collection) const {
  std::shared_lock lock(tables_mutex_);
  auto it = tables_.find(std::string(collection));
  if (it == tables_.end()) {
    return Status::InvalidArgument(fmt::format(
        "{} database: collection '{}' is not registered (call ensure_collection first)", name_, collection));
  }
  return it->second.get();
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
    t.bind_key(st, key);
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step(t.what("reading", key, name_)));
    if (row) {
      TANDEM_ASSIGN_OR_RETURN(out.record, t.read_row(st, name_));
      out.state = Lookup::State::kPresent;
      return out;
    }
  }
  out.record.key = key;
  TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(conn, t, key.encode()));
  out.state = dead ? Lookup::State::kTombstoned : Lookup::State::kAbsent;
  return out;
}

Result<Lookup> SqliteStore::get(std::string_view collection, const Key& key) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, {}, true));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  // Row and tombstone are read in one snapshot.
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kRead));
  TANDEM_ASSIGN_OR_RETURN(Lookup out, get_in(*conn, *t, key));
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return out;
}

Result<std::vector<Lookup>> SqliteStore::get_many(std::string_view collection, std::span<const Key> keys) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  for (const Key& k : keys) TANDEM_RETURN_IF_ERROR(t->schema.check_fields(k, {}, true));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kRead));
  std::vector<Lookup> out;
  out.reserve(keys.size());
  for (const Key& k : keys) {
    TANDEM_ASSIGN_OR_RETURN(Lookup l, get_in(*conn, *t, k));
    out.push_back(std::move(l));
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return out;
}

Result<std::vector<InsertOutcome>> SqliteStore::insert_if_absent(std::string_view collection,
                                                                 std::span<const Record> records,
                                                                 LockPolicy policy) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  for (const Record& r : records) TANDEM_RETURN_IF_ERROR(t->schema.check_record(r));
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
    t->bind_record(st, r);
    TANDEM_RETURN_IF_ERROR(st.run_described([&] { return t->what("inserting into", r.key, name_); }));
    outcomes[i] = st.changes() == 1 ? InsertOutcome::kInserted : InsertOutcome::kAlreadyPresent;
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return outcomes;
}

Status SqliteStore::upsert(std::string_view collection, const Record& record) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_record(record));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(t->upsert_sql));
    Statement st(*conn, raw);
    t->bind_record(st, record);
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
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
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
    index = t->bind_key(st, key);
    for (const auto& [name, value] : fields) bind_value(st, index++, value);
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
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(t->delete_sql));
    Statement st(*conn, raw);
    t->bind_key(st, key);
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

std::string SqliteStore::range_where(const Table& t, const KeyRange& range) {
  auto placeholders = [&](int first) {
    std::vector<std::string> p;
    for (size_t i = 0; i < t.schema.key_columns.size(); ++i) {
      p.push_back(fmt::format("?{}", first + static_cast<int>(i)));
    }
    return fmt::format("({})", fmt::join(p, ", "));
  };
  int next = 1;
  std::vector<std::string> conds;
  if (range.begin) {
    conds.push_back(
        fmt::format("{} {} {}", t.key_tuple, range.begin_inclusive ? ">=" : ">", placeholders(next)));
    next += static_cast<int>(t.schema.key_columns.size());
  }
  if (range.end) conds.push_back(fmt::format("{} < {}", t.key_tuple, placeholders(next)));
  if (conds.empty()) return "";
  return fmt::format(" WHERE {}", fmt::join(conds, " AND "));
}

Status SqliteStore::for_each_row(const Table& t, const KeyRange& range, std::string_view select,
                                 std::string_view suffix,
                                 const std::function<Status(const Statement&)>& visit) {
  for (const auto* k : {range.begin ? &*range.begin : nullptr, range.end ? &*range.end : nullptr}) {
    if (k != nullptr) {
      TANDEM_RETURN_IF_ERROR(t.schema.check_fields(*k, {}, true).with_context("key range bound"));
    }
  }
  std::string sql = fmt::format("SELECT {} FROM {}{}{}", select, t.quoted, range_where(t, range), suffix);
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(sql));
  Statement st(*conn, raw);
  int next = 1;
  if (range.begin) next = t.bind_key(st, *range.begin, next);
  if (range.end) t.bind_key(st, *range.end, next);
  std::string what =
      fmt::format("scanning {} collection '{}' range {}", name_, t.schema.name, range.to_display());
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step(what));
    if (!row) break;
    TANDEM_RETURN_IF_ERROR(visit(st));
  }
  return Status::Ok();
}

std::string SqliteStore::order_and_limit(const Table& t, size_t limit) {
  std::string out = fmt::format(" ORDER BY {}", t.key_tuple.substr(1, t.key_tuple.size() - 2));
  if (limit > 0) out += fmt::format(" LIMIT {}", limit);
  return out;
}

Result<std::vector<Record>> SqliteStore::scan(std::string_view collection, const KeyRange& range,
                                              size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  std::vector<Record> out;
  if (limit == 0) return out;
  out.reserve(std::min<size_t>(limit, 4096));
  TANDEM_RETURN_IF_ERROR(
      for_each_row(*t, range, t->select_list, order_and_limit(*t, limit), [&](const Statement& st) -> Status {
        TANDEM_ASSIGN_OR_RETURN(Record r, t->read_row(st, name_));
        out.push_back(std::move(r));
        return Status::Ok();
      }));
  return out;
}

Result<ScanBatch> SqliteStore::scan_batch(std::string_view collection, const KeyRange& range, size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  ScanBatch out;
  if (limit == 0) return out;
  out.records.reserve(std::min<size_t>(limit, 4096));
  TANDEM_RETURN_IF_ERROR(
      for_each_row(*t, range, t->select_list, order_and_limit(*t, limit), [&](const Statement& st) -> Status {
        std::string field;
        std::optional<Key> key;
        auto r = t->read_row(st, name_, &field, &key);
        if (r.ok()) {
          out.last_key = r->key;
          out.records.push_back(std::move(*r));
          return Status::Ok();
        }
        if (!key) {
          // Without its key the row has no place in the key order: the copy
          // cannot step past it, so this is an error for the operator.
          return r.status().with_context(fmt::format(
              "a row after {} has a key that does not decode; fix or remove it in the {} database",
              out.last_key ? out.last_key->to_display() : "the range start", name_));
        }
        out.last_key = key;
        out.bad.push_back(BadRecord{key, key->to_display(), field, t->raw_row(st), r.status().message()});
        return Status::Ok();
      }));
  return out;
}

Result<std::vector<Key>> SqliteStore::tombstones(std::string_view collection, const KeyRange& range,
                                                 size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  std::vector<Key> out;
  if (!options_.keep_tombstones || limit == 0) return out;
  // Encoded keys sort like keys, so the range is a range of blobs.
  std::string sql = "SELECT key FROM tandem_tombstones WHERE collection = ?1";
  if (range.begin) sql += range.begin_inclusive ? " AND key >= ?2" : " AND key > ?2";
  if (range.end) sql += " AND key < ?3";
  sql += fmt::format(" ORDER BY key LIMIT {}", std::min<size_t>(limit, INT64_MAX));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(sql));
  Statement st(*conn, raw);
  st.bind_text(1, t->schema.name);
  if (range.begin) st.bind_blob(2, range.begin->encode());
  if (range.end) st.bind_blob(3, range.end->encode());
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading tombstones"));
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(Key k, Key::decode(st.column_blob(0)));
    out.push_back(std::move(k));
  }
  return out;
}

Result<uint64_t> SqliteStore::count(std::string_view collection, const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  uint64_t n = 0;
  TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, "COUNT(*)", "", [&](const Statement& st) {
    n = static_cast<uint64_t>(st.column_int(0));
    return Status::Ok();
  }));
  return n;
}

Result<std::vector<Key>> SqliteStore::split_points(std::string_view collection, const KeyRange& range,
                                                   size_t parts) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  std::vector<Key> out;
  if (parts < 2) return out;
  TANDEM_ASSIGN_OR_RETURN(uint64_t n, count(collection, range));
  std::string keys = t->key_tuple.substr(1, t->key_tuple.size() - 2);
  for (size_t i = 1; i < parts; ++i) {
    uint64_t offset = n * i / parts;
    if (offset == 0) continue;
    std::string suffix = fmt::format(" ORDER BY {} LIMIT 1 OFFSET {}", keys, offset);
    TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, keys, suffix, [&](const Statement& st) -> Status {
      std::vector<Value> parts_of_key;
      int col = 0;
      for (const Column& c : t->schema.key_columns) {
        TANDEM_ASSIGN_OR_RETURN(Value v, Table::read_value(st, col++, c));
        parts_of_key.push_back(std::move(v));
      }
      Key k(std::move(parts_of_key));
      if (out.empty() || out.back() < k) out.push_back(std::move(k));
      return Status::Ok();
    }));
  }
  return out;
}

Result<RecordLock> SqliteStore::lock(std::string_view collection, const Key& key,
                                     std::chrono::milliseconds timeout) {
  std::string encoded = key.encode();
  return locks_->lock(RecordLockFile::slot_for(collection, encoded), timeout,
                      fmt::format("{} collection '{}', record {}", name_, collection, key.to_display()));
}

Result<RecordLock> SqliteStore::try_lock(std::string_view collection, const Key& key) {
  std::string encoded = key.encode();
  return locks_->try_lock(RecordLockFile::slot_for(collection, encoded),
                          fmt::format("{} collection '{}', record {}", name_, collection, key.to_display()));
}

Result<Digest> SqliteStore::digest(std::string_view collection, const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  // One streamed, unordered pass over the range (the hash is
  // order-independent): memory stays constant whatever the range's size.
  Digest d;
  TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, t->select_list, "", [&](const Statement& st) -> Status {
    auto r = t->read_row(st, name_);
    if (!r.ok()) {
      d.undecodable += 1;
      return Status::Ok();
    }
    d.count += 1;
    d.hash += record_hash(t->schema, *r);
    return Status::Ok();
  }));
  return d;
}

}  // namespace tandem::sqlite
