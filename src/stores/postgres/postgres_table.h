// The SQL and the row codec of one collection in the PostgreSQL store, built
// once by ensure_collection from the schema and the table's catalog, with
// the COPY rows of the batch insert. Included by the PostgreSQL store's
// sources only.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "stores/postgres/postgres_binary_copy.h"
#include "stores/postgres/postgres_checks.h"
#include "stores/postgres/postgres_codec.h"
#include "stores/postgres/postgres_store.h"

namespace tandem::postgres {

struct PostgresStore::Table : sql::SqlTable {
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
    TANDEM_RETURN_IF_ERROR(read_values(
        out, col, [&](int i) { return r.is_null(row, i); },
        [&](const Column& c, int i) {
          return c.type == Type::kDouble && float4.contains(c.name) ? float4_from_text(r.text(row, i))
                                                                    : from_text(c.type, r.text(row, i));
        },
        store, bad_field));
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
    return raw_columns([&](int i) {
      return r.is_null(row, i) ? std::string("NULL") : Value(std::string(r.text(row, i))).to_display();
    });
  }

  void add_key(std::vector<Param>& params, const Key& key) const {
    for (const Value& v : key.parts()) params.push_back(to_param(v));
  }
  // The batch copy (insert_part): COPY of the absent records, after one
  // query for the present keys. Only for a one-column key of a type whose
  // array tandem can write (present_sql empty otherwise).
  std::string present_sql;
  // upsert_sql writing the key's spelling too (SqlTable::respells).
  std::string respell_upsert_sql;  // SELECT t.key FROM unnest($1::type[]) AS u(k) JOIN t ON t.key = u.k
  std::string copy_sql;            // COPY t (key columns, then copy_order's columns) FROM STDIN
  // Indexes into schema.columns by name, the order of a record's fields: a
  // COPY row walks the columns and the fields together, without a lookup.
  std::vector<size_t> copy_order;
  // Batches in a row whose presence query found no key: from kBlindCopyAfter
  // on, batches COPY without the query first (see insert_part).
  mutable std::atomic<int> batches_without_present{kBlindCopyAfter};
  static constexpr int kBlindCopyAfter = 4;

  // The binary COPY (postgres_binary_copy.h): each COPY column's form, in
  // copy_sql's order; empty if a column has none (the table copies as text).
  std::vector<BinaryColumn> binary_columns;
  std::string binary_copy_sql;  // copy_sql in the binary format

  // Calls visit(i, value or null) for the COPY columns in order (i from 0),
  // until it returns false; false then.
  template <typename Visit>
  bool visit_copy_fields(const Record& r, Visit visit) const {
    size_t i = 0;
    for (const Value& v : r.key.parts()) {
      if (!visit(i++, &v)) return false;
    }
    auto it = r.fields.begin();
    for (size_t c : copy_order) {
      const std::string& name = schema.columns[c].name;
      while (it != r.fields.end() && it->first < name) ++it;
      if (!visit(i++, it != r.fields.end() && it->first == name ? &it->second : nullptr)) return false;
    }
    return true;
  }

  // Appends the record as one row of the binary format; false (a part of
  // the row appended) if a value has no binary form in its column.
  bool append_binary_row(const Record& r, std::string& out) const {
    append_binary_field_count(binary_columns.size(), out);
    return visit_copy_fields(
        r, [&](size_t i, const Value* v) { return append_binary_field(binary_columns[i], v, out); });
  }

  // Appends the record as one row of COPY's text format.
  void append_copy_row(const Record& r, std::string& out) const {
    visit_copy_fields(r, [&](size_t i, const Value* v) {
      if (i > 0) out += '\t';
      if (v == nullptr || v->is_null()) {
        out += "\\N";
        return true;
      }
      if (v->type() == Type::kBytes) {
        append_escaped_bytea(v->as<Bytes>().data, out);
        return true;
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
      for (size_t j = 0; j < text.size(); ++j) {
        char c = text[j];
        if (c != '\\' && c != '\n' && c != '\r' && c != '\t') continue;
        out.append(text, plain, j - plain);
        plain = j + 1;
        out += '\\';
        out += c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\';
      }
      out.append(text, plain);
      return true;
    });
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
  // "($3, $4)" for a key starting at parameter first.
  std::string key_placeholders(int first) const {
    std::vector<std::string> p;
    for (size_t i = 0; i < schema.key_columns.size(); ++i)
      p.push_back(fmt::format("${}", first + static_cast<int>(i)));
    return fmt::format("({})", fmt::join(p, ", "));
  }
};

// A streamed row (row 0 of r) as the skeleton reads it (sql::SqlRow); t is
// null for a query outside any collection (the tombstones).
class PgRow : public sql::SqlRow {
 public:
  PgRow(const PostgresStore::Table* t, const PgResult& r, int row, std::string_view store)
      : t_(t), r_(r), row_(row), store_(store) {}
  Result<Key> key(std::string* bad_field) const override;
  Result<Record> record(std::string* bad_field, std::optional<Key>* key) const override {
    return t_->read_row(r_, row_, store_, bad_field, key);
  }
  std::string raw_key() const override { return t_->raw_key(r_, row_); }
  std::string raw_row() const override { return t_->raw_row(r_, row_); }
  bool is_null(int col) const override { return r_.is_null(row_, col); }
  Result<int64_t> integer(int col) const override {
    TANDEM_ASSIGN_OR_RETURN(Value v, from_text(Type::kInt, r_.text(row_, col)));
    return v.as<int64_t>();
  }
  Result<std::string> bytes(int col) const override {
    TANDEM_ASSIGN_OR_RETURN(Value v, from_text(Type::kBytes, r_.text(row_, col)));
    return v.as<Bytes>().data;
  }
  Result<std::string> text(int col) const override { return std::string(r_.text(row_, col)); }

 private:
  const PostgresStore::Table* t_;
  const PgResult& r_;
  int row_;
  std::string_view store_;
};

}  // namespace tandem::postgres
