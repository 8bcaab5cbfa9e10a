// The SQL and the row codec of one collection in the SQLite store, built
// once by ensure_collection from the schema and the table's catalog. Included
// by sqlite_store.cc only.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

#include "stores/sql_text.h"
#include "stores/sqlite/sqlite_codec.h"
#include "stores/sqlite/sqlite_store.h"

namespace tandem::sqlite {

struct SqliteStore::Table : sql::SqlTable {
  // Each key column as compared and ordered: with COLLATE BINARY where the
  // table declares another collation, so that SQLite orders keys as tandem
  // does (by bytes).
  std::vector<std::string> key_exprs;
  // Whether each key column can hold NULL (SQLite lets a rowid table's
  // primary key hold NULL). Such rows are bad rows, ordered first.
  std::vector<bool> key_may_be_null;
  std::string key_tuple;  // (e1, e2): for row comparisons
  // order_by: e1, e2, then the rowid when rows may tie (NULL keys).

  // Reads the key columns; on failure *bad_field names the column.
  Result<Key> read_key(const Statement& st, std::string* bad_field) const {
    std::vector<Value> parts;
    parts.reserve(schema.key_columns.size());
    int col = 0;
    for (const Column& c : schema.key_columns) {
      if (st.column_is_null(col)) {
        *bad_field = c.name;
        return Status::Corruption("NULL in a key column");
      }
      auto v = read_value(st, col++, c);
      if (!v.ok()) {
        *bad_field = c.name;
        return v.status();
      }
      parts.push_back(std::move(*v));
    }
    return Key(std::move(parts));
  }

  // The key columns as stored: "5", "(1, NULL)", "x'ff41'".
  std::string raw_key(const Statement& st) const {
    if (schema.key_columns.size() == 1) return raw_value(st, 0);
    std::vector<std::string> parts;
    for (size_t i = 0; i < schema.key_columns.size(); ++i)
      parts.push_back(raw_value(st, static_cast<int>(i)));
    return fmt::format("({})", fmt::join(parts, ", "));
  }

  // Reads one row (select_list order) into a Record; Corruption names the
  // collection, the record (the raw key if it does not decode) and the field
  // when a stored value does not match the schema. On failure, *bad_field
  // names the field and *key holds the key if it decoded.
  Result<Record> read_row(const Statement& st, std::string_view store, std::string* bad_field = nullptr,
                          std::optional<Key>* key = nullptr) const {
    std::string field;
    auto k = read_key(st, &field);
    if (!k.ok()) {
      if (bad_field != nullptr) *bad_field = field;
      return Status::Corruption(fmt::format("{} collection '{}', record with key {}, key column '{}': {}",
                                            store, schema.name, raw_key(st), field, k.status().message()));
    }
    Record r;
    r.key = std::move(*k);
    if (key != nullptr) *key = r.key;
    // read_value refuses a NULL in a NOT NULL column itself.
    TANDEM_RETURN_IF_ERROR(read_values(
        r, static_cast<int>(schema.key_columns.size()), [](int) { return false; },
        [&](const Column& c, int col) { return read_value(st, col, c); }, store, bad_field));
    return r;
  }

  // The row's raw values as text, for the quarantine: "id=5, age='abc'".
  std::string raw_row(const Statement& st) const {
    return raw_columns([&](int col) { return raw_value(st, col); });
  }

  // Binds the key's parts from *index on; *index ends after them.
  static Status bind_key(Statement& st, const Key& key, int* index) {
    for (size_t i = 0; i < key.size(); ++i) TANDEM_RETURN_IF_ERROR(bind_value(st, (*index)++, key[i]));
    return Status::Ok();
  }
  static Status bind_key(Statement& st, const Key& key) {
    int index = 1;
    return bind_key(st, key, &index);
  }

  // Binds key then every value column (missing fields as null).
  Status bind_record(Statement& st, const Record& r) const {
    int index = 1;
    TANDEM_RETURN_IF_ERROR(bind_key(st, r.key, &index));
    static const Value kNull;
    for (const Column& c : schema.columns) {
      auto it = r.fields.find(c.name);
      TANDEM_RETURN_IF_ERROR(bind_value(st, index++, it == r.fields.end() ? kNull : it->second)
                                 .with_context(fmt::format("field '{}'", c.name)));
    }
    return Status::Ok();
  }

  // " WHERE ..." selecting the rows of range (empty for all of them); its
  // parameters are begin's parts, then end's.
  std::string range_where(const KeyRange& range) const {
    size_t n = key_exprs.size();
    auto params = [&](int first) {
      std::vector<std::string> p;
      for (size_t i = 0; i < n; ++i) p.push_back(fmt::format("?{}", first + static_cast<int>(i)));
      return fmt::format("({})", fmt::join(p, ", "));
    };
    // Keys order as ORDER BY orders them, NULL parts first. A row comparison
    // that meets a NULL part is NULL: false after begin, which is right (the
    // row is lower); before end it is spelled out, so that every row falls in
    // exactly one of two adjacent ranges.
    int next = 1;
    std::vector<std::string> conds;
    if (range.begin) {
      conds.push_back(fmt::format("{} {} {}", key_tuple, range.begin_inclusive ? ">=" : ">", params(next)));
      next += static_cast<int>(n);
    }
    if (range.end) {
      std::string below = fmt::format("{} < {}", key_tuple, params(next));
      std::vector<std::string> nulls;
      std::string prefix;
      for (size_t i = 0; i < n; ++i) {
        if (key_may_be_null[i]) nulls.push_back(fmt::format("({}{} IS NULL)", prefix, key_exprs[i]));
        prefix += fmt::format("{} = ?{} AND ", key_exprs[i], next + static_cast<int>(i));
      }
      if (nulls.empty()) {
        conds.push_back(std::move(below));
      } else {
        // After begin no row has a NULL first part: a bound the index can seek to.
        if (range.begin) conds.push_back(fmt::format("{} <= ?{}", key_exprs[0], next));
        conds.push_back(fmt::format("({} OR {})", below, fmt::join(nulls, " OR ")));
      }
    }
    if (conds.empty()) return "";
    return fmt::format(" WHERE {}", fmt::join(conds, " AND "));
  }
};

// A stepped row as the skeleton reads it (sql::SqlRow); t is null for a
// query outside any collection (the tombstones).
class SqliteRow : public sql::SqlRow {
 public:
  SqliteRow(const SqliteStore::Table* t, const Statement& st, std::string_view store)
      : t_(t), st_(st), store_(store) {}
  Result<Key> key(std::string* bad_field) const override {
    std::string field;
    auto k = t_->read_key(st_, &field);
    if (!k.ok() && bad_field != nullptr) *bad_field = field;
    return k;
  }
  Result<Record> record(std::string* bad_field, std::optional<Key>* key) const override {
    return t_->read_row(st_, store_, bad_field, key);
  }
  std::string raw_key() const override { return t_->raw_key(st_); }
  std::string raw_row() const override { return t_->raw_row(st_); }
  bool is_null(int col) const override { return st_.column_is_null(col); }
  Result<int64_t> integer(int col) const override {
    if (sqlite3_column_type(st_.get(), col) != SQLITE_INTEGER) {
      return Status::Corruption(fmt::format("{} is not an integer", raw_value(st_, col)));
    }
    return st_.column_int(col);
  }
  Result<std::string> bytes(int col) const override { return st_.column_blob(col); }
  Result<std::string> text(int col) const override { return st_.column_text(col); }

 private:
  const SqliteStore::Table* t_;
  const Statement& st_;
  std::string_view store_;
};

}  // namespace tandem::sqlite
