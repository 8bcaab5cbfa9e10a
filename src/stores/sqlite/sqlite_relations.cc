// SqliteStore: the foreign keys of the file (pragma_foreign_key_list) and
// the queries of one collection with bound column values (keys_matching).
#include <fmt/format.h>

#include "stores/sqlite/sqlite_codec.h"
#include "stores/sqlite/sqlite_store.h"
#include "stores/sqlite/sqlite_table.h"

namespace tandem::sqlite {

Result<std::vector<Relation>> SqliteStore::foreign_keys() {
  // SQLite's foreign keys have no names: "<child>_<parent>_fk<id>". A
  // reference without columns ("to" NULL) is the parent's primary key, in
  // its order.
  const std::string sql =
      "SELECT m.name, p.id, p.\"table\", p.\"from\", "
      "COALESCE(p.\"to\", (SELECT t.name FROM pragma_table_info(p.\"table\") t WHERE t.pk = p.seq + 1)), "
      "p.on_update, p.on_delete "
      "FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) p "
      "WHERE m.type = 'table' ORDER BY m.name, p.id, p.seq";
  std::vector<Relation> out;
  TANDEM_RETURN_IF_ERROR(query(sql, {}, fmt::format("reading the foreign keys of {}", name_),
                               [&](const sql::SqlRow& row) -> Result<bool> {
                                 std::string f[7];
                                 for (int i = 0; i < 7; ++i) {
                                   if (i == 1) continue;
                                   TANDEM_ASSIGN_OR_RETURN(f[i], row.text(i));
                                 }
                                 TANDEM_ASSIGN_OR_RETURN(int64_t id, row.integer(1));
                                 std::string name = fmt::format("{}_{}_fk{}", f[0], f[2], id);
                                 sql::add_foreign_key_column(out, name, f[0], f[3], f[2], f[4],
                                                             sql::referential_action_from(f[5]),
                                                             sql::referential_action_from(f[6]));
                                 return true;
                               }));
  return out;
}

Status SqliteStore::query_table(const sql::SqlTable& base, const std::string& sql,
                                const std::vector<std::pair<size_t, Value>>& params, std::string_view what,
                                const sql::RowVisitor& visit) {
  const auto& t = static_cast<const Table&>(base);
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare(sql));
  Statement st(*conn, raw);
  int next = 1;
  for (const auto& [index, value] : params) {
    (void)index;  // SQLite stores each value as the codec binds it, whatever the column
    TANDEM_RETURN_IF_ERROR(bind_value(st, next++, value).with_context(what));
  }
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step(what));
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(bool more, visit(SqliteRow(&t, st, name_)));
    if (!more) break;
  }
  return Status::Ok();
}

}  // namespace tandem::sqlite
