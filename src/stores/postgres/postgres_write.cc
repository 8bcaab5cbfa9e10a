// PostgresStore's single-record writes (upsert, patch, remove) and the fence
// they run under when a FenceScope applies (tandem/store.h).
#include <fmt/format.h>

#include <charconv>

#include "stores/postgres/postgres_checks.h"
#include "stores/postgres/postgres_store.h"
#include "stores/postgres/postgres_table.h"
#include "stores/sql/fence.h"
#include "stores/sql_text.h"

namespace tandem::postgres {

namespace {

// The fence's advisory lock (two int4 keys: apart from the record locks'
// one-bigint keys): 'tand', 1.
constexpr const char* kFenceLockShared = "SELECT pg_advisory_xact_lock_shared(1952542308, 1)";

Result<int64_t> fence_integer(std::string_view text, std::string_view column) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::Corruption(fmt::format("tandem_fence.{} holds '{}', not an integer", column, text));
  }
  return v;
}

}  // namespace

Result<std::unique_ptr<SqlTransaction<Connection>>> PostgresStore::fenced_transaction(Connection& conn) {
  const FenceToken* token = sql::fence_for(options_);
  if (token == nullptr) return std::unique_ptr<SqlTransaction<Connection>>();
  return sql::begin_fenced(
      name_, *token, [&] { return Transaction::begin(conn); },
      [&]() -> Result<FenceToken> {
        // The fence's lock is an advisory lock held until this write
        // commits: a raise (its exclusive form) waits for it, and writes that
        // come after a waiting raise queue behind it (a row lock FOR SHARE
        // would let them pass and starve the raise). The row is read by the
        // next statement, whose snapshot follows the lock: it sees a raise
        // that committed before.
        TANDEM_RETURN_IF_ERROR(conn.exec(kFenceLockShared, {}, "locking tandem_fence").status());
        return read_fence_on(conn);
      },
      [&] { return raise_fence_on(conn, *token); });
}

Result<FenceToken> PostgresStore::read_fence_on(Connection& conn) {
  TANDEM_ASSIGN_OR_RETURN(PgResult r, conn.exec("SELECT version, role FROM tandem_fence WHERE id = 1", {},
                                                "reading tandem_fence"));
  FenceToken fence;
  if (r.rows() == 0) return fence;
  TANDEM_ASSIGN_OR_RETURN(fence.version, fence_integer(r.text(0, 0), "version"));
  TANDEM_ASSIGN_OR_RETURN(int64_t role, fence_integer(r.text(0, 1), "role"));
  TANDEM_ASSIGN_OR_RETURN(fence.role, sql::fence_role_of(role));
  return fence;
}

Result<FenceToken> PostgresStore::read_fence() {
  if (!options_.keep_tombstones) return FenceToken{};
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return read_fence_on(*conn);
}

Status PostgresStore::raise_fence_on(Connection& conn, const FenceToken& token) {
  // One statement in its own transaction: the exclusive lock is taken and
  // released within it, so no client stall can leave it held. Bounded by
  // lock_timeout for this statement only.
  TANDEM_RETURN_IF_ERROR(
      conn.exec_simple(fmt::format("SET lock_timeout = {}", sql::kFenceRaiseTimeoutMs), "limiting the wait"));
  Status s = conn.exec(
                     "WITH fence_lock AS (SELECT pg_advisory_xact_lock(1952542308, 1)) INSERT INTO "
                     "tandem_fence (id, "
                     "version, role) SELECT 1, $1::bigint, $2::integer FROM fence_lock ON CONFLICT (id) DO "
                     "UPDATE SET "
                     "version = excluded.version, role = excluded.role WHERE tandem_fence.version < "
                     "excluded.version",
                     {text_param(std::to_string(token.version)),
                      text_param(std::to_string(static_cast<int>(token.role)))},
                     "raising tandem_fence")
                 .status();
  const bool timed_out = !s.ok() && conn.last_sqlstate() == "55P03";  // lock_not_available
  TANDEM_RETURN_IF_ERROR(conn.exec_simple("RESET lock_timeout", "restoring the lock wait"));
  if (timed_out) return sql::fence_raise_timed_out(name_, token);
  return s;
}

Status PostgresStore::raise_fence(const FenceToken& token) {
  if (!options_.keep_tombstones) return Status::Ok();
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return raise_fence_on(*conn, token);
}

