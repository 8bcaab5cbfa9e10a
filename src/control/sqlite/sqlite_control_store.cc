// The SQLite control store: opening, the schema, initialize and metadata
// (the concerns are in the files named in sqlite_control_store.h).
#include "control/sqlite/sqlite_control_store.h"

#include <fmt/format.h>

namespace tandem {

using sqlite::Statement;
using sqlite::Transaction;

Status SqliteControlStore::open() {
  TANDEM_RETURN_IF_ERROR(pool_.prime(/*create=*/true).with_context("opening the control store"));
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  for (const char* schema : {kSqliteStepsSchema, kSqliteRepairQuarantineSchema, kSqliteShadowSchema,
                             kSqliteBackfillSchema, kSqliteVerifySchema}) {
    TANDEM_RETURN_IF_ERROR(conn->exec(schema));
  }
  // Control files made before a column was added gain it (the lease each
  // heartbeat records; a range's claim time and count at claim).
  struct Added {
    const char* table;
    const char* column;
  };
  for (Added c : {Added{"tandem_instances", "lease_ms"}, Added{"tandem_backfill_ranges", "claimed_at"},
                  Added{"tandem_backfill_ranges", "claimed_scanned"}}) {
    auto has = [&]() -> Result<bool> {
      TANDEM_ASSIGN_OR_RETURN(auto raw,
                              conn->prepare("SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2"));
      Statement st(*conn, raw);
      st.bind_text(1, c.table);
      st.bind_text(2, c.column);
      TANDEM_ASSIGN_OR_RETURN(bool row, st.step(fmt::format("reading the columns of {}", c.table)));
      return row && st.column_int(0) > 0;
    };
    TANDEM_ASSIGN_OR_RETURN(bool found, has());
    if (found) continue;
    Status added =
        conn->exec(fmt::format("ALTER TABLE {} ADD COLUMN {} INTEGER NOT NULL DEFAULT 0", c.table, c.column));
    if (added.ok()) continue;
    TANDEM_ASSIGN_OR_RETURN(found, has());  // another process added it first
    if (!found)
      return added.with_context(fmt::format("adding {}.{} to the control store", c.table, c.column));
  }
  return Status::Ok();
}

Status SqliteControlStore::initialize(std::string_view fingerprint, size_t plan_size) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*conn, Transaction::Mode::kWrite));
  std::string stored;
  {
    TANDEM_ASSIGN_OR_RETURN(auto raw,
                            conn->prepare("SELECT value FROM tandem_meta WHERE name = 'fingerprint'"));
    Statement st(*conn, raw);
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the config fingerprint"));
    if (row) stored = st.column_text(0);
  }
  if (stored.empty()) {
    TANDEM_RETURN_IF_ERROR(put_meta(*conn, "fingerprint", fingerprint));
    TANDEM_RETURN_IF_ERROR(put_meta(*conn, "created_at", format_time(now_micros())));
    TANDEM_ASSIGN_OR_RETURN(
        auto raw,
        conn->prepare(
            "INSERT INTO tandem_step_state (id, step_index, version, changed_at) VALUES (1, 0, 1, ?1)"));
    Statement st(*conn, raw);
    st.bind_int(1, now_micros().time_since_epoch().count());
    TANDEM_RETURN_IF_ERROR(st.run("initializing the step state"));
  } else if (stored != fingerprint) {
    return Status::Config(
        fmt::format("the plan or collections in the config (fingerprint {}) differ from those this migration "
                    "was started with (fingerprint {}, control store '{}'); restore the original plan and "
                    "collections, or start a new migration with a fresh control store",
                    fingerprint, stored, pool_.path()));
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  TANDEM_ASSIGN_OR_RETURN(StepState s, current_step());
  if (s.step_index >= plan_size) {
    return Status::Corruption(fmt::format("control store '{}' is at step {} but the plan has {} steps",
                                          pool_.path(), s.step_index + 1, plan_size));
  }
  return Status::Ok();
}

Status SqliteControlStore::put_meta(sqlite::Connection& conn, std::string_view name, std::string_view value) {
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn.prepare("INSERT INTO tandem_meta (name, value) VALUES (?1, ?2) ON "
                                                 "CONFLICT (name) DO UPDATE SET value = excluded.value"));
  Statement st(conn, raw);
  st.bind_text(1, name);
  st.bind_text(2, value);
  return st.run("writing control metadata");
}

Result<int64_t> SqliteControlStore::count(const std::string& table) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("SELECT COUNT(*) FROM " + table));
  Statement st(*conn, raw);
  TANDEM_ASSIGN_OR_RETURN(bool row, st.step("counting " + table));
  return row ? st.column_int(0) : 0;
}

Result<std::unique_ptr<ControlStore>> open_sqlite_control_store(std::string_view url) {
  auto store = std::make_unique<SqliteControlStore>(sqlite::path_from_url(url));
  TANDEM_RETURN_IF_ERROR(store->open());
  return std::unique_ptr<ControlStore>(std::move(store));
}

}  // namespace tandem
