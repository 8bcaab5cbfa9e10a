#include "stores/postgres/postgres_store.h"

#include <fmt/format.h>

#include <numeric>
#include <set>

#include "stores/postgres/postgres_key_collation.h"
#include "stores/postgres/postgres_shapes.h"
#include "stores/postgres/postgres_table.h"
#include "stores/sql_text.h"

namespace tandem::postgres {

PostgresStore::PostgresStore(std::string name, ConnectionSpec spec, StoreOptions options)
    : SqlStore(std::move(name), options), pool_(std::move(spec)) {}

PostgresStore::~PostgresStore() = default;

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(std::string name, std::string_view url,
                                                           StoreOptions options) {
  TANDEM_ASSIGN_OR_RETURN(ConnectionSpec spec, ConnectionSpec::parse(url));
  spec.read_only = options.read_only;
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(name), std::move(spec), options));
  TANDEM_ASSIGN_OR_RETURN(auto conn, store->pool_.acquire());
  if (options.keep_tombstones && options.configure && !options.read_only) {
    TANDEM_RETURN_IF_ERROR(conn->exec_simple(
        "CREATE TABLE IF NOT EXISTS tandem_tombstones (collection TEXT NOT NULL, key BYTEA NOT NULL, "
        "deleted_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (collection, key))",
        "creating tandem_tombstones"));
    // The fence (tandem/store.h, FenceScope): one row, the step version at
    // which new's write role last changed and that role.
    TANDEM_RETURN_IF_ERROR(conn->exec_simple(
        "CREATE TABLE IF NOT EXISTS tandem_fence (id INTEGER PRIMARY KEY, version BIGINT NOT NULL, role "
        "INTEGER NOT NULL)",
        "creating tandem_fence"));
    TANDEM_RETURN_IF_ERROR(conn->exec_simple(
        "INSERT INTO tandem_fence (id, version, role) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING",
        "creating the row of tandem_fence"));
    // Under a collation "key" holds the identity and "spelling" the deleted
    // key's encoding (tandem/key_identity.h); NULL for byte keys.
    // Only when missing: the ALTER takes an exclusive lock even when the
    // column exists, and a long reader would stall every write behind it.
    TANDEM_ASSIGN_OR_RETURN(
        PgResult has, conn->exec("SELECT 1 FROM information_schema.columns WHERE table_schema = "
                                 "current_schema() AND table_name = 'tandem_tombstones' AND column_name = "
                                 "'spelling'",
                                 {}, "reading the columns of tandem_tombstones"));
    if (has.rows() == 0) {
      TANDEM_RETURN_IF_ERROR(
          conn->exec_simple("ALTER TABLE tandem_tombstones ADD COLUMN IF NOT EXISTS spelling BYTEA",
                            "adding the spelling column to tandem_tombstones"));
    }
  }
  return store;
}

Status PostgresStore::drop_tandem_tables() {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_RETURN_IF_ERROR(conn->exec_simple("DROP TABLE IF EXISTS tandem_fence", "dropping tandem_fence"));
  return conn->exec_simple("DROP TABLE IF EXISTS tandem_tombstones", "dropping tandem_tombstones");
}

Result<std::string> PostgresStore::create_table_sql(const CollectionSchema& schema) const {
  TANDEM_ASSIGN_OR_RETURN(TableDefinition d, table_definition(schema, {}));
  return d.sql;
}

Result<Store::TableDefinition> PostgresStore::table_definition(const CollectionSchema& schema,
                                                               const ColumnShapes& like) const {
  TANDEM_RETURN_IF_ERROR(schema.validate());
  TableDefinition out;
  std::vector<std::string> defs, keys;
  for (const auto* columns : {&schema.key_columns, &schema.columns}) {
    const bool key = columns == &schema.key_columns;
    for (const Column& c : *columns) {
      auto it = like.find(c.name);
      ColumnDefinition d = column_definition(c, key, it == like.end() ? nullptr : &it->second);
      defs.push_back(
          fmt::format("{} {}{}", quote_identifier(c.name), d.type, key || !c.nullable ? " NOT NULL" : ""));
      if (key) keys.push_back(quote_identifier(c.name));
      out.columns.push_back(std::move(d));
    }
  }
  out.sql = fmt::format("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))", quote_identifier(schema.name),
                        fmt::join(defs, ", "), fmt::join(keys, ", "));
  for (const ColumnDefinition& d : out.columns) {
    if (d.type.find(fmt::format("COLLATE {}", kKeyCollation)) == std::string::npos) continue;
    out.sql = fmt::format("{}; {}", kCreateKeyCollation, out.sql);
    break;
  }
  return out;
}

