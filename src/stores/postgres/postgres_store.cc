#include "stores/postgres/postgres_store.h"

#include <fmt/format.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <iterator>
#include <mutex>
#include <numeric>
#include <set>

#include "core/encoding.h"
#include "core/lock_wait.h"
#include "core/sync_point.h"
#include "core/utf8.h"
#include "stores/postgres/postgres_checks.h"
#include "stores/sql_text.h"

namespace tandem::pg {

namespace {

std::string_view sql_type(Type type) {
  switch (type) {
    case Type::kBool:
      return "BOOLEAN";
    case Type::kInt:
      return "BIGINT";
    case Type::kDouble:
      return "DOUBLE PRECISION";
    case Type::kDecimal:
      return "NUMERIC";
    case Type::kText:
      return "TEXT";
    case Type::kBytes:
      return "BYTEA";
    case Type::kTimestamp:
      return "TIMESTAMPTZ";
    case Type::kJson:
      return "JSONB";
    case Type::kUuid:
      return "UUID";
    case Type::kNull:
      break;
  }
  return "TEXT";
}

// information_schema data types each tandem type reads from an existing table.
bool compatible(Type type, std::string_view data_type) {
  switch (type) {
    case Type::kBool:
      return data_type == "boolean";
    case Type::kInt:
      return data_type == "bigint" || data_type == "integer" || data_type == "smallint";
    case Type::kDouble:
      return data_type == "double precision" || data_type == "real";
    case Type::kDecimal:
      return data_type == "numeric";
    case Type::kText:
      return data_type == "text" || data_type == "character varying" || data_type == "character";
    case Type::kBytes:
      return data_type == "bytea";
    case Type::kTimestamp:
      return data_type == "timestamp with time zone" || data_type == "timestamp without time zone";
    case Type::kJson:
      return data_type == "jsonb" || data_type == "json";
    case Type::kUuid:
      return data_type == "uuid";
    case Type::kNull:
      break;
  }
  return false;
}

Param to_param(const Value& v) {
  Param p;
  switch (v.type()) {
    case Type::kNull:
      p.is_null = true;
      break;
    case Type::kBool:
      p.value = v.as<bool>() ? "true" : "false";
      break;
    case Type::kInt:
      p.value = std::to_string(v.as<int64_t>());
      break;
    case Type::kDouble: {
      double d = v.as<double>();
      if (std::isnan(d)) {
        p.value = "NaN";
      } else if (std::isinf(d)) {
        p.value = d > 0 ? "Infinity" : "-Infinity";
      } else {
        p.value = fmt::format("{}", d);
      }
      break;
    }
    case Type::kDecimal:
      p.value = v.as<Decimal>().text;
      break;
    case Type::kText:
      p.value = v.as<std::string>();
      break;
    case Type::kBytes:
      p.value = v.as<Bytes>().data;
      p.binary = true;
      break;
    case Type::kTimestamp:
      p.value = v.as<Timestamp>().to_string();
      break;
    case Type::kJson:
      p.value = v.as<Json>().text;
      break;
    case Type::kUuid:
      p.value = v.as<Uuid>().to_string();
      break;
  }
  return p;
}

// Appends bytea's hex input form with its backslash doubled ("\\\\x0aff"), as
// both an array literal's quoted element and COPY's text format need it.
void append_escaped_bytea(std::string_view bytes, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\\\x";
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

// Appends p as one element of an array literal: "...", with \ and " escaped;
// bytea as its hex input form.
void append_array_element(const Param& p, std::string& out) {
  out += '"';
  if (p.binary) {
    append_escaped_bytea(p.value, out);
  } else {
    for (char c : p.value) {
      if (c == '\\' || c == '"') out += '\\';
      out += c;
    }
  }
  out += '"';
}

// A one-dimensional array without nulls in PostgreSQL's binary format (what
// array_recv reads): the batch queries' key arrays, which the server reads
// several times faster than a text literal (no number or hex parsing).
class BinaryArray {
 public:
  static constexpr uint32_t kInt8 = 20;  // pg_type OIDs
  static constexpr uint32_t kBytea = 17;

  explicit BinaryArray(uint32_t element_type) {
    put32(1);  // dimensions
    put32(0);  // no nulls
    put32(element_type);
    put32(0);  // element count, set by param()
    put32(1);  // lower bound
  }
  void add_int8(int64_t v) {
    put32(8);
    put32(static_cast<uint32_t>(static_cast<uint64_t>(v) >> 32));
    put32(static_cast<uint32_t>(static_cast<uint64_t>(v)));
    ++count_;
  }
  void add_bytes(std::string_view b) {
    put32(static_cast<uint32_t>(b.size()));
    out_.append(b);
    ++count_;
  }
  size_t size() const { return count_; }
  Param param() && {
    if (count_ == 0) {
      out_.assign(12, '\0');  // zero dimensions, no nulls, element type 0
    } else {
      for (int i = 0; i < 4; ++i) out_[12 + i] = static_cast<char>((count_ >> (24 - 8 * i)) & 0xff);
    }
    Param p;
    p.value = std::move(out_);
    p.binary = true;
    return p;
  }

 private:
  void put32(uint32_t v) {
    for (int i = 3; i >= 0; --i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string out_;
  size_t count_ = 0;
};

Param bytes_param(std::string value) {
  Param p;
  p.value = std::move(value);
  p.binary = true;
  return p;
}

Param text_param(std::string value) {
  Param p;
  p.value = std::move(value);
  return p;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<Value> from_text(Type type, std::string_view s) {
  auto bad = [&](std::string_view what) {
    return Status::Corruption(fmt::format("'{}' is not {}", s.substr(0, 64), what));
  };
  switch (type) {
    case Type::kBool:
      if (s == "t") return Value(true);
      if (s == "f") return Value(false);
      return bad("a boolean");
    case Type::kInt: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || p != s.data() + s.size()) return bad("a 64-bit integer");
      return Value(v);
    }
    case Type::kDouble: {
      if (s == "NaN") return Value(std::nan(""));
      if (s == "Infinity") return Value(HUGE_VAL);
      if (s == "-Infinity") return Value(-HUGE_VAL);
      std::string copy(s);
      char* end = nullptr;
      double d = std::strtod(copy.c_str(), &end);
      if (end != copy.c_str() + copy.size()) return bad("a double");
      return Value(d);
    }
    case Type::kDecimal: {
      auto d = Decimal::parse(s);
      if (!d.ok()) return Status::Corruption(d.status().message());
      return Value(std::move(*d));
    }
    case Type::kText:
      // A database in SQL_ASCII hands over its bytes unconverted.
      if (!valid_utf8(s)) return Status::Corruption("text is not valid UTF-8");
      return Value(std::string(s));
    case Type::kBytes: {
      if (s.size() < 2 || s[0] != '\\' || s[1] != 'x' || s.size() % 2 != 0) return bad("hex bytea");
      std::string out;
      out.reserve((s.size() - 2) / 2);
      for (size_t i = 2; i < s.size(); i += 2) {
        int hi = hex_value(s[i]);
        int lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) return bad("hex bytea");
        out += static_cast<char>(hi * 16 + lo);
      }
      return Value(Bytes{std::move(out)});
    }
    case Type::kTimestamp: {
      auto t = Timestamp::parse(s);
      if (!t.ok()) return Status::Corruption(t.status().message());
      return Value(*t);
    }
    case Type::kJson: {
      auto j = Json::parse(s);
      if (!j.ok()) return Status::Corruption(j.status().message());
      return Value(std::move(*j));
    }
    case Type::kUuid: {
      auto u = Uuid::parse(s);
      if (!u.ok()) return Status::Corruption(u.status().message());
      return Value(*u);
    }
    case Type::kNull:
      break;
  }
  return Status::Internal("column without type");
}

// A REAL (float4) column's text, as the float it is, widened exactly.
Result<Value> float4_from_text(std::string_view s) {
  if (s == "NaN") return Value(std::nan(""));
  if (s == "Infinity") return Value(HUGE_VAL);
  if (s == "-Infinity") return Value(-HUGE_VAL);
  std::string copy(s);
  char* end = nullptr;
  float f = std::strtof(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size()) {
    return Status::Corruption(fmt::format("'{}' is not a real", s.substr(0, 64)));
  }
  return Value(static_cast<double>(f));
}

// The advisory-lock key of a record (the same hash as every store's record lock).
int64_t lock_key(std::string_view collection, std::string_view encoded_key) {
  return static_cast<int64_t>(record_lock_hash(collection, encoded_key));
}

}  // namespace

struct PostgresStore::Table : CollectionSql {
  CollectionSchema schema;
  std::unordered_map<std::string, NumericLimit> numeric;  // NUMERIC(p, s) columns
  std::set<std::string> float4;                           // REAL columns (read_float4_columns)
  // The record and whether it has a tombstone, in one statement (one snapshot).
  std::string get_with_tombstone_sql;
  std::string key_tuple;  // for ORDER BY and row comparisons, text keys in "C" collation

