// MariaDbStore's single-record writes (upsert, patch, remove) and the fence
// they run under when a FenceScope applies (tandem/store.h).
#include <fmt/format.h>

#include "stores/mariadb/mariadb_store.h"
#include "stores/mariadb/mariadb_table.h"
#include "stores/sql/fence.h"
#include "stores/sql_text.h"

namespace tandem::mariadb {

Result<std::unique_ptr<SqlTransaction<Connection>>> MariaDbStore::fenced_transaction(Connection& conn) {
  const FenceToken* token = sql::fence_for(options_);
  if (token == nullptr) return std::unique_ptr<SqlTransaction<Connection>>();
  return sql::begin_fenced(
      name_, *token, [&] { return Transaction::begin(conn); },
      [&]() -> Result<FenceToken> {
        // A locking read: it sees the latest committed row, not the
        // transaction's snapshot, and a raise (an UPDATE) waits until this
        // write commits.
        return read_fence_on(conn, " LOCK IN SHARE MODE");
      },
      [&] { return raise_fence_on(conn, *token); });
}

Result<FenceToken> MariaDbStore::read_fence_on(Connection& conn, std::string_view lock) {
  FenceToken fence;
  int64_t role = 0;
  TANDEM_RETURN_IF_ERROR(conn.run(fmt::format("SELECT version, role FROM tandem_fence WHERE id = 1{}", lock),
                                  {}, "reading tandem_fence",
                                  [&](const Row& row) {
                                    fence.version = row.integer(0);
                                    role = row.integer(1);
                                    return Status::Ok();
                                  })
                             .status());
  TANDEM_ASSIGN_OR_RETURN(fence.role, sql::fence_role_of(role));
  return fence;
}

Result<FenceToken> MariaDbStore::read_fence() {
  if (!options_.keep_tombstones) return FenceToken{};
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return read_fence_on(*conn, "");
}

Status MariaDbStore::raise_fence_on(Connection& conn, const FenceToken& token) {
  // One statement in its own transaction, its lock wait bounded for it
  // alone. role first: MariaDB assigns left to right, so it still compares
  // the version before the raise. The values are integers, written in.
  Status s = conn.exec_simple(
      fmt::format(
          "SET STATEMENT innodb_lock_wait_timeout = {} FOR INSERT INTO tandem_fence (id, version, role) "
          "VALUES (1, {}, {}) ON DUPLICATE KEY UPDATE role = IF(version < VALUES(version), VALUES(role), "
          "role), version = GREATEST(version, VALUES(version))",
          (sql::kFenceRaiseTimeoutMs + 999) / 1000, token.version, static_cast<int>(token.role)),
      "raising tandem_fence");
  constexpr unsigned kLockWaitTimeout = 1205;
  if (!s.ok() && conn.last_error() == kLockWaitTimeout) return sql::fence_raise_timed_out(name_, token);
  return s;
}

Status MariaDbStore::raise_fence(const FenceToken& token) {
  if (!options_.keep_tombstones) return Status::Ok();
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  return raise_fence_on(*conn, token);
}

Result<std::unique_ptr<SqlTransaction<Connection>>> MariaDbStore::begin_write(Connection& conn) {
  TANDEM_ASSIGN_OR_RETURN(auto tx, fenced_transaction(conn));
  if (tx) return tx;
  return Transaction::begin(conn);
}

Status MariaDbStore::upsert(std::string_view collection, const Record& record) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_record(record));
  auto statement = [&](bool respell) {
    std::vector<std::string> sets;
    for (const Column& c : t->schema.columns)
      sets.push_back(fmt::format("{0} = VALUES({0})", quote_identifier(c.name)));
    // Under a collation the write's spelling replaces the stored one (see
    // SqlTable::respells). Only over the same record (a class match): a
    // duplicate on another unique index never renames a record.
    if (respell) {
      for (const std::string& k : t->quoted_keys)
        sets.push_back(fmt::format("{0} = IF({0} = VALUES({0}), VALUES({0}), {0})", k));
    }
    if (sets.empty()) sets.push_back(fmt::format("{0} = {0}", t->quoted_keys[0]));
    return fmt::format("INSERT INTO {} ({}) VALUES ({}) ON DUPLICATE KEY UPDATE {}", t->quoted,
                       t->select_list, placeholders(t->schema.key_columns.size() + t->schema.columns.size()),
                       fmt::join(sets, ", "));
  };
  std::vector<Param> params;
  t->add_record(params, record);
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_RETURN_IF_ERROR(
      check_writable(*conn, *t, record.key, record.fields, write_bytes(record.key, record.fields)));
  // A respelling a foreign key refuses (a table referenced since open) is
  // written again keeping the stored spelling.
  auto write = [&]() -> Status {
    Status s = conn->run(statement(t->respells), params, t->what("writing", record.key, name_)).status();
    if (s.ok() || !t->respells || !s.is_foreign_key()) return s;
    return conn->run(statement(false), params, t->what("writing", record.key, name_)).status();
  };
  if (!options_.keep_tombstones) {
    // One statement, one round trip (old keeps no tombstones).
    return single_statement_outcome(write());
  }
  TANDEM_ASSIGN_OR_RETURN(auto tx, begin_write(*conn));
  TANDEM_RETURN_IF_ERROR(write());
  TANDEM_ASSIGN_OR_RETURN(std::string id, t->id(record.key));
  TANDEM_RETURN_IF_ERROR(conn->run("DELETE FROM tandem_tombstones WHERE collection = ? AND \"key\" = ?",
                                   {Param::of(t->schema.name), Param::bytes(std::move(id))},
                                   t->what("clearing the tombstone of", record.key, name_))
                             .status());
  return tx->commit();
}