Result<ColumnShapes> PostgresStore::column_shapes(const CollectionSchema& schema) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(ColumnShapes all, read_column_shapes(*conn, schema.name));
  ColumnShapes out;
  for (const auto* columns : {&schema.key_columns, &schema.columns}) {
    for (const Column& c : *columns) {
      auto it = all.find(c.name);
      if (it != all.end()) out.emplace(c.name, it->second);
    }
  }
  return out;
}

Status PostgresStore::create_collection(const CollectionSchema& schema, const ColumnShapes& like) {
  TANDEM_ASSIGN_OR_RETURN(TableDefinition d, table_definition(schema, like));
  {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_RETURN_IF_ERROR(conn->exec_simple(d.sql, fmt::format("creating table '{}'", schema.name)));
  }
  return ensure_collection(schema, /*create_if_missing=*/false);
}

Status PostgresStore::ensure_collection(const CollectionSchema& schema, bool create_if_missing) {
  TANDEM_RETURN_IF_ERROR(schema.validate());
  auto t = std::make_unique<Table>();
  t->schema = schema;
  static_cast<CollectionSql&>(*t) =
      build_collection_sql(schema, [](size_t i) { return fmt::format("${}", i); });
  std::vector<std::string> keys_c;
  for (const Column& c : schema.key_columns) {
    keys_c.push_back(quote_identifier(c.name) + (c.type == Type::kText ? " COLLATE \"C\"" : ""));
  }
  t->key_tuple = fmt::format("({})", fmt::join(keys_c, ", "));
  t->order_by = fmt::format("{}", fmt::join(keys_c, ", "));
  const size_t k = schema.key_columns.size();
  t->get_with_tombstone_sql = fmt::format(
      "SELECT {}, EXISTS (SELECT 1 FROM tandem_tombstones WHERE collection = ${} AND key = ${}) "
      "FROM (VALUES (1)) AS tandem_one(tandem_one_x) LEFT JOIN {} ON {}",
      t->select_list, k + 1, k + 2, t->quoted, t->key_match);

  if (k == 1) {
    const char* array_type = nullptr;
    switch (schema.key_columns[0].type) {
      case Type::kInt:
        array_type = "bigint[]";
        break;
      case Type::kText:
        array_type = "text[]";
        break;
      case Type::kUuid:
        array_type = "uuid[]";
        break;
      case Type::kBytes:
        array_type = "bytea[]";
        break;
      default:
        break;
    }
    if (array_type != nullptr) {
      // A join, not "key = ANY($1)": see the tombstone query in insert_part.
      t->present_sql = fmt::format("SELECT t.{0} FROM unnest($1::{2}) AS u(k) JOIN {1} AS t ON t.{0} = u.k",
                                   t->key_columns, t->quoted, array_type);
      t->copy_order.resize(schema.columns.size());
      std::iota(t->copy_order.begin(), t->copy_order.end(), size_t{0});
      std::sort(t->copy_order.begin(), t->copy_order.end(),
                [&](size_t a, size_t b) { return schema.columns[a].name < schema.columns[b].name; });
      std::vector<std::string> names{t->key_columns};
      for (size_t c : t->copy_order) names.push_back(quote_identifier(schema.columns[c].name));
      t->copy_sql = fmt::format("COPY {} ({}) FROM STDIN", t->quoted, fmt::join(names, ", "));
    }
  }

  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  if (create_if_missing) {
    TANDEM_ASSIGN_OR_RETURN(std::string create, create_table_sql(schema));
    TANDEM_RETURN_IF_ERROR(conn->exec_simple(create, fmt::format("creating table '{}'", schema.name)));
  }
  TANDEM_ASSIGN_OR_RETURN(PgResult cols,
                          conn->exec("SELECT column_name, CASE WHEN data_type = 'USER-DEFINED' AND EXISTS "
                                     "(SELECT 1 FROM pg_type t WHERE t.typname = udt_name AND t.typtype = "
                                     "'e') THEN 'enum' ELSE data_type END FROM information_schema.columns "
                                     "WHERE table_schema = current_schema() AND table_name = $1",
                                     {text_param(schema.name)}, "reading the table's columns"));
  std::unordered_map<std::string, std::string> existing;
  for (int i = 0; i < cols.rows(); ++i) existing.emplace(cols.text(i, 0), cols.text(i, 1));
  TANDEM_RETURN_IF_ERROR(check_existing_columns(name_, schema, existing, compatible));
  if (!t->copy_sql.empty()) {
    // The binary COPY when every column has a binary form (postgres_binary_copy.h).
    std::vector<const Column*> in_order;
    for (const Column& c : schema.key_columns) in_order.push_back(&c);
    for (size_t c : t->copy_order) in_order.push_back(&schema.columns[c]);
    for (const Column* c : in_order) {
      auto it = existing.find(c->name);
      auto form = it == existing.end() ? std::nullopt : binary_column(c->type, it->second);
      if (!form) break;
      t->binary_columns.push_back(*form);
    }
    if (t->binary_columns.size() == in_order.size()) {
      t->binary_copy_sql = t->copy_sql + " (FORMAT binary)";
    } else {
      t->binary_columns.clear();
    }
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<TableKey> keys, read_table_keys(*conn, schema.name));
  TANDEM_RETURN_IF_ERROR(check_configured_key(name_, schema, keys));
  TANDEM_ASSIGN_OR_RETURN(t->identity,
                          key_identity_in_new(*conn, name_, schema, offered_identity(schema.name).get()));
  if (t->collated()) {
    // A collated key column is ordered and bounded in its own collation,
    // the primary key index's (under "C" every page of a scan would read
    // the whole table); one row per class, so pages are well defined.
    std::vector<std::string> keys_in_order;
    for (size_t i = 0; i < schema.key_columns.size(); ++i) {
      const Column& c = schema.key_columns[i];
      const bool own = i < t->identity->columns().size() && t->identity->columns()[i] != nullptr;
      keys_in_order.push_back(quote_identifier(c.name) +
                              (c.type == Type::kText && !own ? " COLLATE \"C\"" : ""));
    }
    t->key_tuple = fmt::format("({})", fmt::join(keys_in_order, ", "));
    t->order_by = fmt::format("{}", fmt::join(keys_in_order, ", "));
    // The write's spelling replaces the stored one (the write primary's
    // current spelling wins); ON CONFLICT on the key only: a record is
    // never renamed over another unique index.
    std::vector<std::string> sets;
    for (const auto* columns : {&schema.key_columns, &schema.columns}) {
      for (const Column& c : *columns)
        sets.push_back(fmt::format("{0} = excluded.{0}", quote_identifier(c.name)));
    }
    const std::string insert = t->insert_sql.substr(0, t->insert_sql.rfind(" DO NOTHING"));
    t->respell_upsert_sql = fmt::format("{} DO UPDATE SET {}", insert, fmt::join(sets, ", "));
    TANDEM_ASSIGN_OR_RETURN(PgResult referenced,
                            conn->exec("SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = "
                                       "to_regclass(quote_ident($1)) LIMIT 1",
                                       {text_param(schema.name)},
                                       fmt::format("reading the foreign keys to table '{}'", schema.name)));
    t->respells = referenced.rows() == 0;
  }
  TANDEM_ASSIGN_OR_RETURN(t->numeric, read_numeric_limits(*conn, schema.name));
  TANDEM_ASSIGN_OR_RETURN(t->float4, read_float4_columns(*conn, schema.name));
  add_table(std::move(t));
  return Status::Ok();
}