  Result<Record> read_row(const PgResult& r, int row, std::string_view store,
                          std::string* bad_field = nullptr, std::optional<Key>* key = nullptr) const {
    Record out;
    std::vector<Value> parts;
    int col = 0;
    for (const Column& c : schema.key_columns) {
      auto v = from_text(c.type, r.text(row, col));
      if (r.is_null(row, col) || !v.ok()) {
        if (bad_field != nullptr) *bad_field = c.name;
        return Status::Corruption(fmt::format("{} collection '{}', key column '{}': {}", store, schema.name,
                                              c.name, v.ok() ? "NULL" : v.status().message()));
      }
      ++col;
      parts.push_back(std::move(*v));
    }
    out.key = Key(std::move(parts));
    if (key != nullptr) *key = out.key;
    for (const Column& c : schema.columns) {
      int i = col++;
      if (r.is_null(row, i)) {
        if (!c.nullable) {
          if (bad_field != nullptr) *bad_field = c.name;
          return Status::Corruption(
              fmt::format("{} collection '{}', record {}, field '{}': NULL in a NOT NULL column", store,
                          schema.name, out.key.to_display(), c.name));
        }
        out.fields.emplace(c.name, Value());
        continue;
      }
      auto v = c.type == Type::kDouble && float4.contains(c.name) ? float4_from_text(r.text(row, i))
                                                                  : from_text(c.type, r.text(row, i));
      if (!v.ok()) {
        if (bad_field != nullptr) *bad_field = c.name;
        return Status::Corruption(fmt::format("{} collection '{}', record {}, field '{}': {}", store,
                                              schema.name, out.key.to_display(), c.name,
                                              v.status().message()));
      }
      out.fields.emplace(c.name, std::move(*v));
    }
    return out;
  }

  // The key columns' raw text, for a row whose key does not decode.
  std::string raw_key(const PgResult& r, int row) const {
    std::string out;
    for (int col = 0; col < static_cast<int>(schema.key_columns.size()); ++col) {
      if (col > 0) out += ", ";
      out += r.is_null(row, col) ? std::string("NULL") : Value(std::string(r.text(row, col))).to_display();
    }
    return schema.key_columns.size() == 1 ? out : "(" + out + ")";
  }

