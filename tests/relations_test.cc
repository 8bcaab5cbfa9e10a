// Issue 14, relations: old's foreign keys cascade in old (the write primary
// at dual-write); tandem copies the outcome of each child into new with the
// parent, in the same sync, so new has no orphans and every deleted child a
// tombstone (docs/ARCHITECTURE.md, "Relations"). Each way between MariaDB and
// PostgreSQL, checked with each server's own SQL, not through tandem. Needs
// the servers scripts/test.sh starts.
#include <sqlite3.h>

#include <functional>

#include "core/sync_point.h"
#include "tandem/backfill.h"
#include "tandem/control_store.h"
#include "tandem/move_problem.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

using Rows = std::vector<std::vector<std::string>>;

// One database of a pair: its URL, and how to run a statement there.
struct Db {
  std::string url;
  std::function<Rows(const std::string& url, const std::string& sql)> rows;
  std::string run(const std::string& sql) const {
    Rows r = rows(url, sql);
    return r.empty() || r[0].empty() ? "" : r[0][0];
  }
};

const char* const kOrphans =
    "SELECT count(*) FROM salaries s WHERE NOT EXISTS (SELECT 1 FROM employees e WHERE e.emp_no = s.emp_no)";

// The employees sample's shape: 10 employees with 10 salaries each, the
// salaries' foreign key ON DELETE CASCADE (in old only: new is as `tandem
// init` creates it).
void create_old(const Db& old, bool mariadb) {
  std::string engine = mariadb ? " ENGINE=InnoDB" : "";
  old.rows(
      old.url,
      "CREATE TABLE employees (emp_no INT NOT NULL PRIMARY KEY, dept_name VARCHAR(40) NOT NULL)" + engine);
  old.rows(old.url,
           "CREATE TABLE salaries (emp_no INT NOT NULL, from_date DATE NOT NULL, salary INT NOT NULL, "
           "PRIMARY KEY (emp_no, from_date), CONSTRAINT salaries_ibfk_1 FOREIGN KEY (emp_no) REFERENCES "
           "employees (emp_no) ON DELETE CASCADE)" +
               engine);
  std::vector<std::string> employees, salaries;
  for (int e = 10001; e <= 10010; ++e) {
    employees.push_back(fmt::format("({}, 'd{:03}')", e, e % 7));
    for (int y = 0; y < 10; ++y)
      salaries.push_back(fmt::format("({}, '{}-06-26', {})", e, 1986 + y, 50000 + y));
  }
  old.rows(old.url, fmt::format("INSERT INTO employees VALUES {}", fmt::join(employees, ", ")));
  old.rows(old.url, fmt::format("INSERT INTO salaries VALUES {}", fmt::join(salaries, ", ")));
}

Config employees_config(const TempDir& dir, const Db& old, const Db& fresh) {
  CollectionSchema employees;
  employees.name = "employees";
  employees.key_columns = {{"emp_no", Type::kInt, false}};
  employees.columns = {{"dept_name", Type::kText, false}};
  CollectionSchema salaries;
  salaries.name = "salaries";
  salaries.key_columns = {{"emp_no", Type::kInt, false}, {"from_date", Type::kDate, false}};
  salaries.columns = {{"salary", Type::kInt, false}};
  Config config;
  config.migration_name = "relations";
  config.control_url = "sqlite:" + dir.file("control.db");
  config.old_url = old.url;
  config.new_url = fresh.url;
  // Children first in the config: the backfill still copies parents first.
  config.collections = {salaries, employees};
  return config;
}

std::unique_ptr<Migration> dual_write(const Config& config) {
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(init_and_open(config, options));
  EXPECT_OK(m->change_step(1, "test", /*force=*/true));
  return m;
}

Key employee(int64_t emp_no) { return Key{Value(emp_no)}; }

int64_t queued_repairs(Migration& m) {
  int64_t n = 0;
  for (const auto& [side, count] : value_or_die(OperatorTools(m).control().repair_counts())) n += count;
  return n;
}

