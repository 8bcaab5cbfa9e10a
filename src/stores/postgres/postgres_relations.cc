// PostgresStore: the foreign keys of the current schema (pg_constraint) and
// the queries of one collection with bound column values (keys_matching).
#include <fmt/format.h>

#include "stores/postgres/postgres_store.h"
#include "stores/postgres/postgres_table.h"

namespace tandem::postgres {

Result<std::vector<Relation>> PostgresStore::foreign_keys() {
  // pg_constraint, not information_schema (whose constraint_column_usage
  // loses the pairing of a composite key's columns): the two-array unnest
  // keeps it. conparentid = 0 drops the copies on partitions.
  const std::string sql =
      "SELECT c.conname, cl.relname, ca.attname, pl.relname, pa.attname, c.confupdtype::text, "
      "c.confdeltype::text, CASE WHEN c.convalidated THEN 1 ELSE 0 END "
      "FROM pg_constraint c "
      "JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cl.relnamespace "
      "JOIN pg_class pl ON pl.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pl.relnamespace "
      "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_att, parent_att, ord) "
      "JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_att "
      "JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_att "
      "WHERE c.contype = 'f' AND c.conparentid = 0 AND cn.nspname = current_schema() "
      "AND pn.nspname = current_schema() "
      "ORDER BY cl.relname, c.conname, k.ord";
  std::vector<Relation> out;
  TANDEM_RETURN_IF_ERROR(query(sql, {}, fmt::format("reading the foreign keys of {}", name_),
                               [&](const sql::SqlRow& row) -> Result<bool> {
                                 std::string f[7];
                                 for (int i = 0; i < 7; ++i) {
                                   TANDEM_ASSIGN_OR_RETURN(f[i], row.text(i));
                                 }
                                 TANDEM_ASSIGN_OR_RETURN(int64_t validated, row.integer(7));
                                 sql::add_foreign_key_column(out, f[0], f[1], f[2], f[3], f[4],
                                                             sql::referential_action_from(f[5]),
                                                             sql::referential_action_from(f[6]));
                                 out.back().validated = validated != 0;
                                 return true;
                               }));
  return out;
}

Status PostgresStore::query_table(const sql::SqlTable& base, const std::string& sql,
                                  const std::vector<std::pair<size_t, Value>>& params, std::string_view what,
                                  const sql::RowVisitor& visit) {
  const auto& t = static_cast<const Table&>(base);
  std::vector<Param> bound;
  for (const auto& [index, value] : params) {
    (void)index;  // PostgreSQL infers each parameter's type from its column
    bound.push_back(to_param(value));
  }
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(PgResult r, conn->exec(sql, bound, what));
  for (int i = 0; i < r.rows(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(bool more, visit(PgRow(&t, r, i, name_)));
    if (!more) break;
  }
  return Status::Ok();
}

Result<std::vector<std::string>> PostgresStore::foreign_key_sql(const Relation& r) const {
  // NOT VALID takes a brief lock and checks only later writes; VALIDATE then
  // scans the child holding SHARE UPDATE EXCLUSIVE: the service's writes go on.
  return std::vector<std::string>{
      fmt::format("ALTER TABLE {} {} NOT VALID", quote_identifier(r.child), sql::foreign_key_clause(r)),
      fmt::format("ALTER TABLE {} VALIDATE CONSTRAINT {}", quote_identifier(r.child),
                  quote_identifier(r.name))};
}

Status PostgresStore::ensure_foreign_key(const Relation& r) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<Relation> existing, foreign_keys());
  for (const Relation& x : existing) {
    if (x.child == r.child && x.name == r.name && x.validated) return Status::Ok();
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<std::string> statements, foreign_key_sql(r));
  bool added = false;
  for (const Relation& x : existing) added = added || (x.child == r.child && x.name == r.name);
  auto none = [](const sql::SqlRow&) -> Result<bool> { return false; };
  std::string what = fmt::format("creating relation {} in {}", r.name, name_);
  if (!added) TANDEM_RETURN_IF_ERROR(query(statements[0], {}, what, none));
  Status s = query(statements[1], {}, what, none);
  if (!s.ok() && s.is_foreign_key()) {
    auto found = orphans(r, 10);
    std::string keys;
    if (found.ok()) {
      for (const Key& k : found->sample) keys += (keys.empty() ? "" : ", ") + k.to_display();
    }
    return Status::FailedPrecondition(fmt::format(
        "relation {}: new holds records of '{}' without their '{}' ({}): the foreign key stays NOT VALID; "
        "run `tandem verify --repair`, then `tandem init --constraints` again",
        r.name, r.child, r.parent, keys.empty() ? s.message() : "e.g. " + keys));
  }
  return s;
}

}  // namespace tandem::postgres