  std::string raw_row(const PgResult& r, int row) const {
    std::string out;
    int col = 0;
    auto add = [&](const Column& c) {
      if (!out.empty()) out += ", ";
      int i = col++;
      out += c.name + "=" +
             (r.is_null(row, i) ? std::string("NULL") : Value(std::string(r.text(row, i))).to_display());
    };
    for (const Column& c : schema.key_columns) add(c);
    for (const Column& c : schema.columns) add(c);
    return out;
  }

  void add_key(std::vector<Param>& params, const Key& key) const {
    for (const Value& v : key.parts()) params.push_back(to_param(v));
  }
  // The batch copy (insert_part): COPY of the absent records, after one
  // query for the present keys. Only for a one-column key of a type whose
  // array tandem can write (present_sql empty otherwise).
  std::string present_sql;  // SELECT t.key FROM unnest($1::type[]) AS u(k) JOIN t ON t.key = u.k
  std::string copy_sql;     // COPY t (key columns, then copy_order's columns) FROM STDIN
  // Indexes into schema.columns by name, the order of a record's fields: a
  // COPY row walks the columns and the fields together, without a lookup.
  std::vector<size_t> copy_order;
  // Batches in a row whose presence query found no key: from kBlindCopyAfter
  // on, batches COPY without the query first (see insert_part).
  mutable std::atomic<int> batches_without_present{kBlindCopyAfter};
  static constexpr int kBlindCopyAfter = 4;

  // Appends the record as one row of COPY's text format.
  void append_copy_row(const Record& r, std::string& out) const {
    auto field = [&](const Value* v) {
      if (v == nullptr || v->is_null()) {
        out += "\\N";
        return;
      }
      if (v->type() == Type::kBytes) {
        append_escaped_bytea(v->as<Bytes>().data, out);
        return;
      }
      // Text and JSON are escaped from the value itself: no copy per value.
      Param formatted;
      std::string_view text;
      if (v->type() == Type::kText) {
        text = v->as<std::string>();
      } else if (v->type() == Type::kJson) {
        text = v->as<Json>().text;
      } else {
        formatted = to_param(*v);
        text = formatted.value;
      }
      size_t plain = 0;  // start of the run of bytes copied as they are
      for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c != '\\' && c != '\n' && c != '\r' && c != '\t') continue;
        out.append(text, plain, i - plain);
        plain = i + 1;
        out += '\\';
        out += c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\';
      }
      out.append(text, plain);
    };
    bool first = true;
    for (const Value& v : r.key.parts()) {
      if (!first) out += '\t';
      first = false;
      field(&v);
    }
    auto it = r.fields.begin();
    for (size_t c : copy_order) {
      const std::string& name = schema.columns[c].name;
      while (it != r.fields.end() && it->first < name) ++it;
      out += '\t';
      field(it != r.fields.end() && it->first == name ? &it->second : nullptr);
    }
    out += '\n';
  }

  std::vector<Param> record_params(const Record& r) const {
    std::vector<Param> params;
    add_key(params, r.key);
    for (const Column& c : schema.columns) {
      auto it = r.fields.find(c.name);
      params.push_back(it == r.fields.end() ? Param{"", true, false} : to_param(it->second));
    }
    return params;
  }
  std::string what(std::string_view action, const Key& key, std::string_view store) const {
    return fmt::format("{} {} collection '{}', record {}", action, store, schema.name, key.to_display());
  }
  // "($3, $4)" for a key starting at parameter first.
  std::string key_placeholders(int first) const {
    std::vector<std::string> p;
    for (size_t i = 0; i < schema.key_columns.size(); ++i)
      p.push_back(fmt::format("${}", first + static_cast<int>(i)));
    return fmt::format("({})", fmt::join(p, ", "));
  }
};

PostgresStore::PostgresStore(std::string name, ConnectionSpec spec, StoreOptions options)
    : name_(std::move(name)), pool_(std::move(spec)), options_(options) {}

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
  }
  return store;
}

Result<std::string> PostgresStore::create_table_sql(const CollectionSchema& schema) const {
  TANDEM_RETURN_IF_ERROR(schema.validate());
  std::vector<std::string> defs, keys;
  for (const Column& c : schema.key_columns) {
    std::string collate = c.type == Type::kText ? " COLLATE \"C\"" : "";
    defs.push_back(fmt::format("{} {}{} NOT NULL", quote_identifier(c.name), sql_type(c.type), collate));
    keys.push_back(quote_identifier(c.name));
  }
  for (const Column& c : schema.columns) {
    defs.push_back(
        fmt::format("{} {}{}", quote_identifier(c.name), sql_type(c.type), c.nullable ? "" : " NOT NULL"));
  }
  return fmt::format("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))", quote_identifier(schema.name),
                     fmt::join(defs, ", "), fmt::join(keys, ", "));
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
                          conn->exec("SELECT column_name, data_type FROM information_schema.columns "
                                     "WHERE table_schema = current_schema() AND table_name = $1",
                                     {text_param(schema.name)}, "reading the table's columns"));
  std::unordered_map<std::string, std::string> existing;
  for (int i = 0; i < cols.rows(); ++i) existing.emplace(cols.text(i, 0), cols.text(i, 1));
  TANDEM_RETURN_IF_ERROR(check_existing_columns(name_, schema, existing, compatible));
  TANDEM_ASSIGN_OR_RETURN(std::vector<TableKey> keys, read_table_keys(*conn, schema.name));
  TANDEM_RETURN_IF_ERROR(check_configured_key(name_, schema, keys));
  TANDEM_ASSIGN_OR_RETURN(t->numeric, read_numeric_limits(*conn, schema.name));
  TANDEM_ASSIGN_OR_RETURN(t->float4, read_float4_columns(*conn, schema.name));
  std::unique_lock lock(tables_mutex_);
  tables_[schema.name] = std::move(t);
  return Status::Ok();
}