// Test 1 of docs/design/relations.md: 6 employees removed through tandem at
// dual-write; old cascades 60 salaries; new must hold no orphan, a tombstone
// per removed salary, nothing queued, and verify is clean without --repair.
// Before relations, new kept the 60 salaries as orphans (verify: extra).
void cascade_delete_leaves_no_orphans(const Db& old, bool old_is_mariadb, const Db& fresh) {
  create_old(old, old_is_mariadb);
  TempDir dir;
  Config config = employees_config(dir, old, fresh);
  auto m = dual_write(config);
  ASSERT_EQ(m->relations().size(), 1u);
  const Relation& r = m->relations()[0];
  EXPECT_EQ(r.name, "salaries_ibfk_1");
  EXPECT_EQ(r.child, "salaries");
  EXPECT_EQ(r.parent, "employees");
  EXPECT_EQ(r.columns, std::vector<std::string>{"emp_no"});
  EXPECT_EQ(r.on_delete, ReferentialAction::kCascade);
  BackfillSummary copied = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(copied.complete);
  ASSERT_EQ(copied.collections.size(), 2u);
  EXPECT_EQ(copied.collections[0].collection, "employees") << "parents first, whatever the config's order";
  ASSERT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
  Collection* employees = value_or_die(m->collection("employees"));
  for (int64_t e = 10001; e <= 10006; ++e) ASSERT_OK(employees->remove(employee(e)));

  EXPECT_EQ(old.run("SELECT count(*) FROM salaries"), "40") << "old cascaded";
  EXPECT_EQ(fresh.run(kOrphans), "0") << "salaries left in new without their employee";
  EXPECT_EQ(fresh.run("SELECT count(*) FROM salaries"), "40");
  EXPECT_EQ(fresh.run("SELECT count(*) FROM employees"), "4");
  EXPECT_EQ(fresh.run("SELECT count(*) FROM tandem_tombstones WHERE collection = 'salaries'"), "60");
  EXPECT_EQ(fresh.run("SELECT count(*) FROM tandem_tombstones WHERE collection = 'employees'"), "6");
  EXPECT_EQ(queued_repairs(*m), 0);
  VerifyReport report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(report.clean()) << "verify found differences after the cascade";
}

// Test 4: the backfill reads a batch of salaries, an employee is removed
// through tandem (old cascades its 10 salaries), then the batch is inserted:
// the pre-image gave those salaries tombstones in new, so none comes back.
void backfill_race_leaves_no_zombie_child(const Db& old, bool old_is_mariadb, const Db& fresh) {
  struct ClearSyncPoints {
    ~ClearSyncPoints() { SyncPoints::clear_all(); }
  } clear;
  create_old(old, old_is_mariadb);
  TempDir dir;
  Config config = employees_config(dir, old, fresh);
  auto m = dual_write(config);
  Collection* employees = value_or_die(m->collection("employees"));
  BackfillOptions one_worker;
  one_worker.workers = 1;
  one_worker.ranges_per_worker = 1;
  one_worker.initial_batch = one_worker.min_batch = one_worker.max_batch = 200;
  one_worker.collections = {"employees"};
  ASSERT_TRUE(value_or_die(run_backfill(*m, one_worker)).complete);
  std::atomic<bool> once{false};
  SyncPoints::set("backfill.after_read", [&] {
    if (!once.exchange(true)) EXPECT_OK(employees->remove(employee(10001)));
  });
  one_worker.collections = {"salaries"};
  auto summary = value_or_die(run_backfill(*m, one_worker));
  SyncPoints::clear_all();
  ASSERT_TRUE(summary.complete);
  ASSERT_TRUE(once.load());
  ASSERT_EQ(summary.collections.size(), 1u);
  EXPECT_EQ(summary.collections[0].this_run.tombstoned, 10);
  EXPECT_EQ(fresh.run("SELECT count(*) FROM salaries WHERE emp_no = 10001"), "0");
  EXPECT_EQ(fresh.run(kOrphans), "0");
  EXPECT_EQ(fresh.run("SELECT count(*) FROM salaries"), "90");
  EXPECT_EQ(queued_repairs(*m), 0);
  EXPECT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
}

