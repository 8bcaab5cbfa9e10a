// Issue 14's acceptance: a realistic schema (the shape of the well-known
// MySQL employees sample: dates, composite keys, case-insensitive text keys,
// unsigned and small integers, ENUM, foreign keys with ON DELETE CASCADE)
// loaded in old, migrated into new under a live workload, MariaDB ->
// PostgreSQL and PostgreSQL -> MariaDB, without altering old. Checked by
// each server's own SQL (rows and orphans, read by the engines' clients, not
// tandem's codec) against a model of every acknowledged write.
// Needs the servers scripts/test.sh starts.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "employees_fixture.h"
#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

using Rows = std::vector<std::vector<std::string>>;

// Every table's rows as the engine prints them, sorted (old and new order
// text keys by different collations).
std::map<std::string, Rows> all_rows(const EmployeesEngine& engine, const std::string& url) {
  std::map<std::string, Rows> out;
  for (const auto& [table, sql] : engine.select_rows) {
    Rows rows = engine.rows(url, sql);
    std::sort(rows.begin(), rows.end());
    out[table] = std::move(rows);
  }
  return out;
}

int64_t orphans(const EmployeesEngine& engine, const std::string& url) {
  Rows r = engine.rows(url, kOrphansSql);
  return r.empty() ? -1 : std::stoll(r[0][0]);
}

void expect_clean_verify(Migration& m, const std::string& when) {
  auto report = value_or_die(run_verify(m, VerifyOptions{}));
  for (const CollectionVerify& c : report.collections) {
    EXPECT_TRUE(c.clean()) << when << ": verify of " << c.collection << " not clean (" << c.remaining
                           << " remaining, " << c.unexplained << " unexplained)";
  }
}

void migrate_under_load(const EmployeesEngine& old_engine, const std::string& old_url,
                        const EmployeesEngine& new_engine, const std::string& new_url) {
  old_engine.load(old_url);
  const auto old_schema_before = old_engine.rows(old_url, old_engine.schema_sql);
  ASSERT_FALSE(old_schema_before.empty());
  EmployeesModel model = EmployeesModel::of_loaded(old_engine.case_insensitive);

  TempDir dir;
  Config config = employees_config(dir.file("control.db"), old_url, new_url);
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(init_and_open(config, options));
  ASSERT_OK(m->change_step(1, "acceptance: dual write", /*force=*/false).status());

  // The live workload runs while the backfill copies.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937 random(14);
    while (!stop.load()) model.random_write(*m, random);
  });
  auto backfill = run_backfill(*m, BackfillOptions{});
  stop = true;
  writer.join();
  ASSERT_OK(backfill.status());
  EXPECT_TRUE(backfill->complete);
  expect_clean_verify(*m, "after the backfill");
  EXPECT_EQ(orphans(new_engine, new_url), 0) << "orphans in new at dual write";

  // New gets the foreign keys once the copy is complete and verified, then
  // the plan walks to write-new and the workload goes on with new as the
  // write primary (its cascades copied into old).
  auto created = create_relations_in_new(*m, /*dry_run=*/false);  // `tandem init --constraints`
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  EXPECT_EQ(created->size(), 4u) << fmt::format("{}", fmt::join(*created, "\n"));
  for (size_t step = 2; step <= 4; ++step) {
    auto moved = m->change_step(step, "acceptance: forward", /*force=*/false);
    ASSERT_TRUE(moved.ok()) << "step " << step + 1 << ": " << moved.status().to_string();
  }
  std::mt19937 random(15);
  for (int i = 0; i < 300; ++i) model.random_write(*m, random);
  expect_clean_verify(*m, "at write-new");

  // Both databases hold what the model says, by their own SQL.
  auto in_old = all_rows(old_engine, old_url);
  auto in_new = all_rows(new_engine, new_url);
  auto expected = model.rows();
  for (const auto& [table, rows] : expected) {
    EXPECT_EQ(in_old[table].size(), rows.size()) << table << " count in old";
    EXPECT_EQ(in_new[table].size(), rows.size()) << table << " count in new";
    EXPECT_TRUE(in_old[table] == rows) << table << ": old differs from the model";
    EXPECT_TRUE(in_new[table] == rows) << table << ": new differs from the model";
  }
  EXPECT_GT(model.writes(), 300u);
  EXPECT_GT(model.cascaded(), 0u) << "the workload removed employees with children";
  EXPECT_EQ(orphans(old_engine, old_url), 0);
  EXPECT_EQ(orphans(new_engine, new_url), 0);
  EXPECT_EQ(old_engine.rows(old_url, old_engine.schema_sql), old_schema_before) << "old's schema was altered";
}

// The sample's text keys by bytes (COLLATE utf8mb4_bin).
TEST(EmployeesAcceptance, MariaDbToPostgresUnderLoad) {
  MariaDbDatabase old_db("tandem_employees_old");
  PostgresDatabase new_db("tandem_employees_new");
  migrate_under_load(mariadb_employees(/*ci_keys=*/false), old_db.url(), postgres_employees(), new_db.url());
}

TEST(EmployeesAcceptance, PostgresToMariaDbUnderLoad) {
  PostgresDatabase old_db("tandem_employees_pg_old");
  MariaDbDatabase new_db("tandem_employees_maria_new");
  migrate_under_load(postgres_employees(), old_db.url(), mariadb_employees(false), new_db.url());
}

// The sample as it is declared (every key case-insensitive) into
// PostgreSQL: `tandem init` gives new's text keys the ICU collation
// tandem_ci, probed against old's at open; verify compares the two sides by
// a hash of each key's identity (they order keys differently).
TEST(EmployeesAcceptance, MariaDbCaseInsensitiveKeysToPostgresUnderLoad) {
  MariaDbDatabase old_db("tandem_employees_cipg_old");
  PostgresDatabase new_db("tandem_employees_cipg_new");
  migrate_under_load(mariadb_employees(/*ci_keys=*/true), old_db.url(), postgres_employees(), new_db.url());
}

// The sample as it is declared (every key case-insensitive) into a MariaDB
// new that `tandem init` gives old's collation: titles respelled in another
// case by the workload stay one record, spelled as last written.
TEST(EmployeesAcceptance, MariaDbCaseInsensitiveKeysToMariaDbUnderLoad) {
  MariaDbDatabase old_db("tandem_employees_ci_old");
  MariaDbDatabase new_db("tandem_employees_ci_new");
  migrate_under_load(mariadb_employees(/*ci_keys=*/true), old_db.url(), mariadb_employees(true),
                     new_db.url());
}

}  // namespace
}  // namespace tandem::testing