bool PostgresStore::holds_key(const Table& t, const Key& key) const {
  static const std::unordered_map<std::string, NumericLimit> kNone;
  static const std::set<std::string> kNoFloat4;
  return check_storable(name_, t.schema, kNone, kNoFloat4, key, {}).ok();
}

Result<const PostgresStore::Table*> PostgresStore::table(std::string_view collection) const {
  std::shared_lock lock(tables_mutex_);
  auto it = tables_.find(std::string(collection));
  if (it == tables_.end()) {
    return Status::InvalidArgument(fmt::format(
        "{} database: collection '{}' is not registered (call ensure_collection first)", name_, collection));
  }
  return it->second.get();
}

Result<bool> PostgresStore::tombstoned(Connection& conn, const Table& t, const Key& key) {
  if (!options_.keep_tombstones) return false;
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r, conn.exec("SELECT 1 FROM tandem_tombstones WHERE collection = $1 AND key = $2",
                            {text_param(t.schema.name), bytes_param(key.encode())}, "reading tombstones"));
  return r.rows() > 0;
}

Result<Lookup> PostgresStore::get_in(Connection& conn, const Table& t, const Key& key) {
  if (!holds_key(t, key)) {
    // No row has a key PostgreSQL cannot hold; asked for it, libpq would
    // cut it at its NUL and find another record.
    Lookup out;
    out.record.key = key;
    TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(conn, t, key));
    out.state = dead ? Lookup::State::kTombstoned : Lookup::State::kAbsent;
    return out;
  }
  std::vector<Param> params;
  t.add_key(params, key);
  Lookup out;
  if (options_.keep_tombstones) {
    // Row and tombstone from one snapshot: read apart, a write committing in
    // between (row in, tombstone out) would look absent, and a fallback read
    // would then return the other database's stale copy.
    params.push_back(text_param(t.schema.name));
    params.push_back(bytes_param(key.encode()));
    TANDEM_ASSIGN_OR_RETURN(PgResult r,
                            conn.exec(t.get_with_tombstone_sql, params, t.what("reading", key, name_)));
    const int tombstone_col = static_cast<int>(t.schema.key_columns.size() + t.schema.columns.size());
    if (r.rows() > 0 && !r.is_null(0, 0)) {
      TANDEM_ASSIGN_OR_RETURN(out.record, t.read_row(r, 0, name_));
      out.state = Lookup::State::kPresent;
      return out;
    }
    out.record.key = key;
    bool dead = r.rows() > 0 && r.text(0, tombstone_col) == "t";
    out.state = dead ? Lookup::State::kTombstoned : Lookup::State::kAbsent;
    return out;
  }
  TANDEM_ASSIGN_OR_RETURN(PgResult r, conn.exec(t.get_sql, params, t.what("reading", key, name_)));
  if (r.rows() > 0) {
    TANDEM_ASSIGN_OR_RETURN(out.record, t.read_row(r, 0, name_));
    out.state = Lookup::State::kPresent;
    return out;
  }
  out.record.key = key;
  TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(conn, t, key));
  out.state = dead ? Lookup::State::kTombstoned : Lookup::State::kAbsent;
  return out;
}

Result<Lookup> PostgresStore::get(std::string_view collection, const Key& key) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, {}, true));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return get_in(*conn, *t, key);
}

Result<std::vector<Lookup>> PostgresStore::get_many(std::string_view collection, std::span<const Key> keys) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  for (const Key& k : keys) TANDEM_RETURN_IF_ERROR(t->schema.check_fields(k, {}, true));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, "ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  std::vector<Lookup> out;
  out.reserve(keys.size());
  for (const Key& k : keys) {
    TANDEM_ASSIGN_OR_RETURN(Lookup l, get_in(*conn, *t, k));
    out.push_back(std::move(l));
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return out;
}