// Review finding: another writer re-creates the employee between the remove
// in old (which cascaded its salaries) and the remove's sync: the sync finds
// the employee present, and must still copy the cascade's outcome (the
// salaries are gone in old), not leave them in new.
void recreated_parent_keeps_no_cascaded_child(const Db& old, bool old_is_mariadb, const Db& fresh) {
  struct ClearSyncPoints {
    ~ClearSyncPoints() { SyncPoints::clear_all(); }
  } clear;
  create_old(old, old_is_mariadb);
  TempDir dir;
  Config config = employees_config(dir, old, fresh);
  auto m = dual_write(config);
  ASSERT_TRUE(value_or_die(run_backfill(*m, BackfillOptions{})).complete);
  Collection* employees = value_or_die(m->collection("employees"));
  std::optional<Record> before = value_or_die(employees->get(employee(10001)));
  ASSERT_TRUE(before.has_value());
  std::atomic<bool> once{false};
  SyncPoints::set("remove.before_sync", [&] {
    if (!once.exchange(true)) EXPECT_OK(employees->put(*before));  // "instance B"
  });
  ASSERT_OK(employees->remove(employee(10001)));
  SyncPoints::clear_all();
  ASSERT_TRUE(once.load());
  EXPECT_EQ(old.run("SELECT count(*) FROM salaries WHERE emp_no = 10001"), "0") << "old cascaded";
  EXPECT_EQ(fresh.run("SELECT count(*) FROM employees WHERE emp_no = 10001"), "1");
  EXPECT_EQ(fresh.run("SELECT count(*) FROM salaries WHERE emp_no = 10001"), "0")
      << "the cascaded salaries stayed in new";
  EXPECT_EQ(queued_repairs(*m), 0);
  EXPECT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
}

bool has_problem(const std::vector<MoveProblem>& problems, const std::string& text) {
  for (const MoveProblem& p : problems) {
    if (p.what.find(text) != std::string::npos) return true;
  }
  return false;
}

// Tests 2, 6 and 7: `init --constraints` is refused before the backfill and
// a clean verify, then creates the foreign key in new (read back from new's
// catalog); write-new is refused while new lacks it; a delete with the
// foreign key in new leaves no orphan and queues nothing.
void constraints_after_backfill(const Db& old, bool old_is_mariadb, const Db& fresh,
                                const std::string& delete_rule_sql, const std::string& cascade) {
  create_old(old, old_is_mariadb);
  TempDir dir;
  Config config = employees_config(dir, old, fresh);
  auto m = dual_write(config);
  auto refused = create_relations_in_new(*m, /*dry_run=*/false);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("the backfill of 'employees' is not complete"), std::string::npos)
      << refused.status().to_string();
  EXPECT_TRUE(has_problem(value_or_die(m->check_move(4)), "new does not enforce relation salaries_ibfk_1"));

  ASSERT_TRUE(value_or_die(run_backfill(*m, BackfillOptions{})).complete);
  ASSERT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
  std::vector<std::string> dry = value_or_die(create_relations_in_new(*m, /*dry_run=*/true));
  ASSERT_FALSE(dry.empty());
  EXPECT_NE(fmt::format("{}", fmt::join(dry, "\n")).find("FOREIGN KEY"), std::string::npos);
  EXPECT_EQ(fresh.run(delete_rule_sql), "") << "a dry run creates nothing";
  ASSERT_OK(create_relations_in_new(*m, /*dry_run=*/false).status());
  EXPECT_EQ(fresh.run(delete_rule_sql), cascade);
  EXPECT_FALSE(has_problem(value_or_die(m->check_move(4)), "salaries_ibfk_1"));

  Collection* employees = value_or_die(m->collection("employees"));
  ASSERT_OK(employees->remove(employee(10001)));
  EXPECT_EQ(fresh.run(kOrphans), "0");
  EXPECT_EQ(fresh.run("SELECT count(*) FROM salaries"), "90");
  EXPECT_EQ(fresh.run("SELECT count(*) FROM tandem_tombstones WHERE collection = 'salaries'"), "10");
  EXPECT_EQ(queued_repairs(*m), 0);
  EXPECT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
}

