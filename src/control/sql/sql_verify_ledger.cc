// The control store on a database server, the verify ledger.
#include <fmt/format.h>

#include "control/sql/sql_control_store.h"

namespace tandem::control_sql {

const std::vector<std::string_view> kVerifySchema = {
    "CREATE TABLE IF NOT EXISTS tandem_verify_runs (id $ID, collection $KEYTEXT NOT NULL, at BIGINT NOT "
    "NULL, "
    "step_version BIGINT NOT NULL, clean BIGINT NOT NULL, records BIGINT NOT NULL, missing BIGINT NOT NULL, "
    "extra BIGINT NOT NULL, different BIGINT NOT NULL, resurrected BIGINT NOT NULL, seconds $REAL NOT NULL)"
    "$OPTIONS",
    "CREATE INDEX IF NOT EXISTS tandem_verify_runs_collection ON tandem_verify_runs (collection, id)",
};

Status SqlControlStore::record_verify(const VerifyRun& r) {
  return exec1(
             "INSERT INTO tandem_verify_runs (collection, at, step_version, clean, records, missing, extra, "
             "different, resurrected, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             {Param::of(r.collection), Param::of(micros(r.at)), Param::of(r.step_version),
              Param::of(int64_t{r.clean}), Param::of(r.records), Param::of(r.missing), Param::of(r.extra),
              Param::of(r.different), Param::of(r.resurrected), Param::of(r.seconds)},
             fmt::format("recording a verify run of '{}' in tandem_verify_runs", r.collection))
      .status();
}

Result<std::optional<VerifyRun>> SqlControlStore::latest_verify(std::string_view collection) {
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      query1("SELECT id, collection, at, step_version, clean, records, missing, extra, different, "
             "resurrected, seconds FROM tandem_verify_runs WHERE collection = ? ORDER BY id DESC LIMIT 1",
             {Param::of(collection)},
             fmt::format("reading the latest verify of '{}' in tandem_verify_runs", collection)));
  if (rows.empty()) return std::optional<VerifyRun>();
  const Row& row = rows[0];
  VerifyRun r;
  std::vector<int64_t> n;
  for (size_t i : {0, 2, 3, 4, 5, 6, 7, 8, 9}) {
    TANDEM_ASSIGN_OR_RETURN(int64_t v, as_int(row[i], "a column of tandem_verify_runs"));
    n.push_back(v);
  }
  r.id = n[0];
  r.collection = row[1].value_or("");
  r.at = from_micros(n[1]);
  r.step_version = n[2];
  r.clean = n[3] != 0;
  r.records = n[4];
  r.missing = n[5];
  r.extra = n[6];
  r.different = n[7];
  r.resurrected = n[8];
  TANDEM_ASSIGN_OR_RETURN(r.seconds, as_double(row[10], "tandem_verify_runs.seconds"));
  return std::optional<VerifyRun>(r);
}

}  // namespace tandem::control_sql
