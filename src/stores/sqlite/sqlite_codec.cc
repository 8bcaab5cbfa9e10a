#include "stores/sqlite/sqlite_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/utf8.h"

namespace tandem::sqlite {

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
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime:
      return "TEXT";
    case Type::kBytes:
    case Type::kUuid:
      return "BLOB";
    case Type::kNull:
      break;
  }
  return "ANY";
}

bool compatible(Type type, std::string_view declared) {
  if (declared == sql_type(type)) return true;
  auto is = [&](std::initializer_list<std::string_view> names) {
    for (std::string_view n : names) {
      if (sqlite3_strnicmp(declared.data(), n.data(), static_cast<int>(n.size())) == 0 &&
          declared.size() == n.size()) {
        return true;
      }
    }
    return false;
  };
  // The declared types of text dates in schemas written by hand.
  switch (type) {
    case Type::kDate:
      return is({"TEXT", "DATE"});
    case Type::kTime:
      return is({"TEXT", "TIME"});
    case Type::kDateTime:
      return is({"TEXT", "DATETIME", "TIMESTAMP"});
    default:
      return false;
  }
}

std::string calendar_text(const Value& v) {
  switch (v.type()) {
    case Type::kDate:
      return v.as<Date>().to_string();
    case Type::kTime: {
      std::string t = v.as<TimeOfDay>().to_string();  // "HH:MM:SS.ffffff"
      if (v.as<TimeOfDay>().micros % 1000000 == 0) t.resize(8);
      return t;
    }
    case Type::kDateTime: {
      std::string t = v.as<DateTime>().to_string();  // "YYYY-MM-DDTHH:MM:SS.ffffff"
      t[10] = ' ';
      if (v.as<DateTime>().micros % 1000000 == 0) t.resize(19);
      return t;
    }
    default:
      return {};
  }
}

namespace {

// The bytes a value takes in a row, roughly (numbers as 9, the most SQLite uses).
size_t value_bytes(const Value& v) {
  switch (v.type()) {
    case Type::kDecimal:
      return v.as<Decimal>().text.size();
    case Type::kText:
      return v.as<std::string>().size();
    case Type::kBytes:
      return v.as<Bytes>().data.size();
    case Type::kJson:
      return v.as<Json>().text.size();
    case Type::kUuid:
      return 16;
    default:
      return 9;
  }
}

}  // namespace

Status check_exact(const Value& v, int64_t max_bytes) {
  size_t bytes = value_bytes(v);
  if (static_cast<int64_t>(bytes) > max_bytes) {
    return Status::InvalidArgument(fmt::format(
        "the value is {} bytes, more than SQLite holds in one value ({} bytes, SQLITE_LIMIT_LENGTH)", bytes,
        max_bytes));
  }
  switch (v.type()) {
    case Type::kDouble: {
      double d = v.as<double>();
      if (std::isnan(d)) return Status::InvalidArgument("NaN, which SQLite stores as NULL");
      if (d == 0 && std::signbit(d)) return Status::InvalidArgument("-0.0, which SQLite stores as 0.0");
      return Status::Ok();
    }
    case Type::kDecimal: {
      const std::string& text = v.as<Decimal>().text;
      auto canonical = Decimal::parse(text);
      if (!canonical.ok() || canonical->text != text) {
        return Status::InvalidArgument(
            fmt::format("decimal text '{}' is not in canonical form and would read back as another value",
                        text.substr(0, 64)));
      }
      return Status::Ok();
    }
    case Type::kText:
      if (!valid_utf8(v.as<std::string>())) {
        return Status::InvalidArgument("text that is not valid UTF-8 (it could not be read back as text)");
      }
      return Status::Ok();
    case Type::kTimestamp:
      if (!v.as<Timestamp>().in_range()) {
        return Status::InvalidArgument(fmt::format(
            "timestamp of {} microseconds since 1970 is outside 0001-01-01..9999-12-31, the range "
            "tandem writes and reads back",
            v.as<Timestamp>().micros));
      }
      return Status::Ok();
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime:
      return check_calendar_range(v);
    default:
      return Status::Ok();
  }
}

Status check_record_exact(std::string_view store, const CollectionSchema& schema, const Key& key,
                          const FieldMap& fields, int64_t max_bytes) {
  auto refuse = [&](std::string_view field, const Status& why) {
    return Status::InvalidArgument(
        fmt::format("{} collection '{}', record {}, field '{}': {}; refused, as SQLite "
                    "would not hold it exactly",
                    store, schema.name, key.to_display(), field, why.message()));
  };
  size_t total = 0;
  std::string_view largest;
  size_t largest_bytes = 0;
  auto check = [&](std::string_view field, const Value& v) -> Status {
    Status s = check_exact(v, max_bytes);
    if (!s.ok()) return refuse(field, s);
    size_t bytes = value_bytes(v);
    total += bytes;
    if (bytes >= largest_bytes) {
      largest = field;
      largest_bytes = bytes;
    }
    return Status::Ok();
  };
  for (size_t i = 0; i < key.size() && i < schema.key_columns.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(check(schema.key_columns[i].name, key[i]));
  }
  for (const auto& [field, value] : fields) TANDEM_RETURN_IF_ERROR(check(field, value));
  if (static_cast<int64_t>(total) > max_bytes) {
    return refuse(largest, Status::InvalidArgument(fmt::format(
                               "the record is {} bytes, more than SQLite holds in one row ({} bytes, "
                               "SQLITE_LIMIT_LENGTH); this is its largest field",
                               total, max_bytes)));
  }
  return Status::Ok();
}

