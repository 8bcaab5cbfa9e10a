#include "stores/mariadb/mariadb_store.h"

#include <fmt/format.h>

#include <charconv>
#include <set>

#include "stores/mariadb/mariadb_collation.h"
#include "stores/mariadb/mariadb_shapes.h"
#include "stores/mariadb/mariadb_table.h"
#include "stores/sql_text.h"

namespace tandem::mariadb {

MariaDbStore::MariaDbStore(std::string name, ConnectionSpec spec, StoreOptions options)
    : SqlStore(std::move(name), options), pool_(std::move(spec)) {}

MariaDbStore::~MariaDbStore() = default;

Result<std::unique_ptr<MariaDbStore>> MariaDbStore::open(std::string name, std::string_view url,
                                                         StoreOptions options) {
  TANDEM_ASSIGN_OR_RETURN(ConnectionSpec spec, ConnectionSpec::parse(url));
  spec.read_only = options.read_only;
  std::string database = spec.database;
  std::unique_ptr<MariaDbStore> store(new MariaDbStore(std::move(name), std::move(spec), options));
  store->database_ = database;
  TANDEM_ASSIGN_OR_RETURN(auto conn, store->pool_.acquire());
  if (options.keep_tombstones && options.configure && !options.read_only) {
    TANDEM_RETURN_IF_ERROR(conn->exec_simple(
        "CREATE TABLE IF NOT EXISTS tandem_tombstones (collection VARCHAR(64) CHARACTER SET utf8mb4 COLLATE "
        "utf8mb4_nopad_bin NOT NULL, \"key\" VARBINARY(2048) NOT NULL, deleted_at DATETIME(6) NOT NULL "
        "DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (collection, \"key\")) ENGINE=InnoDB",
        "creating tandem_tombstones"));
    // The fence (tandem/store.h, FenceScope): one row, the step version at
    // which new's write role last changed and that role.
    TANDEM_RETURN_IF_ERROR(conn->exec_simple(
        "CREATE TABLE IF NOT EXISTS tandem_fence (id INT NOT NULL PRIMARY KEY, version BIGINT NOT NULL, role "
        "INT NOT NULL) ENGINE=InnoDB",
        "creating tandem_fence"));
    TANDEM_RETURN_IF_ERROR(
        conn->exec_simple("INSERT IGNORE INTO tandem_fence (id, version, role) VALUES (1, 0, 0)",
                          "creating the row of tandem_fence"));
    // Under a collation "key" holds the identity and "spelling" the deleted
    // key's encoding (tandem/key_identity.h); NULL for byte keys. Added to a
    // table an older tandem created (MySQL has no ADD COLUMN IF NOT EXISTS).
    TANDEM_ASSIGN_OR_RETURN(
        uint64_t has_spelling,
        conn->run("SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "
                  "'tandem_tombstones' AND COLUMN_NAME = 'spelling'",
                  {}, "reading the columns of tandem_tombstones", [](const Row&) { return Status::Ok(); }));
    if (has_spelling == 0) {
      Status added =
          conn->exec_simple("ALTER TABLE tandem_tombstones ADD COLUMN spelling VARBINARY(2048) NULL",
                            "adding the spelling column to tandem_tombstones");
      constexpr unsigned kDuplicateColumn = 1060;  // another process added it meanwhile
      if (!added.ok() && conn->last_error() != kDuplicateColumn) return added;
    }
  }
  return store;
}

Status MariaDbStore::drop_tandem_tables() {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_RETURN_IF_ERROR(conn->exec_simple("DROP TABLE IF EXISTS tandem_fence", "dropping tandem_fence"));
  return conn->exec_simple("DROP TABLE IF EXISTS tandem_tombstones", "dropping tandem_tombstones");
}

Result<std::string> MariaDbStore::create_table_sql(const CollectionSchema& schema) const {
  TANDEM_ASSIGN_OR_RETURN(TableDefinition d, table_definition(schema, {}));
  return d.sql;
}

Result<Store::TableDefinition> MariaDbStore::table_definition(const CollectionSchema& schema,
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
  // Sessions use ANSI_QUOTES: identifiers are quoted with '"'.
  out.sql = fmt::format(
      "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({})) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
      "COLLATE=utf8mb4_bin",
      quote_identifier(schema.name), fmt::join(defs, ", "), fmt::join(keys, ", "));
  return out;
}

Result<ColumnShapes> MariaDbStore::column_shapes(const CollectionSchema& schema) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto types, read_column_types(*conn, schema.name));
  ColumnShapes out;
  for (const auto* columns : {&schema.key_columns, &schema.columns}) {
    for (const Column& c : *columns) {
      auto it = types.find(c.name);
      if (it != types.end()) out.emplace(c.name, shape_of(it->second));
    }
  }
  return out;
}

