#include "stores/postgres/postgres_key_collation.h"

#include <fmt/format.h>

#include <set>
#include <utility>
#include <vector>

#include "stores/postgres/postgres_codec.h"
#include "stores/sql_text.h"

namespace tandem::postgres {

namespace {

// The probe keys: each printable ASCII character, "x" and "x" followed by
// each (an ignorable character would make "x" + c equal "x"), and words
// that differ by case and punctuation.
std::vector<std::string> probe_keys() {
  std::vector<std::string> out;
  for (char c = 0x20; c <= 0x7E; ++c) out.emplace_back(1, c);
  out.emplace_back("x");
  for (char c = 0x20; c <= 0x7E; ++c) out.push_back(std::string("x") + c);
  for (const char* w : {"abc", "ABC", "Abc", "aBc", "a b", "ab", "a-b", "a_b", "A_B", "ab.", "AB.", "x1y",
                        "X1Y", "zz", "ZZ", "Zz", "d001", "D001"}) {
    out.emplace_back(w);
  }
  return out;
}

// A text[] literal of the keys (each quoted, '"' and '\' escaped).
std::string array_literal(const std::vector<std::string>& keys) {
  std::string out = "{";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : keys[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string quoted_text(const std::string& s) { return fmt::format("'{}'", s); }

// Checks that the column's collation (qualified, quoted) and old's narrowed
// one put each pair of probe keys in the same classes.
Status probe(Connection& conn, std::string_view store, const CollectionSchema& schema, const Column& column,
             const std::string& pg_collation, const TextCollation& narrowed, const std::string& old_name) {
  const std::vector<std::string> keys = probe_keys();
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r,
      conn.exec(fmt::format("SELECT a.i, b.i FROM unnest($1::text[]) WITH ORDINALITY AS a(s, i), "
                            "unnest($1::text[]) WITH ORDINALITY AS b(s, i) WHERE a.i < b.i AND a.s = "
                            "b.s COLLATE {}",
                            pg_collation),
                {text_param(array_literal(keys))},
                fmt::format("probing the collation of key column '{}.{}'", schema.name, column.name)));
  std::set<std::pair<size_t, size_t>> equal_in_new;
  for (int row = 0; row < r.rows(); ++row) {
    equal_in_new.emplace(std::stoul(std::string(r.text(row, 0))) - 1,
                         std::stoul(std::string(r.text(row, 1))) - 1);
  }
  std::vector<std::optional<std::string>> ids;
  for (const std::string& k : keys) {
    Result<std::string> id = narrowed.identity(k);
    ids.push_back(id.ok() ? std::optional<std::string>(std::move(*id)) : std::nullopt);
  }
  for (size_t a = 0; a < keys.size(); ++a) {
    for (size_t b = a + 1; b < keys.size(); ++b) {
      if (!ids[a] || !ids[b]) continue;  // outside the keys new holds
      const bool in_old = *ids[a] == *ids[b];
      if (in_old == equal_in_new.contains({a, b})) continue;
      return Status::FailedPrecondition(fmt::format(
          "{} database: key column '{}.{}' uses the collation {}, under which {} and {} are {}, but old's "
          "collation {} makes them {}: the two would not identify keys alike. Create new's column as `tandem "
          "init` does (a case-insensitive ICU collation for a case-insensitive old key)",
          store, schema.name, column.name, pg_collation, quoted_text(keys[a]), quoted_text(keys[b]),
          in_old ? "two keys" : "one key", old_name, in_old ? "one record" : "two records"));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<const KeyIdentity>> key_identity_in_new(Connection& conn, std::string_view store,
                                                               const CollectionSchema& schema,
                                                               const KeyIdentity* old) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r,
      conn.exec(
          "SELECT a.attname, quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_attribute a "
          "JOIN pg_class c ON c.oid = a.attrelid "
          "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
          "JOIN pg_collation co ON co.oid = a.attcollation "
          "JOIN pg_namespace cn ON cn.oid = co.collnamespace "
          "WHERE c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped AND NOT co.collisdeterministic",
          {text_param(schema.name)}, fmt::format("reading the key collations of table '{}'", schema.name)));
  std::vector<std::shared_ptr<const TextCollation>> columns(schema.key_columns.size());
  bool any = false;
  for (int row = 0; row < r.rows(); ++row) {
    std::string_view name = r.text(row, 0);
    const std::string collation(r.text(row, 1));
    for (size_t i = 0; i < schema.key_columns.size(); ++i) {
      const Column& c = schema.key_columns[i];
      if (c.name != name) continue;
      const TextCollation* in_old =
          old != nullptr && i < old->columns().size() ? old->columns()[i].get() : nullptr;
      if (in_old == nullptr) {
        return Status::FailedPrecondition(
            fmt::format("{} database: key column '{}.{}' uses the nondeterministic collation {}, under which "
                        "keys differing "
                        "in spelling ('abc', 'ABC') are one record; tandem accepts such a key only in new, "
                        "against an old "
                        "MariaDB/MySQL key under a case-insensitive collation (it reads no weights from "
                        "PostgreSQL; planned: "
                        "ICU sort keys checked against pg_collation_actual_version). Key the table by a "
                        "deterministic text "
                        "column (COLLATE \"C\")",
                        store, schema.name, c.name, collation));
      }
      auto narrowed = in_old->narrowed_to_ascii(fmt::format("{} (PostgreSQL)", collation));
      TANDEM_RETURN_IF_ERROR(probe(conn, store, schema, c, collation, *narrowed, in_old->name()));
      columns[i] = std::move(narrowed);
      any = true;
    }
  }
  if (!any) return std::shared_ptr<const KeyIdentity>();
  return std::make_shared<const KeyIdentity>(std::move(columns));
}

}  // namespace tandem::postgres