Result<PatchOutcome> MariaDbStore::patch(std::string_view collection, const Key& key,
                                         const FieldMap& fields) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, fields, /*partial=*/true));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  if (fields.empty()) {
    TANDEM_ASSIGN_OR_RETURN(Lookup l, get_in(*conn, *t, key));
    return l.present()      ? PatchOutcome::kPatched
           : l.tombstoned() ? PatchOutcome::kTombstoned
                            : PatchOutcome::kNotFound;
  }
  std::vector<std::string> sets;
  std::vector<Param> params;
  for (const auto& [name, value] : fields) {
    sets.push_back(fmt::format("{} = ?", quote_identifier(name)));
    auto it = t->value_index.find(name);
    params.push_back(it == t->value_index.end() ? to_param(ColumnType{}, value)
                                                : to_param(t->value_type(it->second), value));
  }
  t->add_key(params, key);
  TANDEM_RETURN_IF_ERROR(check_writable(*conn, *t, key, fields, write_bytes(key, fields)));
  std::string sql = fmt::format("UPDATE {} SET {} WHERE {}", t->quoted, fmt::join(sets, ", "), t->key_match);
  // Fenced: in the fence's transaction, where nothing is written unless it
  // commits. Unfenced: one statement in its own transaction.
  TANDEM_ASSIGN_OR_RETURN(auto fence, fenced_transaction(*conn));
  // The connection reports rows matched (CLIENT_FOUND_ROWS), not rows changed.
  Result<uint64_t> matched = conn->run(sql, params, t->what("patching", key, name_));
  if (!matched.ok()) return fence ? matched.status() : single_statement_outcome(matched.status());
  PatchOutcome outcome = PatchOutcome::kPatched;
  if (*matched == 0) {
    TANDEM_ASSIGN_OR_RETURN(bool dead, tombstoned(*conn, *t, key));
    outcome = dead ? PatchOutcome::kTombstoned : PatchOutcome::kNotFound;
  }
  if (fence) TANDEM_RETURN_IF_ERROR(fence->commit());
  return outcome;
}

Status MariaDbStore::remove(std::string_view collection, const Key& key) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  TANDEM_RETURN_IF_ERROR(t->schema.check_fields(key, {}, true));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  std::vector<Param> params;
  t->add_key(params, key);
  if (!options_.keep_tombstones) {
    return single_statement_outcome(
        conn->run(t->delete_sql, params, t->what("deleting", key, name_)).status());
  }
  TANDEM_ASSIGN_OR_RETURN(std::string id, t->id(key));
  Param spelling = t->collated() ? Param::bytes(key.encode()) : Param::null();
  TANDEM_ASSIGN_OR_RETURN(auto tx, begin_write(*conn));
  TANDEM_RETURN_IF_ERROR(conn->run(t->delete_sql, params, t->what("deleting", key, name_)).status());
  TANDEM_RETURN_IF_ERROR(
      conn->run(t->collated()
                    ? "INSERT INTO tandem_tombstones (collection, \"key\", spelling) VALUES (?, ?, ?) ON "
                      "DUPLICATE KEY UPDATE deleted_at = CURRENT_TIMESTAMP(6), spelling = VALUES(spelling)"
                    : "INSERT INTO tandem_tombstones (collection, \"key\") VALUES (?, ?) ON DUPLICATE KEY "
                      "UPDATE deleted_at = CURRENT_TIMESTAMP(6)",
                t->collated()
                    ? std::vector<Param>{Param::of(t->schema.name), Param::bytes(std::move(id)), spelling}
                    : std::vector<Param>{Param::of(t->schema.name), Param::bytes(std::move(id))},
                t->what("writing the tombstone of", key, name_))
          .status());
  return tx->commit();
}

}  // namespace tandem::mariadb
