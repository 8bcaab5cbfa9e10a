// The SQL and the row codec of one collection in the MariaDB store, built
// once by ensure_collection from the schema and the table's column types;
// the statement-size and named-lock helpers its reads and writes share.
// Included by the MariaDB store's sources only.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <charconv>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/encoding.h"
#include "core/utf8.h"
#include "stores/mariadb/mariadb_codec.h"
#include "stores/mariadb/mariadb_store.h"

namespace tandem::mariadb {

// Statement sizes (max a power of two): full chunks of max, then powers of two, so that batches of
// any size use a handful of statement shapes, each prepared once a session.
inline std::vector<size_t> chunk_sizes(size_t n, size_t max) {
  std::vector<size_t> out(n / max, max);
  for (size_t rest = n % max, bit = max; rest > 0; bit /= 2) {
    if (rest >= bit) {
      out.push_back(bit);
      rest -= bit;
    }
  }
  return out;
}

inline std::string placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

// Named locks are server-wide: their names hash the database with the
// collection (the scope, built once per call) and the key.
inline std::string lock_scope(std::string_view database, std::string_view collection) {
  return fmt::format("{}/{}", database, collection);
}
inline std::string lock_name(std::string_view scope, std::string_view encoded_key) {
  return fmt::format("tandem{:016x}", record_lock_hash(scope, encoded_key));
}

// A write's bytes in its statement: its key and fields.
inline size_t write_bytes(const Key& key, const FieldMap& fields) {
  size_t n = 0;
  for (const Value& v : key.parts()) n += param_bytes(v);
  for (const auto& [name, v] : fields) n += param_bytes(v);
  return n;
}

// A raw value for messages: the text, or x'..' if it is not UTF-8.
inline std::string raw_display(const Row& r, size_t col) {
  std::string text = r.as_text(col);
  if (r.is_null(col)) return text;
  return valid_utf8(text) ? Value(text).to_display() : Value(Bytes{text}).to_display();
}

struct MariaDbStore::Table : sql::SqlTable {
  // The record and whether it has a tombstone, in one statement (one snapshot).
  std::string get_with_tombstone_sql;
  std::vector<std::string> quoted_keys;
  // The engine's type of each column: key columns, then value columns.
  std::vector<ColumnType> types;
  std::unordered_map<std::string, size_t> value_index;  // value column name -> index in types
  // The table's unique indexes within the configured key: a duplicate entry
  // on one of them is a record of the same key.
  std::set<std::string> key_indexes;
  // Parts of insert_if_absent in a row whose presence query found no key:
  // from kBlindInsertAfter on, the parts insert without asking first (a copy
  // into an empty table or range, the usual case); a key that is there fails
  // the insert, which is then undone and done again asking first.
  mutable std::atomic<int> parts_without_present{kBlindInsertAfter};
  static constexpr int kBlindInsertAfter = 4;

  const ColumnType& key_type(size_t i) const { return types[i]; }
  const ColumnType& value_type(size_t i) const { return types[schema.key_columns.size() + i]; }

  // The raw key for messages: "x" or "(x, y)".
  std::string raw_key(const Row& r) const {
    std::vector<std::string> parts;
    for (size_t i = 0; i < schema.key_columns.size(); ++i) parts.push_back(raw_display(r, i));
    return parts.size() == 1 ? parts[0] : fmt::format("({})", fmt::join(parts, ", "));
  }

  Result<Key> read_key(const Row& r, std::string_view store, std::string* bad_field = nullptr) const {
    std::vector<Value> parts;
    for (size_t col = 0; col < schema.key_columns.size(); ++col) {
      const Column& c = schema.key_columns[col];
      auto v = r.is_null(col) ? Result<Value>(Status::Corruption("NULL in a key column"))
                              : from_row(c.type, key_type(col), r, col, /*key=*/true);
      if (!v.ok()) {
        if (bad_field != nullptr) *bad_field = c.name;
        return Status::Corruption(
            fmt::format("{} collection '{}', key {}, field '{}': the key does not decode: {}", store,
                        schema.name, raw_key(r), c.name, v.status().message()));
      }
      parts.push_back(std::move(*v));
    }
    return Key(std::move(parts));
  }

  Result<Record> read_fields(const Row& r, Key key, std::string_view store,
                             std::string* bad_field = nullptr) const {
    Record out;
    out.key = std::move(key);
    const size_t k = schema.key_columns.size();
    TANDEM_RETURN_IF_ERROR(read_values(
        out, static_cast<int>(k), [&](int col) { return r.is_null(static_cast<size_t>(col)); },
        [&](const Column& c, int col) {
          auto at = static_cast<size_t>(col);
          return from_row(c.type, value_type(at - k), r, at);
        },
        store, bad_field));
    return out;
  }

  Result<Record> read_row(const Row& r, std::string_view store) const {
    TANDEM_ASSIGN_OR_RETURN(Key key, read_key(r, store));
    return read_fields(r, std::move(key), store);
  }