Status bind_value(Statement& st, int index, const Value& v) {
  int rc = SQLITE_OK;
  switch (v.type()) {
    case Type::kNull:
      rc = st.bind_null(index);
      break;
    case Type::kBool:
      rc = st.bind_int(index, v.as<bool>() ? 1 : 0);
      break;
    case Type::kInt:
      rc = st.bind_int(index, v.as<int64_t>());
      break;
    case Type::kDouble:
      rc = sqlite3_bind_double(st.get(), index, v.as<double>());
      break;
    case Type::kDecimal:
      rc = st.bind_text(index, v.as<Decimal>().text);
      break;
    case Type::kText:
      rc = st.bind_text(index, v.as<std::string>());  // with its length: NUL bytes are kept
      break;
    case Type::kBytes:
      rc = st.bind_blob(index, v.as<Bytes>().data);
      break;
    case Type::kTimestamp:
      rc = st.bind_int(index, v.as<Timestamp>().micros);
      break;
    case Type::kJson:
      rc = st.bind_text(index, v.as<Json>().text);
      break;
    case Type::kUuid:
      rc =
          st.bind_blob(index, std::string_view(reinterpret_cast<const char*>(v.as<Uuid>().bytes.data()), 16));
      break;
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime:
      rc = st.bind_text(index, calendar_text(v));
      break;
  }
  if (rc == SQLITE_OK) return Status::Ok();
  // A value the statement did not take would be written as NULL: never go on.
  return error_status(sqlite3_db_handle(st.get()), rc,
                      fmt::format("binding a {} value", type_name(v.type())));
}

Result<Value> read_value(const Statement& st, int i, const Column& c) {
  int t = sqlite3_column_type(st.get(), i);
  if (t == SQLITE_NULL) {
    if (!c.nullable) return Status::Corruption("NULL in a NOT NULL column");
    return Value();
  }
  auto expect = [&](int want) -> Status {
    if (t == want) return Status::Ok();
    static constexpr std::string_view kNames[] = {"", "INTEGER", "REAL", "TEXT", "BLOB", "NULL"};
    return Status::Corruption(fmt::format("a stored {} where {} ({}) was expected",
                                          t >= 1 && t <= 5 ? kNames[t] : "value", sql_type(c.type),
                                          type_name(c.type)));
  };
  switch (c.type) {
    case Type::kBool: {
      TANDEM_RETURN_IF_ERROR(expect(SQLITE_INTEGER));
      int64_t v = st.column_int(i);
      if (v != 0 && v != 1)
        return Status::Corruption(fmt::format("{} in a bool column (0 or 1 expected)", v));
      return Value(v == 1);
    }
    case Type::kInt:
      TANDEM_RETURN_IF_ERROR(expect(SQLITE_INTEGER));
      return Value(st.column_int(i));
    case Type::kTimestamp: {
      TANDEM_RETURN_IF_ERROR(expect(SQLITE_INTEGER));
      Timestamp ts{st.column_int(i)};
      if (!ts.in_range()) {
        return Status::Corruption(fmt::format(
            "timestamp of {} microseconds since 1970 is outside 0001-01-01..9999-12-31", ts.micros));
      }
      return Value(ts);
    }
    case Type::kDouble: {
      if (t == SQLITE_INTEGER) {
        int64_t n = st.column_int(i);
        auto d = static_cast<double>(n);
        // Only integers a double holds exactly (2^63 itself is out of int64's range).
        if (d >= 9223372036854775808.0 || static_cast<int64_t>(d) != n) {
          return Status::Corruption(
              fmt::format("integer {} in a double column, which a double cannot hold", n));
        }
        return Value(d);
      }
      TANDEM_RETURN_IF_ERROR(expect(SQLITE_FLOAT));
      return Value(sqlite3_column_double(st.get(), i));
    }
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
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime: {
      TANDEM_RETURN_IF_ERROR(expect(SQLITE_TEXT));
      Result<Value> v = parse_calendar(c.type, st.column_text(i));
      if (!v.ok()) return Status::Corruption(v.status().message());
      return v;
    }
    case Type::kNull:
      break;
  }
  return Status::Internal("column without type");
}