Status MariaDbStore::create_collection(const CollectionSchema& schema, const ColumnShapes& like) {
  TANDEM_ASSIGN_OR_RETURN(TableDefinition d, table_definition(schema, like));
  {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
    TANDEM_RETURN_IF_ERROR(conn->exec_simple(d.sql, fmt::format("creating table '{}'", schema.name)));
  }
  return ensure_collection(schema, /*create_if_missing=*/false);
}

Status MariaDbStore::ensure_collection(const CollectionSchema& schema, bool create_if_missing) {
  TANDEM_RETURN_IF_ERROR(schema.validate());
  auto t = std::make_unique<Table>();
  t->schema = schema;
  static_cast<CollectionSql&>(*t) = build_collection_sql(schema, [](size_t) { return std::string("?"); });
  for (const Column& c : schema.key_columns) t->quoted_keys.push_back(quote_identifier(c.name));
  t->order_by = t->key_columns;  // binary collations (checked below): keys order by bytes
  // The tombstone's parameters come first: they come first in the text.
  t->get_with_tombstone_sql = fmt::format(
      "SELECT {}, EXISTS (SELECT 1 FROM tandem_tombstones WHERE collection = ? AND \"key\" = ?) "
      "FROM (SELECT 1 AS tandem_one_x) AS tandem_one LEFT JOIN {} ON {}",
      t->select_list, t->quoted, t->key_match);
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  if (create_if_missing) {
    TANDEM_ASSIGN_OR_RETURN(std::string create, create_table_sql(schema));
    TANDEM_RETURN_IF_ERROR(conn->exec_simple(create, fmt::format("creating table '{}'", schema.name)));
  }
  TANDEM_ASSIGN_OR_RETURN(auto types, read_column_types(*conn, schema.name));
  std::unordered_map<std::string, std::string> existing;
  for (const auto& [column, ct] : types) existing.emplace(column, ct.data_type);
  TANDEM_RETURN_IF_ERROR(check_existing_columns(name_, schema, existing, compatible));
  for (const auto* columns : {&schema.key_columns, &schema.columns}) {
    for (const Column& c : *columns) {
      const ColumnType& ct = types.at(c.name);
      if (std::string why = unusable(c.type, ct); !why.empty()) {
        return Status::FailedPrecondition(
            fmt::format("{} database: column '{}.{}' is {}", name_, schema.name, c.name, why));
      }
      if (columns == &schema.columns)
        t->value_index.emplace(c.name, t->types.size() - schema.key_columns.size());
      t->types.push_back(ct);
    }
  }
  // A text key under a case- or accent-insensitive collation: its identity
  // is read from the server's weights (mariadb_collation.h). *_bin keys stay
  // byte keys (their identity is their encoding, as before).
  TANDEM_RETURN_IF_ERROR(identify_keys(*conn, *t, types));
  // The configured key must be a key of the table: its primary key or a
  // unique index of NOT NULL columns, else two rows may share a key.
  std::vector<TableKey> keys;
  TANDEM_RETURN_IF_ERROR(
      conn->run("SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
                "DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME <> 'PRIMARY', "
                "INDEX_NAME, SEQ_IN_INDEX",
                {Param::of(schema.name)}, fmt::format("reading the keys of table '{}'", schema.name),
                [&](const Row& r) {
                  std::string index(r.text(0)), column(r.text(1));
                  std::string name =
                      index == "PRIMARY" ? "primary key" : fmt::format("unique index {}", index);
                  if (keys.empty() || keys.back().name != name) keys.push_back(TableKey{name, {}, false});
                  keys.back().columns.push_back(column);
                  auto it = types.find(column);
                  if (it != types.end() && it->second.nullable) keys.back().nullable = true;
                  return Status::Ok();
                })
          .status());
  TANDEM_RETURN_IF_ERROR(check_configured_key(name_, schema, keys));
  for (const TableKey& k : keys) {
    bool within = !k.nullable && std::all_of(k.columns.begin(), k.columns.end(), [&](const std::string& c) {
      return std::any_of(schema.key_columns.begin(), schema.key_columns.end(),
                         [&](const Column& kc) { return kc.name == c; });
    });
    if (within) t->key_indexes.insert(k.name == "primary key" ? "PRIMARY" : k.name.substr(13));
  }
  add_table(std::move(t));
  return Status::Ok();
}

Result<bool> MariaDbStore::tombstoned(Connection& conn, const Table& t, const Key& key) {
  if (!options_.keep_tombstones) return false;
  TANDEM_ASSIGN_OR_RETURN(std::string id, t.id(key));
  TANDEM_ASSIGN_OR_RETURN(
      uint64_t rows, conn.run("SELECT 1 FROM tandem_tombstones WHERE collection = ? AND \"key\" = ?",
                              {Param::of(t.schema.name), Param::bytes(std::move(id))}, "reading tombstones",
                              [](const Row&) { return Status::Ok(); }));
  return rows > 0;
}