namespace {

// A COPY's status; a row the server refused (bad data, a constraint) also
// sets *copy_refused: nothing of the COPY was written.
Status note_refused(Status copied, bool* copy_refused) {
  if (copied.code() == Code::kInvalidArgument) *copy_refused = true;
  return copied;
}

// The encoded keys among records[todo] that new already has.
Result<std::set<std::string>> present_keys(Connection& conn, const PostgresStore::Table& t,
                                           std::span<const Record> records, const std::vector<size_t>& todo,
                                           std::string_view what) {
  Param keys;
  if (t.schema.key_columns[0].type == Type::kInt) {
    BinaryArray ints(BinaryArray::kInt8);
    for (size_t i : todo) ints.add_int8(records[i].key.parts()[0].as<int64_t>());
    keys = std::move(ints).param();
  } else {
    keys.value = "{";
    for (size_t j = 0; j < todo.size(); ++j) {
      if (j > 0) keys.value += ',';
      append_array_element(to_param(records[todo[j]].key.parts()[0]), keys.value);
    }
    keys.value += '}';
  }
  TANDEM_ASSIGN_OR_RETURN(PgResult present, conn.exec(t.present_sql, {std::move(keys)}, what));
  std::set<std::string> found;
  for (int row = 0; row < present.rows(); ++row) {
    TANDEM_ASSIGN_OR_RETURN(Value v, from_text(t.schema.key_columns[0].type, present.text(row, 0)));
    found.insert(Key{std::move(v)}.encode());
  }
  return found;
}

// insert_part's COPY of records[todo] (locked, not tombstoned), inside the
// part's transaction. Nothing else inserts these keys meanwhile: their
// record locks are held here or by the caller. If something does, the COPY
// fails on the key and insert_if_absent runs the part again through the
// statements.
Status copy_absent(Connection& conn, const PostgresStore::Table& t, std::span<const Record> records,
                   const std::vector<std::string>& encoded, const std::vector<size_t>& todo,
                   std::vector<InsertOutcome>& outcomes, bool* copy_refused, std::string_view what) {
  // While recent batches found none of their keys present (a copy into an
  // empty table or range: the usual case), COPY without asking first: the
  // query costs the server about as much as a fifth of the COPY. A key that
  // is there fails the COPY with a unique violation; it is undone to the
  // savepoint (the record locks stay), and the batch asks as below.
  if (t.batches_without_present.load(std::memory_order_relaxed) >= PostgresStore::Table::kBlindCopyAfter) {
    std::string data;
    for (size_t i : todo) t.append_copy_row(records[i], data);
    TANDEM_RETURN_IF_ERROR(conn.exec_simple("SAVEPOINT tandem_copy", what));
    TANDEM_SYNC_POINT("postgres.before_blind_copy");
    Status copied = conn.copy_in(t.copy_sql, data, what);
    if (copied.ok() || conn.last_sqlstate() != "23505") return note_refused(copied, copy_refused);
    t.batches_without_present.store(0, std::memory_order_relaxed);
    TANDEM_RETURN_IF_ERROR(conn.exec_simple("ROLLBACK TO SAVEPOINT tandem_copy", what));
  }
  // One query for the keys already present, then one COPY of the others.
  TANDEM_ASSIGN_OR_RETURN(std::set<std::string> found, present_keys(conn, t, records, todo, what));
  if (!found.empty()) {
    t.batches_without_present.store(0, std::memory_order_relaxed);
  } else if (t.batches_without_present.load(std::memory_order_relaxed) <
             PostgresStore::Table::kBlindCopyAfter) {
    t.batches_without_present.fetch_add(1, std::memory_order_relaxed);
  }
  std::string data;
  for (size_t i : todo) {
    if (found.contains(encoded[i])) {
      outcomes[i] = InsertOutcome::kAlreadyPresent;
    } else {
      t.append_copy_row(records[i], data);
    }
  }
  TANDEM_SYNC_POINT("postgres.before_copy");
  if (data.empty()) return Status::Ok();
  return note_refused(conn.copy_in(t.copy_sql, data, what), copy_refused);
}

}  // namespace

Result<std::vector<InsertOutcome>> PostgresStore::insert_if_absent(std::string_view collection,
                                                                   std::span<const Record> records,
                                                                   LockPolicy policy) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  for (const Record& r : records) {
    TANDEM_RETURN_IF_ERROR(t->schema.check_record(r));
    TANDEM_RETURN_IF_ERROR(check_storable(name_, t->schema, t->numeric, t->float4, r.key, r.fields));
  }
  // A transaction holds one advisory lock per record until it commits, and
  // the server's lock table is small (max_locks_per_transaction x
  // max_connections: 6,400 by default): a batch of 10,000 failed with "out of
  // shared memory". Large batches go in transactions of kLocksPerTransaction
  // records; see the contract in store.h. Found by a 1M-row copy.
  std::vector<InsertOutcome> outcomes;
  outcomes.reserve(records.size());
  for (size_t begin = 0; begin < records.size(); begin += kLocksPerTransaction) {
    auto part = records.subspan(begin, std::min(kLocksPerTransaction, records.size() - begin));
    bool copy_refused = false;
    auto done = insert_part(t, collection, part, policy, &copy_refused);
    if (copy_refused) {
      // The copy refused a row (bad data, or a key that arrived since the
      // presence check, unlocked): nothing of the part was written. The
      // statement path finds which records, with the server's own error.
      done = insert_part(t, collection, part, policy, /*copy_refused=*/nullptr);
    }
    if (!done.ok() && part.size() == 1 && done.status().code() == Code::kInvalidArgument &&
        done.status().message().find("index row size") != std::string::npos) {
      // The key is too large for its index: say so, naming the key.
      return Status::InvalidArgument(fmt::format(
          "{} collection '{}', record {}, key column '{}': too large for PostgreSQL's index on the key: {}",
          name_, t->schema.name, part[0].key.to_display(), t->schema.key_columns[0].name,
          done.status().message()));
    }
    if (!done.ok()) return done.status();
    outcomes.insert(outcomes.end(), done->begin(), done->end());
  }
  return outcomes;
}