  std::string raw_row(const Row& r) const {
    return raw_columns([&](int col) { return raw_display(r, static_cast<size_t>(col)); });
  }

  // Refuses, naming the record and the field, a value the column would not
  // read back equal (mariadb_codec.h), and a text key ending in a space under
  // a PAD SPACE collation (it would equal the key without the space).
  Status check_exact_values(std::string_view store, const Key& key, const FieldMap& fields) const {
    auto refuse = [&](std::string_view field, const std::string& why) {
      return Status::InvalidArgument(
          fmt::format("{} collection '{}', record {}, field '{}': {}; refused rather than stored altered",
                      store, schema.name, key.to_display(), field, why));
    };
    for (size_t i = 0; i < key.size() && i < schema.key_columns.size(); ++i) {
      std::string why = check_exact(key_type(i), key[i]);
      const ColumnType& ct = key_type(i);
      // (Under a collation tandem identifies keys, so 'a ' is 'a' by design.)
      if (why.empty() && !collated() && key[i].type() == Type::kText && !ct.is_binary_string() &&
          ct.collation.find("nopad") == std::string::npos && key[i].as<std::string>().ends_with(' ')) {
        why =
            fmt::format("a key ending in a space equals the key without it under collation {}", ct.collation);
      }
      if (!why.empty()) return refuse(schema.key_columns[i].name, why);
    }
    for (const auto& [name, value] : fields) {
      auto it = value_index.find(name);
      if (it == value_index.end()) continue;
      std::string why = check_exact(value_type(it->second), value);
      if (!why.empty()) return refuse(name, why);
    }
    return Status::Ok();
  }

  void add_key(std::vector<Param>& params, const Key& key) const {
    for (size_t i = 0; i < key.size(); ++i) params.push_back(to_param(key_type(i), key[i]));
  }
  void add_record(std::vector<Param>& params, const Record& r) const {
    add_key(params, r.key);
    for (size_t i = 0; i < schema.columns.size(); ++i) {
      auto it = r.fields.find(schema.columns[i].name);
      params.push_back(it == r.fields.end() ? Param::null() : to_param(value_type(i), it->second));
    }
  }

  // The condition "keys > bound" (or >=, or "keys < bound" if !lower), written
  // so that the primary key's index bounds the scan: k1 >= ? AND (k1 > ? OR
  // (k2 ...)) rather than a row comparison.
  std::string bound(const Key& key, bool lower, bool inclusive, std::vector<Param>& params) const {
    std::string weak = lower ? ">=" : "<=", strict = lower ? ">" : "<";
    std::string last = lower ? (inclusive ? ">=" : ">") : "<";
    std::function<std::string(size_t)> expand = [&](size_t i) -> std::string {
      if (i + 1 == quoted_keys.size()) {
        params.push_back(to_param(key_type(i), key[i]));
        return fmt::format("{} {} ?", quoted_keys[i], last);
      }
      params.push_back(to_param(key_type(i), key[i]));
      params.push_back(to_param(key_type(i), key[i]));
      std::string inner = expand(i + 1);
      return fmt::format("{0} {1} ? AND ({0} {2} ? OR ({3}))", quoted_keys[i], weak, strict, inner);
    };
    // fmt, not "(" + ... + ")": GCC 12 warns -Wrestrict on that at -O3.
    return fmt::format("({})", expand(0));
  }
};

// A fetched row as the skeleton reads it (sql::SqlRow); t is null for a
// query outside any collection (the tombstones).
class MariaRow : public sql::SqlRow {
 public:
  MariaRow(const MariaDbStore::Table* t, const Row& r, std::string_view store)
      : t_(t), r_(r), store_(store) {}
  Result<Key> key(std::string* bad_field) const override { return t_->read_key(r_, store_, bad_field); }
  Result<Record> record(std::string* bad_field, std::optional<Key>* key) const override {
    TANDEM_ASSIGN_OR_RETURN(Key k, t_->read_key(r_, store_, bad_field));
    if (key != nullptr) *key = k;
    return t_->read_fields(r_, std::move(k), store_, bad_field);
  }
  std::string raw_key() const override { return t_->raw_key(r_); }
  std::string raw_row() const override { return t_->raw_row(r_); }
  bool is_null(int col) const override { return r_.is_null(static_cast<size_t>(col)); }
  Result<int64_t> integer(int col) const override {
    auto c = static_cast<size_t>(col);
    if (r_.kind(c) == Row::Kind::kInt) return r_.integer(c);
    std::string s = r_.as_text(c);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
      return Status::Corruption(fmt::format("'{}' is not an integer", s.substr(0, 64)));
    }
    return v;
  }
  Result<std::string> bytes(int col) const override { return std::string(r_.text(static_cast<size_t>(col))); }
  Result<std::string> text(int col) const override { return r_.as_text(static_cast<size_t>(col)); }

 private:
  const MariaDbStore::Table* t_;
  const Row& r_;
  std::string_view store_;
};

}  // namespace tandem::mariadb