Status PostgresStore::upsert(std::string_view collection, const Record& record) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_record(record));
  TANDEM_RETURN_IF_ERROR(check_storable(name_, t->schema, t->numeric, t->float4, record.key, record.fields));
  Result<std::string> id = t->id(record.key);
  if (!id.ok()) {
    return Status::InvalidArgument(
        fmt::format("{} collection '{}': {}", name_, t->schema.name, id.status().message()));
  }
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  // One statement, one round trip (a write's latency is mostly round trips):
  // the tombstone is cleared by a data-modifying WITH of the same statement.
  std::vector<Param> params = t->record_params(record);
  const size_t first = params.size() + 1;  // the tombstone's parameters, after the record's
  auto statement = [&](const std::string& upsert) {
    if (!options_.keep_tombstones) return upsert;
    return fmt::format(
        "WITH cleared AS (DELETE FROM tandem_tombstones WHERE collection = ${} AND key = ${}) {}", first,
        first + 1, upsert);
  };
  if (options_.keep_tombstones) {
    params.push_back(text_param(t->schema.name));
    params.push_back(bytes_param(std::move(*id)));
  }
  // Unfenced: one statement in its own transaction. Fenced: in the fence's
  // transaction, where nothing is written unless it commits.
  bool fenced = false;
  auto write = [&](const std::string& upsert) -> Status {
    TANDEM_ASSIGN_OR_RETURN(auto fence, fenced_transaction(*conn));
    fenced = fence != nullptr;
    Status s = conn->exec(statement(upsert), params, t->what("writing", record.key, name_)).status();
    if (!fenced) return single_statement_outcome(s);
    return s.ok() ? fence->commit() : s;
  };
  Status s = write(t->respells ? t->respell_upsert_sql : t->upsert_sql);
  // A respelling a foreign key refuses (a table referenced since open) is
  // written again keeping the stored spelling (SqlTable::respells).
  if (!s.ok() && t->respells && s.is_foreign_key()) s = write(t->upsert_sql);
  return s;
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
  TANDEM_ASSIGN_OR_RETURN(auto fence, fenced_transaction(*conn));
  Result<PgResult> r = conn->exec(sql, params, t->what("patching", key, name_));
  if (!r.ok()) return fence ? r.status() : single_statement_outcome(r.status());
  PatchOutcome outcome = PatchOutcome::kPatched;
  if (r->affected() == 0) {
    TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(*conn, *t, key));
    outcome = dead ? PatchOutcome::kTombstoned : PatchOutcome::kNotFound;
  }
  if (fence) TANDEM_RETURN_IF_ERROR(fence->commit());
  return outcome;
}

Status PostgresStore::remove(std::string_view collection, const Key& key) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, {}, true));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  // One statement, as upsert: the row is deleted by a data-modifying WITH
  // of the statement that writes the tombstone.
  std::vector<Param> params;
  std::string sql = t->delete_sql;
  // A key new cannot identify as old does (tandem/key_identity.h) was
  // never written to new: no row, and no tombstone needed (nothing copies
  // it in).
  Result<std::string> id = t->id(key);
  if (!id.ok()) return Status::Ok();
  Param spelling = t->collated() ? bytes_param(key.encode()) : Param{.value = "", .is_null = true};
  if (!holds_key(*t, key)) {
    // No row to delete (a key PostgreSQL cannot hold), only the tombstone.
    if (!options_.keep_tombstones) return Status::Ok();
    return run_write(
        *conn,
        "INSERT INTO tandem_tombstones (collection, key, spelling) VALUES ($1, $2, $3) ON CONFLICT "
        "(collection, key) DO UPDATE SET deleted_at = now(), spelling = excluded.spelling",
        {text_param(t->schema.name), bytes_param(std::move(*id)), spelling}, t->what("deleting", key, name_));
  }
  t->add_key(params, key);
  if (options_.keep_tombstones) {
    sql = fmt::format(
        "WITH gone AS ({}) INSERT INTO tandem_tombstones (collection, key, spelling) VALUES (${}, ${}, ${}) "
        "ON CONFLICT (collection, key) DO UPDATE SET deleted_at = now(), spelling = excluded.spelling",
        t->delete_sql, params.size() + 1, params.size() + 2, params.size() + 3);
    params.push_back(text_param(t->schema.name));
    params.push_back(bytes_param(std::move(*id)));
    params.push_back(spelling);
  }
  return run_write(*conn, sql, params, t->what("deleting", key, name_));
}

Status PostgresStore::run_write(Connection& conn, const std::string& sql, const std::vector<Param>& params,
                                std::string_view what) {
  TANDEM_ASSIGN_OR_RETURN(auto fence, fenced_transaction(conn));
  Status s = conn.exec(sql, params, what).status();
  if (!fence) return single_statement_outcome(s);
  return s.ok() ? fence->commit() : s;
}
}  // namespace tandem::postgres