Result<std::vector<InsertOutcome>> PostgresStore::insert_part(const Table* t, std::string_view collection,
                                                              std::span<const Record> records,
                                                              LockPolicy policy, bool* copy_refused) {
  std::vector<InsertOutcome> outcomes(records.size(), InsertOutcome::kInserted);
  if (records.empty()) return outcomes;
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn));
  std::vector<std::string> encoded;
  encoded.reserve(records.size());
  for (const Record& r : records) encoded.push_back(r.key.encode());
  const std::string what =
      fmt::format("inserting a batch of {} records into {} collection '{}' (first {})", records.size(), name_,
                  t->schema.name, records.front().key.to_display());

  // One round trip for the whole batch's locks: transaction-level advisory
  // locks, held until commit, that conflict with the session-level locks of
  // transfers and copies.
  if (policy == LockPolicy::kTryLockEach) {
    BinaryArray keys(BinaryArray::kInt8);
    for (size_t i = 0; i < records.size(); ++i) keys.add_int8(lock_key(collection, encoded[i]));
    // Only the positions (1-based) of the records whose lock is held elsewhere come back.
    TANDEM_ASSIGN_OR_RETURN(PgResult l,
                            conn->exec("SELECT i FROM unnest($1::bigint[]) WITH ORDINALITY AS u(k, i) "
                                       "WHERE NOT pg_try_advisory_xact_lock(k)",
                                       {std::move(keys).param()}, what));
    for (int row = 0; row < l.rows(); ++row) {
      int64_t i = 0;
      std::string_view v = l.text(row, 0);
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
      if (ec != std::errc() || i < 1 || static_cast<size_t>(i) > records.size()) {
        return Status::Internal(fmt::format("{}: the lock query returned position '{}'", what, v));
      }
      outcomes[static_cast<size_t>(i - 1)] = InsertOutcome::kLocked;
    }
  }
  // One round trip for the tombstones of the batch. A join, not "key =
  // ANY($2)": statements are prepared, and PostgreSQL's generic plan for
  // ANY over a parameter compares every row of a sequential scan with every
  // element of the array (it hashes only constant arrays): 3 ms a batch with
  // 574 tombstones, growing with each delete. The join hashes or probes the
  // index, whatever the table's size. Found by the live-load benchmark.
  if (options_.keep_tombstones) {
    BinaryArray keys(BinaryArray::kBytea);
    for (size_t i = 0; i < records.size(); ++i) {
      if (outcomes[i] != InsertOutcome::kLocked) keys.add_bytes(encoded[i]);
    }
    if (keys.size() > 0) {
      TANDEM_ASSIGN_OR_RETURN(
          PgResult d, conn->exec("SELECT t.key FROM unnest($2::bytea[]) AS u(k) JOIN tandem_tombstones "
                                 "AS t ON t.collection = $1 AND t.key = u.k",
                                 {text_param(t->schema.name), std::move(keys).param()}, what));
      std::set<std::string> dead;
      for (int i = 0; i < d.rows(); ++i) {
        TANDEM_ASSIGN_OR_RETURN(Value v, from_text(Type::kBytes, d.text(i, 0)));
        dead.insert(v.as<Bytes>().data);
      }
      for (size_t i = 0; i < records.size(); ++i) {
        if (outcomes[i] != InsertOutcome::kLocked && dead.contains(encoded[i])) {
          outcomes[i] = InsertOutcome::kTombstoned;
        }
      }
    }
  }
  std::vector<size_t> todo;
  for (size_t i = 0; i < records.size(); ++i) {
    if (outcomes[i] == InsertOutcome::kInserted) todo.push_back(i);
  }
  // Larger batches by COPY (copy_absent), several times cheaper for the
  // server than INSERT statements.
  if (copy_refused != nullptr && !t->present_sql.empty() && todo.size() >= kCopyMinRecords) {
    TANDEM_RETURN_IF_ERROR(copy_absent(*conn, *t, records, encoded, todo, outcomes, copy_refused, what));
    TANDEM_RETURN_IF_ERROR(tx->commit());
    return outcomes;
  }
  // Multi-row inserts of what is left, 64 rows a statement; the returned keys
  // are the rows inserted, the others were already present.
  const size_t width = t->schema.key_columns.size() + t->schema.columns.size();
  for (size_t begin = 0; begin < todo.size(); begin += 64) {
    size_t n = std::min<size_t>(64, todo.size() - begin);
    std::string sql = fmt::format("INSERT INTO {} ({}) VALUES ", t->quoted, t->select_list);
    std::vector<Param> params;
    params.reserve(n * width);
    for (size_t j = 0; j < n; ++j) {
      sql += j == 0 ? "(" : ", (";
      for (size_t c = 0; c < width; ++c) sql += fmt::format("{}${}", c == 0 ? "" : ", ", j * width + c + 1);
      sql += ')';
      std::vector<Param> row = t->record_params(records[todo[begin + j]]);
      std::move(row.begin(), row.end(), std::back_inserter(params));
    }
    sql += fmt::format(" ON CONFLICT ({0}) DO NOTHING RETURNING {0}", t->key_columns);
    TANDEM_ASSIGN_OR_RETURN(PgResult ins, conn->exec(sql, params, what));
    std::set<std::string> inserted;
    for (int row = 0; row < ins.rows(); ++row) {
      std::vector<Value> parts;
      int col = 0;
      for (const Column& c : t->schema.key_columns) {
        TANDEM_ASSIGN_OR_RETURN(Value v, from_text(c.type, ins.text(row, col++)));
        parts.push_back(std::move(v));
      }
      inserted.insert(Key(std::move(parts)).encode());
    }
    for (size_t j = 0; j < n; ++j) {
      size_t i = todo[begin + j];
      outcomes[i] = inserted.contains(encoded[i]) ? InsertOutcome::kInserted : InsertOutcome::kAlreadyPresent;
    }
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return outcomes;
}

Status PostgresStore::upsert(std::string_view collection, const Record& record) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_record(record));
  TANDEM_RETURN_IF_ERROR(check_storable(name_, t->schema, t->numeric, t->float4, record.key, record.fields));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  // One statement, one round trip (a write's latency is mostly round trips):
  // the tombstone is cleared by a data-modifying WITH of the same statement.
  std::vector<Param> params = t->record_params(record);
  std::string sql = t->upsert_sql;
  if (options_.keep_tombstones) {
    sql =
        fmt::format("WITH cleared AS (DELETE FROM tandem_tombstones WHERE collection = ${} AND key = ${}) {}",
                    params.size() + 1, params.size() + 2, t->upsert_sql);
    params.push_back(text_param(t->schema.name));
    params.push_back(bytes_param(record.key.encode()));
  }
  return single_statement_outcome(conn->exec(sql, params, t->what("writing", record.key, name_)).status());
}

