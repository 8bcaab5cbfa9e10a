// SQL text shared by the SQL stores: identifier quoting and the statements of
// one collection, which differ between engines only in how a parameter is
// written ("?1" in SQLite, "$1" in PostgreSQL).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tandem/key.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem {

// "name" with any '"' doubled. Identifiers are validated at config time; this
// is the second line of defence.
std::string quote_identifier(std::string_view identifier);

struct CollectionSql {
  std::string quoted;       // the table
  std::string select_list;  // key columns, then value columns
  std::string key_columns;  // "k1", "k2"
  std::string key_match;    // "k1" = ?1 AND "k2" = ?2: the key's parameters come first
  std::string get_sql;      // one record by key
  std::string insert_sql;   // all columns, nothing done on a key conflict
  std::string upsert_sql;   // all columns, the value columns replaced on a key conflict
  std::string delete_sql;   // one record by key
};

// placeholder(i) renders the i-th parameter, counting from 1.
CollectionSql build_collection_sql(const CollectionSchema& schema,
                                   const std::function<std::string(size_t)>& placeholder);

// Checks a collection's existing table: it exists (existing is not empty),
// and has every column of schema with a type readable(type, found) accepts.
// existing maps column name -> the engine's type name. kFailedPrecondition
// names the store, the table and the column.
Status check_existing_columns(std::string_view store, const CollectionSchema& schema,
                              const std::unordered_map<std::string, std::string>& existing,
                              const std::function<bool(Type, std::string_view)>& readable);

// A key of an existing table, as the engine's catalog describes it: the
// primary key or a unique index, its columns, and whether any is nullable.
struct TableKey {
  std::string name;  // "primary key" or the index's name
  std::vector<std::string> columns;
  bool nullable = false;
};

// Checks that the configured key of schema is a key of the table: its
// columns are those (in any order) of some entry of keys that is not
// nullable (a wider key would be unique too, but writes name the key in ON
// CONFLICT, which needs a unique index on exactly those columns) (pass an
// engine's primary key as not nullable when the engine enforces it, e.g.
// SQLite's). kFailedPrecondition otherwise, naming the store, the table, the
// configured key and the table's keys, and what to do.
Status check_configured_key(std::string_view store, const CollectionSchema& schema,
                            const std::vector<TableKey>& keys);

// The error of a scan that met the same key twice: kCorruption naming the
// store, the collection and the key (the configured key is not unique).
Status duplicate_key_error(std::string_view store, const CollectionSchema& schema, const Key& key);

// The portable digest's sum, given by the database as a decimal integer
// (possibly negative, larger than 64 bits), reduced mod 2^64.
Result<uint64_t> sum_mod_2_64(std::string_view decimal);

// The portable digest's per-column terms, key columns first, each rendered by
// the engine's term(column); nullopt when a column has a type the portable
// digest does not cover (the caller then digests rows in tandem).
std::optional<std::vector<std::string>> portable_digest_terms(
    const CollectionSchema& schema, const std::function<std::string(const Column&)>& term);

}  // namespace tandem