std::string raw_value(const Statement& st, int i) {
  switch (sqlite3_column_type(st.get(), i)) {
    case SQLITE_NULL:
      return "NULL";
    case SQLITE_BLOB:
      return Value(Bytes{st.column_blob(i)}).to_display();
    case SQLITE_TEXT: {
      std::string text = st.column_text(i);
      return valid_utf8(text) ? Value(text).to_display() : Value(Bytes{text}).to_display();
    }
    default:
      return st.column_text(i);
  }
}

Result<TableCatalog> read_catalog(Connection& conn, const std::string& table) {
  TableCatalog cat;
  std::vector<std::pair<int, std::string>> pk;  // (position in the key, column)
  std::unordered_map<std::string, bool> not_null;
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw, conn.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1, 'main')"));
    Statement st(conn, raw);
    st.bind_text(1, table);
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(bool row, st.step(fmt::format("reading the columns of table '{}'", table)));
      if (!row) break;
      std::string name = st.column_text(0);
      cat.column_types.emplace(name, st.column_text(1));
      not_null[name] = st.column_int(2) != 0;
      if (st.column_int(3) > 0) pk.emplace_back(static_cast<int>(st.column_int(3)), name);
    }
  }
  if (cat.column_types.empty()) return cat;
  std::sort(pk.begin(), pk.end());

  // The rowid, under a name no column shadows; none in a WITHOUT ROWID table.
  auto shadowed = [&](std::string_view alias) {
    for (const auto& [name, type] : cat.column_types) {
      if (name.size() == alias.size() &&
          std::equal(name.begin(), name.end(), alias.begin(),
                     [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
        return true;
      }
    }
    return false;
  };
  bool has_rowid = true;  // unknown when every alias is shadowed: assume it (only costs NULL checks)
  for (std::string_view alias : {"_rowid_", "rowid", "oid"}) {
    if (shadowed(alias)) continue;
    sqlite3_stmt* probe = nullptr;
    std::string sql = fmt::format("SELECT {} FROM {}", alias, quote_identifier(table));
    has_rowid = sqlite3_prepare_v2(conn.db(), sql.c_str(), -1, &probe, nullptr) == SQLITE_OK;
    sqlite3_finalize(probe);
    if (has_rowid) cat.rowid = alias;
    break;
  }

  struct Index {
    std::string name;
    bool unique = false, partial = false;
    std::string origin;
  };
  std::vector<Index> indexes;
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn.prepare("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1, 'main')"));
    Statement st(conn, raw);
    st.bind_text(1, table);
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(bool row, st.step(fmt::format("reading the indexes of table '{}'", table)));
      if (!row) break;
      indexes.push_back(
          Index{st.column_text(0), st.column_int(1) != 0, st.column_int(3) != 0, st.column_text(2)});
    }
  }
  bool pk_has_index =
      std::any_of(indexes.begin(), indexes.end(), [](const Index& i) { return i.origin == "pk"; });
  // A rowid table's primary key without an index of its own is the rowid
  // (INTEGER PRIMARY KEY): never NULL. A WITHOUT ROWID table's never is either.
  bool pk_never_null = !has_rowid || !pk_has_index;
  for (const auto& column : cat.column_types) {
    const std::string& name = column.first;  // a named reference: lambdas cannot capture bindings in clang 14
    bool in_pk = std::any_of(pk.begin(), pk.end(), [&](const auto& p) { return p.second == name; });
    cat.may_hold_null[name] = !not_null[name] && !(in_pk && pk_never_null);
    const char* collation = nullptr;
    if (sqlite3_table_column_metadata(conn.db(), "main", table.c_str(), name.c_str(), nullptr, &collation,
                                      nullptr, nullptr, nullptr) == SQLITE_OK &&
        collation != nullptr) {
      cat.collation[name] = collation;
    } else {
      cat.collation[name] = "BINARY";
    }
  }

  if (!pk.empty()) {
    TableKey key{"primary key", {}, false};  // NULLs in it are bad rows, quarantined by the scan
    for (const auto& p : pk) key.columns.push_back(p.second);
    cat.keys.push_back(std::move(key));
  }
  for (const Index& index : indexes) {
    // A partial index is unique only where its WHERE holds.
    if (!index.unique || index.partial || index.origin == "pk") continue;
    TANDEM_ASSIGN_OR_RETURN(
        auto raw, conn.prepare("SELECT cid, name FROM pragma_index_info(?1, 'main') ORDER BY seqno"));
    Statement st(conn, raw);
    st.bind_text(1, index.name);
    TableKey key{fmt::format("unique index {}", index.name), {}, false};
    bool plain_columns = true;
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(bool row,
                              st.step(fmt::format("reading index '{}' of table '{}'", index.name, table)));
      if (!row) break;
      if (st.column_int(0) < 0) {
        plain_columns = false;  // an expression or the rowid
        continue;
      }
      std::string column = st.column_text(1);
      key.nullable = key.nullable || cat.may_hold_null[column];
      key.columns.push_back(std::move(column));
    }
    if (plain_columns) cat.keys.push_back(std::move(key));
  }
  return cat;
}

}  // namespace tandem::sqlite