// Test 5 (orphans): a salary written into new behind tandem's back, without
// its employee: verify counts it per relation and is not clean.
void verify_counts_orphans(const Db& old, bool old_is_mariadb, const Db& fresh) {
  create_old(old, old_is_mariadb);
  TempDir dir;
  Config config = employees_config(dir, old, fresh);
  auto m = dual_write(config);
  ASSERT_TRUE(value_or_die(run_backfill(*m, BackfillOptions{})).complete);
  fresh.rows(fresh.url, "INSERT INTO salaries VALUES (20001, '1999-01-01', 1)");
  VerifyReport report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_FALSE(report.clean());
  const CollectionVerify* salaries = nullptr;
  for (const CollectionVerify& c : report.collections) {
    if (c.collection == "salaries") salaries = &c;
  }
  ASSERT_NE(salaries, nullptr);
  ASSERT_EQ(salaries->orphans.size(), 1u);
  EXPECT_EQ(salaries->orphans[0].relation, "salaries_ibfk_1");
  EXPECT_EQ(salaries->orphans[0].in_copy, 1);
  EXPECT_EQ(salaries->orphans[0].in_source, 0);
  ASSERT_EQ(salaries->orphans[0].sample.size(), 1u);
  EXPECT_NE(salaries->orphans[0].sample[0].find("20001"), std::string::npos);
}

Db mariadb(const MariaDbDatabase& db) {
  return Db{db.url(), [](const std::string& url, const std::string& sql) {
              if (sql.rfind("SELECT", 0) == 0) return mariadb_rows(url, sql);
              mariadb_sql(url, sql);
              return Rows{};
            }};
}
Db postgres(const PostgresDatabase& db) { return Db{db.url(), postgres_rows}; }

TEST(Relations, CascadeDeleteAtDualWriteLeavesNoOrphansMariaDbToPostgres) {
  MariaDbDatabase old_db("tandem_rel_cascade_old");
  PostgresDatabase new_db("tandem_rel_cascade_new");
  cascade_delete_leaves_no_orphans(mariadb(old_db), true, postgres(new_db));
}

TEST(Relations, CascadeDeleteAtDualWriteLeavesNoOrphansPostgresToMariaDb) {
  PostgresDatabase old_db("tandem_rel_cascade_pg_old");
  MariaDbDatabase new_db("tandem_rel_cascade_maria_new");
  cascade_delete_leaves_no_orphans(postgres(old_db), false, mariadb(new_db));
}

TEST(Relations, BackfillRaceLeavesNoZombieChildMariaDbToPostgres) {
  MariaDbDatabase old_db("tandem_rel_race_old");
  PostgresDatabase new_db("tandem_rel_race_new");
  backfill_race_leaves_no_zombie_child(mariadb(old_db), true, postgres(new_db));
}

TEST(Relations, BackfillRaceLeavesNoZombieChildPostgresToMariaDb) {
  PostgresDatabase old_db("tandem_rel_race_pg_old");
  MariaDbDatabase new_db("tandem_rel_race_maria_new");
  backfill_race_leaves_no_zombie_child(postgres(old_db), false, mariadb(new_db));
}

TEST(Relations, RecreatedParentKeepsNoCascadedChildMariaDbToPostgres) {
  MariaDbDatabase old_db("tandem_rel_recreate_old");
  PostgresDatabase new_db("tandem_rel_recreate_new");
  recreated_parent_keeps_no_cascaded_child(mariadb(old_db), true, postgres(new_db));
}

TEST(Relations, ConstraintsAfterBackfillMariaDbToPostgres) {
  MariaDbDatabase old_db("tandem_rel_constraints_old");
  PostgresDatabase new_db("tandem_rel_constraints_new");
  constraints_after_backfill(
      mariadb(old_db), true, postgres(new_db),
      "SELECT confdeltype::text || convalidated::text FROM pg_constraint WHERE conname = 'salaries_ibfk_1'",
      "ctrue");
}

TEST(Relations, ConstraintsAfterBackfillPostgresToMariaDb) {
  PostgresDatabase old_db("tandem_rel_constraints_pg_old");
  MariaDbDatabase new_db("tandem_rel_constraints_maria_new");
  constraints_after_backfill(postgres(old_db), false, mariadb(new_db),
                             "SELECT DELETE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE "
                             "CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'salaries_ibfk_1'",
                             "CASCADE");
}

TEST(Relations, VerifyCountsOrphansMariaDbToPostgres) {
  MariaDbDatabase old_db("tandem_rel_orphans_old");
  PostgresDatabase new_db("tandem_rel_orphans_new");
  verify_counts_orphans(mariadb(old_db), true, postgres(new_db));
}