Result<Lookup> MariaDbStore::get_in(Connection& conn, const Table& t, const Key& key) {
  Lookup out;
  if (options_.keep_tombstones) {
    // Row and tombstone from one snapshot: read apart, a write committing in
    // between (row in, tombstone out) would look absent, and a fallback read
    // would then return the other database's stale copy.
    TANDEM_ASSIGN_OR_RETURN(std::string id, t.id(key));
    std::vector<Param> params = {Param::of(t.schema.name), Param::bytes(std::move(id))};
    t.add_key(params, key);
    bool dead = false;
    const size_t tombstone_col = t.schema.key_columns.size() + t.schema.columns.size();
    TANDEM_RETURN_IF_ERROR(conn.run(t.get_with_tombstone_sql, params, t.what("reading", key, name_),
                                    [&](const Row& r) -> Status {
                                      dead = !r.is_null(tombstone_col) && r.integer(tombstone_col) == 1;
                                      if (r.is_null(0)) return Status::Ok();
                                      TANDEM_ASSIGN_OR_RETURN(out.record, t.read_row(r, name_));
                                      out.state = Lookup::State::kPresent;
                                      return Status::Ok();
                                    })
                               .status());
    if (out.present()) return out;
    return sql::missing(key, dead);
  }
  std::vector<Param> params;
  t.add_key(params, key);
  Status row_status;
  TANDEM_RETURN_IF_ERROR(conn.run(t.get_sql, params, t.what("reading", key, name_),
                                  [&](const Row& r) {
                                    auto rec = t.read_row(r, name_);
                                    if (!rec.ok()) return rec.status();
                                    out.record = std::move(*rec);
                                    out.state = Lookup::State::kPresent;
                                    return Status::Ok();
                                  })
                             .status());
  if (out.present()) return out;
  TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(conn, t, key));
  return sql::missing(key, dead);
}

Result<std::vector<Lookup>> MariaDbStore::read_lookups(const sql::SqlTable& base, std::span<const Key> keys,
                                                       bool one_snapshot) {
  const auto& t = static_cast<const Table&>(base);
  return sql::read_each(
      pool_, keys, one_snapshot,
      [](Connection& c) { return Transaction::begin(c, "WITH CONSISTENT SNAPSHOT, READ ONLY"); },
      [&](Connection& c, const Key& k) { return get_in(c, t, k); });
}

std::string MariaDbStore::range_sql(const Table& t, const KeyRange& range, std::string_view select,
                                    std::string_view suffix, std::vector<Param>& params) const {
  std::vector<std::string> conds;
  if (range.begin) conds.push_back(t.bound(*range.begin, true, range.begin_inclusive, params));
  if (range.end) conds.push_back(t.bound(*range.end, false, false, params));
  std::string sql = fmt::format("SELECT {} FROM {}", select, t.quoted);
  if (!conds.empty()) sql += fmt::format(" WHERE {}", fmt::join(conds, " AND "));
  sql += suffix;
  return sql;
}

Result<const MariaDbStore::Table*> MariaDbStore::table(std::string_view collection) const {
  TANDEM_ASSIGN_OR_RETURN(const sql::SqlTable* t, SqlStore::table(collection));
  return static_cast<const Table*>(t);
}

std::string MariaDbStore::limit_offset(size_t limit, size_t offset) const {
  if (limit == 0 && offset == 0) return "";
  // MariaDB has no OFFSET without a LIMIT.
  std::string out = fmt::format(" LIMIT {}", limit == 0 ? INT64_MAX : std::min<size_t>(limit, INT64_MAX));
  if (offset > 0) out += fmt::format(" OFFSET {}", offset);
  return out;
}

namespace {
// Visits rows as the skeleton's rows until visit stops (the rest are read and dropped).
std::function<Status(const Row&)> adapt(const MariaDbStore::Table* t, std::string_view store,
                                        const sql::RowVisitor& visit, bool& stopped) {
  return [t, store, &visit, &stopped](const Row& r) -> Status {
    if (stopped) return Status::Ok();
    TANDEM_ASSIGN_OR_RETURN(bool more, visit(MariaRow(t, r, store)));
    stopped = !more;
    return Status::Ok();
  };
}
}  // namespace

Status MariaDbStore::for_each_row(const sql::SqlTable& base, const KeyRange& range, std::string_view select,
                                  std::string_view suffix, const sql::RowVisitor& visit) {
  const auto& t = static_cast<const Table&>(base);
  for (const auto* k : {range.begin ? &*range.begin : nullptr, range.end ? &*range.end : nullptr}) {
    if (k != nullptr)
      TANDEM_RETURN_IF_ERROR(t.schema.check_fields(*k, {}, true).with_context("key range bound"));
  }
  std::vector<Param> params;
  std::string sql = range_sql(t, range, select, suffix, params);
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  bool stopped = false;
  return conn
      ->run(sql, params,
            fmt::format("scanning {} collection '{}' range {}", name_, t.schema.name, range.to_display()),
            adapt(&t, name_, visit, stopped))
      .status();
}

