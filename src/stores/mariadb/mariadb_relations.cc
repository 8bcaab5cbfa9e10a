// MariaDbStore: the foreign keys of the database (information_schema) and
// the queries of one collection with bound column values (keys_matching).
#include <fmt/format.h>

#include "stores/mariadb/mariadb_store.h"
#include "stores/mariadb/mariadb_table.h"

namespace tandem::mariadb {

Result<std::vector<Relation>> MariaDbStore::foreign_keys() {
  // Joined on TABLE_NAME too: MariaDB 12.1 makes foreign key names unique per
  // table only. ORDINAL_POSITION keeps a composite key's pairs in order.
  const std::string sql =
      "SELECT rc.CONSTRAINT_NAME, rc.TABLE_NAME, k.COLUMN_NAME, rc.REFERENCED_TABLE_NAME, "
      "k.REFERENCED_COLUMN_NAME, rc.UPDATE_RULE, rc.DELETE_RULE "
      "FROM information_schema.REFERENTIAL_CONSTRAINTS rc "
      "JOIN information_schema.KEY_COLUMN_USAGE k "
      "ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME "
      "AND k.TABLE_NAME = rc.TABLE_NAME AND k.REFERENCED_TABLE_NAME IS NOT NULL "
      "WHERE rc.CONSTRAINT_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_SCHEMA = DATABASE() "
      "ORDER BY rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION";
  std::vector<Relation> out;
  TANDEM_RETURN_IF_ERROR(query(sql, {}, fmt::format("reading the foreign keys of {}", name_),
                               [&](const sql::SqlRow& row) -> Result<bool> {
                                 std::string f[7];
                                 for (int i = 0; i < 7; ++i) {
                                   TANDEM_ASSIGN_OR_RETURN(f[i], row.text(i));
                                 }
                                 sql::add_foreign_key_column(out, f[0], f[1], f[2], f[3], f[4],
                                                             sql::referential_action_from(f[5]),
                                                             sql::referential_action_from(f[6]));
                                 return true;
                               }));
  return out;
}

Status MariaDbStore::query_table(const sql::SqlTable& base, const std::string& sql,
                                 const std::vector<std::pair<size_t, Value>>& params, std::string_view what,
                                 const sql::RowVisitor& visit) {
  const auto& t = static_cast<const Table&>(base);
  std::vector<Param> bound;
  for (const auto& [index, value] : params) {
    if (index >= t.types.size()) return Status::Internal(fmt::format("{}: no column {}", what, index));
    bound.push_back(to_param(t.types[index], value));
  }
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  bool stopped = false;
  return conn
      ->run(sql, bound, what,
            [&](const Row& r) -> Status {
              if (stopped) return Status::Ok();
              TANDEM_ASSIGN_OR_RETURN(bool more, visit(MariaRow(&t, r, name_)));
              stopped = !more;
              return Status::Ok();
            })
      .status();
}

Result<std::vector<std::string>> MariaDbStore::foreign_key_sql(const Relation& r) const {
  // With checks on, InnoDB refuses an in-place add (error 1851) and a copying
  // ALTER blocks every write of the child for the whole copy: checks off for
  // the add, then tandem's orphan query (from the add on, every write is
  // checked, so an empty answer is conclusive).
  return std::vector<std::string>{"SET SESSION foreign_key_checks = 0",
                                  fmt::format("ALTER TABLE {} {}, ALGORITHM=INPLACE, LOCK=NONE",
                                              quote_identifier(r.child), sql::foreign_key_clause(r)),
                                  "SET SESSION foreign_key_checks = 1"};
}

Status MariaDbStore::ensure_foreign_key(const Relation& r) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<Relation> existing, foreign_keys());
  bool added = false;
  for (const Relation& x : existing) added = added || (x.child == r.child && x.name == r.name);
  if (!added) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<std::string> statements, foreign_key_sql(r));
    std::string what = fmt::format("creating relation {} in {}", r.name, name_);
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());  // one session: the SETs are per session
    for (const std::string& sql : statements) {
      Status s = conn->run(sql, {}, what, [](const Row&) { return Status::Ok(); }).status();
      if (!s.ok()) {
        (void)conn->run(statements.back(), {}, what, [](const Row&) { return Status::Ok(); });
        return s;
      }
    }
  }
  TANDEM_ASSIGN_OR_RETURN(Orphans found, orphans(r, 10));
  if (found.count > 0) {
    std::string keys;
    for (const Key& k : found.sample) keys += (keys.empty() ? "" : ", ") + k.to_display();
    return Status::FailedPrecondition(fmt::format(
        "relation {}: created in new, but new holds {} records of '{}' without their '{}' (e.g. {}), written "
        "behind tandem's back or before: run `tandem verify --repair`",
        r.name, found.count, r.child, r.parent, keys));
  }
  return Status::Ok();
}

}  // namespace tandem::mariadb
