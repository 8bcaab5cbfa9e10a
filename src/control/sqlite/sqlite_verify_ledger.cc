// The SQLite control store, the verify ledger.
#include <fmt/format.h>

#include "control/sqlite/sqlite_control_store.h"

namespace tandem {

using sqlite::Statement;
using sqlite::Transaction;

// The verify runs.
const char* const kSqliteVerifySchema = R"sql(
CREATE TABLE IF NOT EXISTS tandem_verify_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, at INTEGER NOT NULL,
  step_version INTEGER NOT NULL, clean INTEGER NOT NULL, records INTEGER NOT NULL, missing INTEGER NOT NULL,
  extra INTEGER NOT NULL, different INTEGER NOT NULL, resurrected INTEGER NOT NULL, seconds REAL NOT NULL);
)sql";

Status SqliteControlStore::record_verify(const VerifyRun& r) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare(
          "INSERT INTO tandem_verify_runs (collection, at, step_version, clean, records, missing, extra, "
          "different, resurrected, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
  Statement st(*conn, raw);
  st.bind_text(1, r.collection);
  st.bind_int(2, r.at.time_since_epoch().count());
  st.bind_int(3, r.step_version);
  st.bind_int(4, r.clean ? 1 : 0);
  st.bind_int(5, r.records);
  st.bind_int(6, r.missing);
  st.bind_int(7, r.extra);
  st.bind_int(8, r.different);
  st.bind_int(9, r.resurrected);
  sqlite3_bind_double(st.get(), 10, r.seconds);
  return st.run("recording a verify run");
}

Result<std::optional<VerifyRun>> SqliteControlStore::latest_verify(std::string_view collection) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw, conn->prepare("SELECT id, collection, at, step_version, clean, records, missing, extra, "
                              "different, resurrected, seconds "
                              "FROM tandem_verify_runs WHERE collection = ?1 ORDER BY id DESC LIMIT 1"));
  Statement st(*conn, raw);
  st.bind_text(1, collection);
  TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading the latest verify"));
  if (!row) return std::optional<VerifyRun>();
  return std::optional<VerifyRun>(
      VerifyRun{st.column_int(0), st.column_text(1), from_micros(st.column_int(2)), st.column_int(3),
                st.column_int(4) != 0, st.column_int(5), st.column_int(6), st.column_int(7), st.column_int(8),
                st.column_int(9), sqlite3_column_double(st.get(), 10)});
}

}  // namespace tandem