Status MariaDbStore::query(const std::string& sql, const std::vector<Value>& params, std::string_view what,
                           const sql::RowVisitor& visit) {
  std::vector<Param> bound;
  for (const Value& v : params) {
    bound.push_back(v.type() == Type::kBytes ? Param::bytes(v.as<Bytes>().data)
                                             : Param::of(v.as<std::string>()));
  }
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  bool stopped = false;
  return conn->run(sql, bound, what, adapt(nullptr, name_, visit, stopped)).status();
}

namespace {
// A named lock, held by its own pooled session until released.
class NamedLock : public RecordLock::Handle {
 public:
  NamedLock(Pool::Lease lease, std::string name) : lease_(std::move(lease)), name_(std::move(name)) {}
  ~NamedLock() override {
    // If the session broke, the server has released the lock already; if the
    // release fails, closing the session releases it.
    if (!lease_->broken() &&
        !lease_->run("DO RELEASE_LOCK(?)", {Param::of(name_)}, "unlocking a record").ok()) {
      lease_->discard();
    }
  }

 private:
  Pool::Lease lease_;
  std::string name_;
};
}  // namespace

Result<RecordLock> MariaDbStore::try_lock(std::string_view collection, const Key& key) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_ASSIGN_OR_RETURN(std::string id, t->id(key));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  std::string name = lock_name(lock_scope(database_, collection), id);
  bool held = false;
  TANDEM_RETURN_IF_ERROR(
      conn->run("SELECT GET_LOCK(?, 0)", {Param::of(name)},
                fmt::format("locking {} collection '{}', record {}", name_, collection, key.to_display()),
                [&](const Row& r) {
                  held = !r.is_null(0) && r.integer(0) == 1;
                  return Status::Ok();
                })
          .status());
  if (!held) return RecordLock();
  return RecordLock(std::make_unique<NamedLock>(std::move(conn), std::move(name)));
}

Result<std::optional<Digest>> MariaDbStore::portable_digest(std::string_view collection,
                                                            const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  // Per row: whether it decodes (rows that do not are left out, as digest()
  // leaves them out) and the MD5 of its canonical text (store.h).
  std::vector<std::string> terms, decodable;
  for (size_t i = 0; i < t->types.size(); ++i) {
    const Column& c = i < t->schema.key_columns.size() ? t->schema.key_columns[i]
                                                       : t->schema.columns[i - t->schema.key_columns.size()];
    std::string term = portable_term(c, t->types[i]);
    if (term.empty()) return std::optional<Digest>();  // a type the portable digest does not cover
    terms.push_back(std::move(term));
    decodable.push_back(decodable_condition(c, t->types[i], i < t->schema.key_columns.size()));
  }
  std::vector<Param> params;
  std::string rows = range_sql(*t, range,
                               fmt::format("{} AS tandem_ok, MD5(CONCAT_WS('|', {})) AS tandem_md5",
                                           fmt::join(decodable, " AND "), fmt::join(terms, ", ")),
                               "", params);
  // A row whose text exceeds max_allowed_packet has no MD5 (NULL, with a
  // warning): then this range is digested in tandem instead.
  std::string sql = fmt::format(
      "SELECT CAST(COUNT(*) AS CHAR), CAST(COALESCE(SUM(tandem_ok), 0) AS CHAR), "
      "CAST(COALESCE(SUM(IF(tandem_ok, CAST(CONV(SUBSTRING(tandem_md5, 1, 16), 16, 10) AS UNSIGNED), 0)), 0) "
      "AS CHAR), CAST(COALESCE(SUM(tandem_ok AND tandem_md5 IS NULL), 0) AS CHAR) FROM ({}) AS tandem_rows",
      rows);
  Digest d;
  bool overflow = false;
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_RETURN_IF_ERROR(conn->run(sql, params,
                                   fmt::format("digesting {} collection '{}' range {}", name_, t->schema.name,
                                               range.to_display()),
                                   [&](const Row& r) -> Status {
                                     uint64_t rows_total = std::stoull(std::string(r.text(0)));
                                     d.count = std::stoull(std::string(r.text(1)));
                                     d.undecodable = rows_total - d.count;
                                     TANDEM_ASSIGN_OR_RETURN(d.hash, sum_mod_2_64(r.text(2)));
                                     overflow = r.text(3) != "0";
                                     return Status::Ok();
                                   })
                             .status());
  if (overflow) return std::optional<Digest>();
  return std::optional<Digest>(d);
}

}  // namespace tandem::mariadb