bool PostgresStore::holds_key(const Table& t, const Key& key) const {
  static const std::unordered_map<std::string, NumericLimit> kNone;
  static const std::set<std::string> kNoFloat4;
  return check_storable(name_, t.schema, kNone, kNoFloat4, key, {}).ok();
}

Result<const PostgresStore::Table*> PostgresStore::table(std::string_view collection) const {
  TANDEM_ASSIGN_OR_RETURN(const sql::SqlTable* t, SqlStore::table(collection));
  return static_cast<const Table*>(t);
}

Result<bool> PostgresStore::tombstoned(Connection& conn, const Table& t, const Key& key) {
  if (!options_.keep_tombstones) return false;
  Result<std::string> id = t.id(key);
  if (!id.ok()) return false;  // a key new cannot hold was never written (see remove)
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r, conn.exec("SELECT 1 FROM tandem_tombstones WHERE collection = $1 AND key = $2",
                            {text_param(t.schema.name), bytes_param(std::move(*id))}, "reading tombstones"));
  return r.rows() > 0;
}

Result<Lookup> PostgresStore::get_in(Connection& conn, const Table& t, const Key& key) {
  if (!holds_key(t, key) || !t.id(key).ok()) {
    // No row has a key PostgreSQL cannot hold; asked for it, libpq would
    // cut it at its NUL and find another record.
    TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(conn, t, key));
    return sql::missing(key, dead);
  }
  std::vector<Param> params;
  t.add_key(params, key);
  Lookup out;
  if (options_.keep_tombstones) {
    // Row and tombstone from one snapshot: read apart, a write committing in
    // between (row in, tombstone out) would look absent, and a fallback read
    // would then return the other database's stale copy.
    TANDEM_ASSIGN_OR_RETURN(std::string id, t.id(key));
    params.push_back(text_param(t.schema.name));
    params.push_back(bytes_param(std::move(id)));
    TANDEM_ASSIGN_OR_RETURN(PgResult r,
                            conn.exec(t.get_with_tombstone_sql, params, t.what("reading", key, name_)));
    const int tombstone_col = static_cast<int>(t.schema.key_columns.size() + t.schema.columns.size());
    if (r.rows() > 0 && !r.is_null(0, 0)) {
      TANDEM_ASSIGN_OR_RETURN(out.record, t.read_row(r, 0, name_));
      out.state = Lookup::State::kPresent;
      return out;
    }
    return sql::missing(key, r.rows() > 0 && r.text(0, tombstone_col) == "t");
  }
  TANDEM_ASSIGN_OR_RETURN(PgResult r, conn.exec(t.get_sql, params, t.what("reading", key, name_)));
  if (r.rows() > 0) {
    TANDEM_ASSIGN_OR_RETURN(out.record, t.read_row(r, 0, name_));
    out.state = Lookup::State::kPresent;
    return out;
  }
  TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(conn, t, key));
  return sql::missing(key, dead);
}