TEST(Relations, VerifyCountsOrphansPostgresToMariaDb) {
  PostgresDatabase old_db("tandem_rel_orphans_pg_old");
  MariaDbDatabase new_db("tandem_rel_orphans_maria_new");
  verify_counts_orphans(postgres(old_db), false, mariadb(new_db));
}

// `tandem init` says what it does with each relation and creates the index
// on the child columns in new (every parent delete searches by them), but
// not the foreign key.
// A foreign key new enforces before the copy: the backfill refuses to start,
// naming the relation and the fix, and copies nothing (before, it copied the
// parents and stopped at the first child new refused).
TEST(Relations, BackfillRefusedWhileNewEnforcesARelation) {
  MariaDbDatabase old_db("tandem_rel_enforced_old");
  PostgresDatabase new_db("tandem_rel_enforced_new");
  Db old = mariadb(old_db);
  Db fresh = postgres(new_db);
  create_old(old, /*mariadb=*/true);
  TempDir dir;
  Config config = employees_config(dir, old, fresh);
  auto m = dual_write(config);
  fresh.rows(fresh.url,
             "ALTER TABLE salaries ADD CONSTRAINT salaries_new_fk FOREIGN KEY (emp_no) REFERENCES employees "
             "(emp_no)");
  auto refused = run_backfill(*m, BackfillOptions{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("salaries_new_fk (salaries -> employees)"), std::string::npos)
      << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("tandem init --constraints"), std::string::npos);
  EXPECT_EQ(fresh.run("SELECT count(*) FROM employees"), "0") << "nothing copied";
  // Dropped in new, the copy runs.
  fresh.rows(fresh.url, "ALTER TABLE salaries DROP CONSTRAINT salaries_new_fk");
  EXPECT_TRUE(value_or_die(run_backfill(*m, BackfillOptions{})).complete);
  EXPECT_EQ(fresh.run("SELECT count(*) FROM salaries"), "100");
}

TEST(Relations, InitPrintsEachRelationAndCreatesTheChildIndexOnly) {
  MariaDbDatabase old_db("tandem_rel_init_old");
  PostgresDatabase new_db("tandem_rel_init_new");
  Db old = mariadb(old_db), fresh = postgres(new_db);
  create_old(old, true);
  TempDir dir;
  Config config = employees_config(dir, old, fresh);
  auto old_store = value_or_die(
      open_store("old", config.old_url, StoreOptions{.keep_tombstones = false, .configure = false}));
  auto new_store = value_or_die(open_store("new", config.new_url));
  ASSERT_OK(init_new_tables(config, *old_store, new_store.get(), /*dry_run=*/false).status());
  std::vector<std::string> lines = value_or_die(init_relations(config, *old_store, new_store.get(), false));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(
      lines[0].find("-- relation salaries_ibfk_1: salaries (emp_no) -> employees (emp_no) ON DELETE CASCADE"),
      std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find("tandem init --constraints"), std::string::npos) << lines[0];
  EXPECT_EQ(fresh.run("SELECT count(*) FROM pg_indexes WHERE indexname = 'salaries_ibfk_1_idx'"), "1");
  EXPECT_EQ(fresh.run("SELECT count(*) FROM pg_constraint WHERE contype = 'f'"), "0");
}

// A child whose parent is not configured, with an action that changes it:
// its cascades would never pass through tandem. Refused at open.
TEST(Relations, ForeignKeyToAnUnconfiguredParentThatCascadesIsRefusedAtOpen) {
  MariaDbDatabase old_db("tandem_rel_unconfigured_old");
  PostgresDatabase new_db("tandem_rel_unconfigured_new");
  Db old = mariadb(old_db), fresh = postgres(new_db);
  create_old(old, true);
  TempDir dir;
  Config config = employees_config(dir, old, fresh);
  config.collections.pop_back();  // employees
  MigrationOptions options;
  options.register_instance = false;
  auto m = init_and_open(config, options);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("salaries_ibfk_1"), std::string::npos) << m.status().to_string();
  EXPECT_NE(m.status().message().find("configure collection 'employees'"), std::string::npos)
      << m.status().to_string();
  EXPECT_NE(m.status().message().find("ignore_relations"), std::string::npos) << m.status().to_string();
  // The escape hatch names what it ignores; a name old does not have is refused, listing old's.
  config.ignore_relations = {"salaries_ibfk_9"};
  auto typo = Migration::open(config, options);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("'salaries_ibfk_9', which is not a foreign key of old (old's: "
                                         "salaries_ibfk_1)"),
            std::string::npos)
      << typo.status().to_string();
  config.ignore_relations = {"salaries_ibfk_1"};
  auto opened = Migration::open(config, options);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  EXPECT_TRUE((*opened)->relations().empty());
}