Result<PatchOutcome> PostgresStore::patch(std::string_view collection, const Key& key,
                                          const FieldMap& fields) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, fields, /*partial=*/true));
  TANDEM_RETURN_IF_ERROR(check_storable(name_, t->schema, t->numeric, t->float4, key, fields));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  if (fields.empty()) {
    TANDEM_ASSIGN_OR_RETURN(Lookup l, get_in(*conn, *t, key));
    return l.present()      ? PatchOutcome::kPatched
           : l.tombstoned() ? PatchOutcome::kTombstoned
                            : PatchOutcome::kNotFound;
  }
  std::vector<std::string> sets;
  std::vector<Param> params;
  t->add_key(params, key);
  int index = static_cast<int>(key.size()) + 1;
  for (const auto& [name, value] : fields) {
    sets.push_back(fmt::format("{} = ${}", quote_identifier(name), index++));
    params.push_back(to_param(value));
  }
  std::string sql = fmt::format("UPDATE {} SET {} WHERE {}", t->quoted, fmt::join(sets, ", "), t->key_match);
  Result<PgResult> r = conn->exec(sql, params, t->what("patching", key, name_));
  if (!r.ok()) return single_statement_outcome(r.status());
  if (r->affected() > 0) return PatchOutcome::kPatched;
  TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(*conn, *t, key));
  return dead ? PatchOutcome::kTombstoned : PatchOutcome::kNotFound;
}

Status PostgresStore::remove(std::string_view collection, const Key& key) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, {}, true));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  // One statement, as upsert: the row is deleted by a data-modifying WITH
  // of the statement that writes the tombstone.
  std::vector<Param> params;
  std::string sql = t->delete_sql;
  if (!holds_key(*t, key)) {
    // No row to delete (a key PostgreSQL cannot hold), only the tombstone.
    if (!options_.keep_tombstones) return Status::Ok();
    return single_statement_outcome(
        conn->exec("INSERT INTO tandem_tombstones (collection, key) VALUES ($1, $2) ON CONFLICT (collection, "
                   "key) DO UPDATE SET deleted_at = now()",
                   {text_param(t->schema.name), bytes_param(key.encode())}, t->what("deleting", key, name_))
            .status());
  }
  t->add_key(params, key);
  if (options_.keep_tombstones) {
    sql = fmt::format(
        "WITH gone AS ({}) INSERT INTO tandem_tombstones (collection, key) VALUES (${}, ${}) "
        "ON CONFLICT (collection, key) DO UPDATE SET deleted_at = now()",
        t->delete_sql, params.size() + 1, params.size() + 2);
    params.push_back(text_param(t->schema.name));
    params.push_back(bytes_param(key.encode()));
  }
  return single_statement_outcome(conn->exec(sql, params, t->what("deleting", key, name_)).status());
}

Status PostgresStore::for_each_row(const Table& t, const KeyRange& range, std::string_view select,
                                   std::string_view suffix,
                                   const std::function<Status(const PgResult&)>& visit) {
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
  return conn->stream(
      sql, params,
      fmt::format("scanning {} collection '{}' range {}", name_, t.schema.name, range.to_display()), visit);
}

namespace {
std::string order_limit(const PostgresStore::Table& t, size_t limit, size_t offset = 0) {
  std::string out = fmt::format(" ORDER BY {}", t.key_tuple.substr(1, t.key_tuple.size() - 2));
  if (limit > 0) out += fmt::format(" LIMIT {}", std::min<size_t>(limit, INT64_MAX));
  if (offset > 0) out += fmt::format(" OFFSET {}", offset);
  return out;
}
}  // namespace

Result<std::vector<Record>> PostgresStore::scan(std::string_view collection, const KeyRange& range,
                                                size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  std::vector<Record> out;
  if (limit == 0) return out;
  TANDEM_RETURN_IF_ERROR(
      for_each_row(*t, range, t->select_list, order_limit(*t, limit), [&](const PgResult& r) -> Status {
        TANDEM_ASSIGN_OR_RETURN(Record rec, t->read_row(r, 0, name_));
        out.push_back(std::move(rec));
        return Status::Ok();
      }));
  return out;
}

Result<ScanBatch> PostgresStore::scan_batch(std::string_view collection, const KeyRange& range,
                                            size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  ScanBatch out;
  if (limit == 0) return out;
  KeyRange from = range;
  size_t since_last_key = 0;  // rows read after last_key, whose keys do not decode
  for (;;) {
    size_t got = 0;
    TANDEM_RETURN_IF_ERROR(for_each_row(
        *t, from, t->select_list, order_limit(*t, limit, since_last_key), [&](const PgResult& r) -> Status {
          ++got;
          std::string field;
          std::optional<Key> key;
          auto rec = t->read_row(r, 0, name_, &field, &key);
          if (!key) {
            out.bad.push_back(
                BadRecord{std::nullopt, t->raw_key(r, 0), field, t->raw_row(r, 0), rec.status().message()});
            ++since_last_key;
            return Status::Ok();
          }
          if (out.last_key && *out.last_key == *key) return duplicate_key_error(name_, t->schema, *key);
          out.last_key = key;
          since_last_key = 0;
          if (rec.ok()) {
            out.records.push_back(std::move(*rec));
          } else {
            out.bad.push_back(
                BadRecord{key, key->to_display(), field, t->raw_row(r, 0), rec.status().message()});
          }
          return Status::Ok();
        }));
    if (got < limit) {
      out.end_of_range = true;
      return out;
    }
    if (since_last_key == 0) return out;
    // The batch ended on rows whose keys do not decode: read on past them
    // (they are the first since_last_key rows after last_key).
    from = out.last_key ? KeyRange::after(*out.last_key, range.end) : range;
  }
}