Result<std::vector<Lookup>> PostgresStore::read_lookups(const sql::SqlTable& base, std::span<const Key> keys,
                                                        bool one_snapshot) {
  const auto& t = static_cast<const Table&>(base);
  return sql::read_each(
      pool_, keys, one_snapshot,
      [](Connection& c) { return Transaction::begin(c, "ISOLATION LEVEL REPEATABLE READ READ ONLY"); },
      [&](Connection& c, const Key& k) { return get_in(c, t, k); });
}

Result<Key> PgRow::key(std::string* bad_field) const {
  std::vector<Value> parts;
  int col = 0;
  for (const Column& c : t_->schema.key_columns) {
    Result<Value> v = from_text(c.type, r_.text(row_, col));
    if (r_.is_null(row_, col) || !v.ok()) {
      if (bad_field != nullptr) *bad_field = c.name;
      return Status::Corruption(fmt::format("{} collection '{}', key column '{}': {}", store_,
                                            t_->schema.name, c.name, v.ok() ? "NULL" : v.status().message()));
    }
    ++col;
    parts.push_back(std::move(*v));
  }
  return Key(std::move(parts));
}

std::string PostgresStore::limit_offset(size_t limit, size_t offset) const {
  std::string out;
  if (limit > 0) out += fmt::format(" LIMIT {}", std::min<size_t>(limit, INT64_MAX));
  if (offset > 0) out += fmt::format(" OFFSET {}", offset);
  return out;
}