// foreign_keys() reads a two-column key alike in the three engines: columns
// paired in order, both actions; keys_matching finds the children.
CollectionSchema child_schema() {
  CollectionSchema s;
  s.name = "child";
  s.key_columns = {{"id", Type::kInt, false}};
  s.columns = {{"pa", Type::kInt, true}, {"pb", Type::kText, true}};
  return s;
}
const char* const kParentDdl =
    "CREATE TABLE parent (b VARCHAR(20) NOT NULL, a INTEGER NOT NULL, PRIMARY KEY (b, a))";
const char* const kChildDdl =
    "CREATE TABLE child (id INTEGER NOT NULL PRIMARY KEY, pa INTEGER, pb VARCHAR(20), CONSTRAINT "
    "child_parent_fk "
    "FOREIGN KEY (pb, pa) REFERENCES parent (b, a) ON DELETE CASCADE ON UPDATE SET NULL)";
const char* const kRowsSql[] = {
    "INSERT INTO parent VALUES ('x', 1), ('y', 2)",
    "INSERT INTO child VALUES (3, 1, 'x'), (1, 1, 'x'), (2, 2, 'y'), (4, NULL, 'x')"};

void expect_foreign_keys(Store& store, const std::string& name) {
  Relation expected;
  expected.name = name;
  expected.child = "child";
  expected.parent = "parent";
  expected.columns = {"pb", "pa"};
  expected.references = {"b", "a"};
  expected.on_delete = ReferentialAction::kCascade;
  expected.on_update = ReferentialAction::kSetNull;
  EXPECT_EQ(value_or_die(store.foreign_keys()), std::vector<Relation>{expected});
  ASSERT_OK(store.ensure_collection(child_schema(), false));
  FieldMap of_x{{"pa", Value(int64_t{1})}, {"pb", Value(std::string("x"))}};
  EXPECT_EQ(value_or_die(store.keys_matching("child", of_x, 10)),
            (std::vector<Key>{Key{Value(int64_t{1})}, Key{Value(int64_t{3})}}));
  EXPECT_EQ(value_or_die(store.keys_matching("child", of_x, 1)), std::vector<Key>{Key{Value(int64_t{1})}});
  EXPECT_TRUE(value_or_die(store.keys_matching("child", {{"pa", Value()}}, 10)).empty());
}

TEST(Relations, ForeignKeysReadAlikeInTheThreeEngines) {
  {
    MariaDbDatabase db("tandem_rel_fk_maria");
    mariadb_sql(db.url(), kParentDdl);
    mariadb_sql(db.url(), kChildDdl);
    for (const char* sql : kRowsSql) mariadb_sql(db.url(), sql);
    auto store =
        value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
    expect_foreign_keys(*store, "child_parent_fk");
  }
  {
    PostgresDatabase db("tandem_rel_fk_pg");
    postgres_rows(db.url(), kParentDdl);
    postgres_rows(db.url(), kChildDdl);
    for (const char* sql : kRowsSql) postgres_rows(db.url(), sql);
    auto store =
        value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
    expect_foreign_keys(*store, "child_parent_fk");
  }
  {
    TempDir dir;
    std::string path = dir.file("old.db");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    for (std::string sql : {kParentDdl, kChildDdl, kRowsSql[0], kRowsSql[1]}) {
      // SQLite's text type is TEXT (the store reads no VARCHAR as text).
      for (size_t at; (at = sql.find("VARCHAR(20)")) != std::string::npos;) sql.replace(at, 11, "TEXT");
      EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    }
    sqlite3_close(db);
    auto store = value_or_die(
        open_store("old", "sqlite:" + path, StoreOptions{.keep_tombstones = false, .configure = false}));
    expect_foreign_keys(*store, "child_parent_fk0");
  }
}

}  // namespace
}  // namespace tandem::testing