Result<std::vector<Key>> PostgresStore::tombstones(std::string_view collection, const KeyRange& range,
                                                   size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  std::vector<Key> out;
  if (!options_.keep_tombstones || limit == 0) return out;
  std::vector<Param> params = {text_param(t->schema.name)};
  std::string sql = "SELECT key FROM tandem_tombstones WHERE collection = $1";
  if (range.begin) {
    params.push_back(bytes_param(range.begin->encode()));
    sql += fmt::format(" AND key {} ${}", range.begin_inclusive ? ">=" : ">", params.size());
  }
  if (range.end) {
    params.push_back(bytes_param(range.end->encode()));
    sql += fmt::format(" AND key < ${}", params.size());
  }
  sql += fmt::format(" ORDER BY key LIMIT {}", std::min<size_t>(limit, INT64_MAX));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(PgResult r, conn->exec(sql, params, "reading tombstones"));
  for (int i = 0; i < r.rows(); ++i) {
    auto bytes = from_text(Type::kBytes, r.text(i, 0));
    if (!bytes.ok()) return bytes.status();
    TANDEM_ASSIGN_OR_RETURN(Key k, Key::decode(bytes->as<Bytes>().data));
    out.push_back(std::move(k));
  }
  return out;
}

Result<uint64_t> PostgresStore::count(std::string_view collection, const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  uint64_t n = 0;
  TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, "COUNT(*)", "", [&](const PgResult& r) {
    n = std::stoull(std::string(r.text(0, 0)));
    return Status::Ok();
  }));
  return n;
}

Result<std::vector<Key>> PostgresStore::split_points(std::string_view collection, const KeyRange& range,
                                                     size_t parts) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  std::vector<Key> out;
  if (parts < 2) return out;
  TANDEM_ASSIGN_OR_RETURN(uint64_t n, count(collection, range));
  std::string keys = t->key_tuple.substr(1, t->key_tuple.size() - 2);
  std::string plain_keys = t->key_columns;
  for (size_t i = 1; i < parts; ++i) {
    uint64_t offset = n * i / parts;
    if (offset == 0) continue;
    std::string suffix = fmt::format(" ORDER BY {} LIMIT 1 OFFSET {}", keys, offset);
    TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, plain_keys, suffix, [&](const PgResult& r) -> Status {
      std::vector<Value> key_parts;
      int col = 0;
      for (const Column& c : t->schema.key_columns) {
        Result<Value> v = from_text(c.type, r.text(0, col++));
        // A key that does not decode (its row is quarantined) is no split
        // point: the part goes on to the next one.
        if (!v.ok() || r.is_null(0, col - 1)) return Status::Ok();
        key_parts.push_back(std::move(*v));
      }
      Key k(std::move(key_parts));
      if (out.empty() || out.back() < k) out.push_back(std::move(k));
      return Status::Ok();
    }));
  }
  return out;
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
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  int64_t k = lock_key(collection, key.encode());
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r,
      conn->exec("SELECT pg_try_advisory_lock($1)", {text_param(std::to_string(k))},
                 fmt::format("locking {} collection '{}', record {}", name_, collection, key.to_display())));
  if (r.text(0, 0) != "t") return RecordLock();
  return RecordLock(std::make_unique<AdvisoryLock>(std::move(conn), k));
}

Result<RecordLock> PostgresStore::lock(std::string_view collection, const Key& key,
                                       std::chrono::milliseconds timeout) {
  return wait_for_lock([&] { return try_lock(collection, key); }, timeout,
                       fmt::format("{} collection '{}', record {}", name_, collection, key.to_display()));
}

namespace {
// The canonical text of one column for the portable digest (see store.h).
std::string portable_pg(const Column& c) {
  std::string q = quote_identifier(c.name);
  std::string v;
  switch (c.type) {
    case Type::kInt:
      v = fmt::format("{}::text", q);
      break;
    case Type::kBool:
      v = fmt::format("CASE WHEN {} THEN '1' ELSE '0' END", q);
      break;
    case Type::kText:
      v = fmt::format("octet_length({0})::text || ':' || {0}", q);
      break;
    case Type::kBytes:
      v = fmt::format("encode({}, 'hex')", q);
      break;
    case Type::kTimestamp:
      // 'infinity' has no epoch: such a row is quarantined, and its term
      // only has to not fail the whole range's digest.
      v = fmt::format(
          "CASE WHEN isfinite({0}) THEN (EXTRACT(EPOCH FROM {0}) * 1000000)::numeric(30,0)::text "
          "ELSE {0}::text END",
          q);
      break;
    case Type::kDecimal:
      v = fmt::format("trim_scale({})::text", q);
      break;
    default:  // uuid
      v = fmt::format("lower({}::text)", q);
      break;
  }
  return fmt::format("CASE WHEN {} IS NULL THEN 'N' ELSE 'V' || {} END", q, v);
}
}  // namespace

Result<std::optional<Digest>> PostgresStore::portable_digest(std::string_view collection,
                                                             const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  std::optional<std::vector<std::string>> parts = portable_digest_terms(t->schema, portable_pg);
  if (!parts) return std::optional<Digest>();
  std::string select = fmt::format(
      "COUNT(*)::text, COALESCE(SUM(('x' || substr(md5({}), 1, 16))::bit(64)::bigint::numeric), 0)::text",
      fmt::join(*parts, " || '|' || "));
  Digest d;
  TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, select, "", [&](const PgResult& r) -> Status {
    d.count = std::stoull(std::string(r.text(0, 0)));
    TANDEM_ASSIGN_OR_RETURN(d.hash, sum_mod_2_64(r.text(0, 1)));
    return Status::Ok();
  }));
  return std::optional<Digest>(d);
}

Result<Digest> PostgresStore::digest(std::string_view collection, const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  Digest d;
  TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, t->select_list, "", [&](const PgResult& r) -> Status {
    auto rec = t->read_row(r, 0, name_);
    if (!rec.ok()) {
      d.undecodable += 1;
      return Status::Ok();
    }
    d.count += 1;
    d.hash += record_hash(t->schema, *rec);
    return Status::Ok();
  }));
  return d;
}

}  // namespace tandem::pg