Status PostgresStore::for_each_row(const sql::SqlTable& base, const KeyRange& range, std::string_view select,
                                   std::string_view suffix, const sql::RowVisitor& visit) {
  const auto& t = static_cast<const Table&>(base);
  std::vector<Param> params;
  std::vector<std::string> conds;
  for (const auto* k : {range.begin ? &*range.begin : nullptr, range.end ? &*range.end : nullptr}) {
    if (k != nullptr)
      TANDEM_RETURN_IF_ERROR(t.schema.check_fields(*k, {}, true).with_context("key range bound"));
  }
  if (range.begin) {
    conds.push_back(fmt::format("{} {} {}", t.key_tuple, range.begin_inclusive ? ">=" : ">",
                                t.key_placeholders(static_cast<int>(params.size()) + 1)));
    t.add_key(params, *range.begin);
  }
  if (range.end) {
    conds.push_back(
        fmt::format("{} < {}", t.key_tuple, t.key_placeholders(static_cast<int>(params.size()) + 1)));
    t.add_key(params, *range.end);
  }
  std::string sql = fmt::format("SELECT {} FROM {}", select, t.quoted);
  if (!conds.empty()) sql += fmt::format(" WHERE {}", fmt::join(conds, " AND "));
  sql += suffix;
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  bool stopped = false;  // once visit stops, the rest are read and dropped
  return conn->stream(
      sql, params,
      fmt::format("scanning {} collection '{}' range {}", name_, t.schema.name, range.to_display()),
      [&](const PgResult& r) -> Status {
        if (stopped) return Status::Ok();
        TANDEM_ASSIGN_OR_RETURN(bool more, visit(PgRow(&t, r, 0, name_)));
        stopped = !more;
        return Status::Ok();
      });
}

Status PostgresStore::query(const std::string& sql, const std::vector<Value>& params, std::string_view what,
                            const sql::RowVisitor& visit) {
  std::vector<Param> bound;
  for (const Value& v : params) bound.push_back(to_param(v));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(PgResult r, conn->exec(sql, bound, what));
  for (int i = 0; i < r.rows(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(bool more, visit(PgRow(nullptr, r, i, name_)));
    if (!more) break;
  }
  return Status::Ok();
}

namespace {
// A session-level advisory lock, held on its own pooled connection.
class AdvisoryLock : public RecordLock::Handle {
 public:
  AdvisoryLock(Pool::Lease lease, int64_t key) : lease_(std::move(lease)), key_(key) {}
  ~AdvisoryLock() override {
    // If the connection broke, the server has released the lock already.
    if (!lease_->broken()) {
      (void)lease_->exec("SELECT pg_advisory_unlock($1)", {text_param(std::to_string(key_))},
                         "unlocking a record");
    }
  }

 private:
  Pool::Lease lease_;
  int64_t key_;
};
}  // namespace

Result<RecordLock> PostgresStore::try_lock(std::string_view collection, const Key& key) {
  // One lock per identity; a key new cannot identify (it holds no such
  // record) is locked by its spelling.
  Result<const Table*> t = table(collection);
  Result<std::string> id = t.ok() ? (*t)->id(key) : Result<std::string>(key.encode());
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  int64_t k = lock_key(collection, id.ok() ? *id : key.encode());
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r,
      conn->exec("SELECT pg_try_advisory_lock($1)", {text_param(std::to_string(k))},
                 fmt::format("locking {} collection '{}', record {}", name_, collection, key.to_display())));
  if (r.text(0, 0) != "t") return RecordLock();
  return RecordLock(std::make_unique<AdvisoryLock>(std::move(conn), k));
}

}  // namespace tandem::postgres
