// Verify's hashed mode (src/verify/verify_hashed.h): records compared in
// buckets of a hash of their key's identity instead of key ranges. Finds the
// same planted differences as the range mode, a spelling drift under a
// case-insensitive key is one different record, and --repair makes it clean.
// The MariaDB tests need the servers scripts/test.sh starts.
#include "verify/verify_hashed.h"
#include "stores/sqlite/sqlite_connection.h"
#include "tandem/backfill.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

// The counts a verify reports, to compare two modes' reports.
std::vector<int64_t> counts(const CollectionVerify& c) {
  return {c.records, c.undecodable, c.quarantined, c.missing,
          c.extra,   c.different,   c.resurrected, c.remaining};
}

VerifyOptions hashed_options(bool repair = false) {
  VerifyOptions o;
  o.hashed = true;
  o.repair = repair;
  return o;
}

TEST(VerifyHashed, SqliteFindsEveryPlantedDifferenceAndRepairFixesThem) {
  std::vector<Record> records;
  for (int64_t id = 1; id <= 3000; ++id) records.push_back(user(id, fmt::format("user {}", id)));
  MigrationFixture f(records);
  f.jump_to_step(1);
  ASSERT_TRUE(value_or_die(run_backfill(*f.migration, BackfillOptions{})).complete);
  VerifyReport first = value_or_die(run_verify(*f.migration, hashed_options()));
  ASSERT_EQ(first.collections.size(), 1u);
  EXPECT_TRUE(first.clean());
  EXPECT_EQ(first.collections[0].mode, "hashed");
  EXPECT_EQ(first.collections[0].records, 3000);
  EXPECT_EQ(first.collections[0].ranges_checked, 65536);
  EXPECT_EQ(first.collections[0].ranges_mismatched, 0);
  // Without the option, byte keys on both sides: ranges.
  VerifyReport ranges = value_or_die(run_verify(*f.migration, VerifyOptions{}));
  EXPECT_EQ(ranges.collections[0].mode, "ranges");
  EXPECT_EQ(counts(ranges.collections[0]), counts(first.collections[0]));

  // Plant, in new, behind tandem's back.
  Store& n = f.raw(Side::kNew);
  ASSERT_OK(n.remove("users", Key{Value(int64_t{1500})}));                             // missing
  ASSERT_OK(n.upsert("users", user(99999, "extra")));                                  // extra
  ASSERT_OK(n.patch("users", Key{Value(int64_t{2})}, {{"name", Value("tampered")}}));  // different
  ASSERT_OK(f.users->remove(Key{Value(int64_t{2999})}));  // deleted through tandem: tombstone in new...
  {
    // ...then written back into new without clearing the tombstone: resurrected.
    auto conn = value_or_die(sqlite::Connection::open(f.dir.file("new.db"), false, true));
    ASSERT_OK(conn->exec("INSERT INTO users (id, email, name) VALUES (2999, 'zombie@x', 'zombie')"));
  }

  const CollectionVerify c = value_or_die(run_verify(*f.migration, hashed_options())).collections.at(0);
  EXPECT_FALSE(c.clean());
  EXPECT_EQ(c.mode, "hashed");
  EXPECT_EQ(c.records, 2999);
  EXPECT_EQ(c.missing, 1);
  EXPECT_EQ(c.extra, 1);
  EXPECT_EQ(c.different, 1);
  EXPECT_EQ(c.resurrected, 1);
  EXPECT_EQ(c.remaining, 4);
  EXPECT_EQ(c.ranges_checked, 65536);
  EXPECT_GE(c.ranges_mismatched, 1);
  EXPECT_LE(c.ranges_mismatched, 4);
  std::map<std::string, DifferenceKind> kinds;
  for (const Difference& d : c.differences) kinds[d.key.to_display()] = d.kind;
  EXPECT_EQ(kinds, (std::map<std::string, DifferenceKind>{{"1500", DifferenceKind::kMissing},
                                                          {"99999", DifferenceKind::kExtra},
                                                          {"2", DifferenceKind::kDifferent},
                                                          {"2999", DifferenceKind::kResurrected}}));
  EXPECT_FALSE(value_or_die(f.control->latest_verify("users"))->clean);

  // The range mode over the same data counts the same.
  const CollectionVerify by_ranges =
      value_or_die(run_verify(*f.migration, VerifyOptions{})).collections.at(0);
  EXPECT_EQ(by_ranges.mode, "ranges");
  EXPECT_EQ(counts(by_ranges), counts(c));
  // Pass 2 in groups of one bucket (one pass each) finds the same.
  VerifyOptions grouped = hashed_options();
  grouped.hashed_group_records = 1;
  const CollectionVerify small = value_or_die(run_verify(*f.migration, grouped)).collections.at(0);
  EXPECT_EQ(counts(small), counts(c));
  EXPECT_EQ(small.ranges_mismatched, c.ranges_mismatched);

  // The CLI's --hashed reports the mode.
  std::string config = f.write_config_file();
  CliResult cli = run_cli(f.dir, {"--config", config, "verify", "--hashed"});
  EXPECT_NE(cli.exit_code, 0) << cli.out;
  EXPECT_NE(cli.out.find("hashed mode"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("65536 buckets checked"), std::string::npos) << cli.out;

  auto repaired = value_or_die(run_verify(*f.migration, hashed_options(/*repair=*/true)));
  EXPECT_EQ(repaired.collections[0].repaired, 4);
  EXPECT_TRUE(repaired.clean());
  auto again = value_or_die(run_verify(*f.migration, hashed_options()));
  EXPECT_TRUE(again.clean());
  EXPECT_EQ(again.collections[0].records, 2999);
  EXPECT_EQ(again.collections[0].ranges_mismatched, 0);
  EXPECT_TRUE(value_or_die(f.control->latest_verify("users"))->clean);
  // The resurrected record is gone again and its tombstone kept.
  EXPECT_TRUE(value_or_die(n.get("users", Key{Value(int64_t{2999})})).tombstoned());
  EXPECT_TRUE(value_or_die(run_verify(*f.migration, VerifyOptions{})).clean());

  cli = run_cli(f.dir, {"--config", config, "verify", "--hashed", "--json"});
  EXPECT_EQ(cli.exit_code, 0) << cli.out;
  EXPECT_NE(cli.out.find("\"mode\": \"hashed\""), std::string::npos) << cli.out;
}

// Rows that do not decode count as in the range mode: the source's are
// counted apart (the quarantine's business), a copy's differs.
TEST(VerifyHashed, UndecodableRowsCountAsInTheRangeMode) {
  auto make_old = [](const std::string& path) {
    auto conn = value_or_die(sqlite::Connection::open(path, true, false));
    ASSERT_OK(conn->exec(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, age INTEGER, balance TEXT);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
        "INSERT INTO users SELECT i, 'u' || i || '@example.com', 'user ' || i, 30, '10.5' FROM n;"
        "INSERT INTO users VALUES (101, 'a@x', 'wrong type', 'abc', '1');"
        "INSERT INTO users VALUES (102, 'b@x', CAST(x'ff41' AS TEXT), 1, '1');"));
  };
  MigrationFixture f({}, std::chrono::milliseconds(100), true, make_old);
  f.jump_to_step(1);
  ASSERT_TRUE(value_or_die(run_backfill(*f.migration, BackfillOptions{})).complete);
  const CollectionVerify clean = value_or_die(run_verify(*f.migration, hashed_options())).collections.at(0);
  EXPECT_TRUE(clean.clean());
  EXPECT_EQ(clean.records, 100);
  EXPECT_EQ(clean.undecodable, 2);
  EXPECT_EQ(counts(value_or_die(run_verify(*f.migration, VerifyOptions{})).collections.at(0)), counts(clean));

  {
    auto conn = value_or_die(sqlite::Connection::open(f.dir.file("new.db"), false, true));
    ASSERT_OK(conn->exec("UPDATE users SET name = CAST(x'ff41' AS TEXT) WHERE id = 5"));
  }
  const CollectionVerify bad = value_or_die(run_verify(*f.migration, hashed_options())).collections.at(0);
  EXPECT_EQ(bad.different, 1);
  EXPECT_EQ(bad.missing + bad.extra + bad.resurrected, 0);
  EXPECT_EQ(bad.undecodable, 2);
  ASSERT_EQ(bad.differences.size(), 1u);
  EXPECT_EQ(bad.differences[0].key, Key{Value(int64_t{5})});
  EXPECT_NE(bad.differences[0].copy.find("does not decode"), std::string::npos) << bad.differences[0].copy;
  EXPECT_EQ(counts(value_or_die(run_verify(*f.migration, VerifyOptions{})).collections.at(0)), counts(bad));
  const CollectionVerify repaired =
      value_or_die(run_verify(*f.migration, hashed_options(/*repair=*/true))).collections.at(0);
  EXPECT_EQ(repaired.repaired, 1);
  EXPECT_TRUE(repaired.clean());
  EXPECT_TRUE(value_or_die(run_verify(*f.migration, hashed_options())).clean());
}

// MariaDB old and new, the key under utf8mb4_general_ci on both sides.
CollectionSchema people_schema() {
  CollectionSchema s;
  s.name = "people";
  s.key_columns = {{"k", Type::kText, false}};
  s.columns = {{"v", Type::kText, true}};
  return s;
}

const char* const kCreateCi =
    "CREATE TABLE people (k VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL PRIMARY "
    "KEY, v TEXT) ENGINE=InnoDB";

std::unique_ptr<Migration> open_ci(const TempDir& dir, const MariaDbDatabase& old_db,
                                   const MariaDbDatabase& new_db) {
  mariadb_sql(new_db.url(), kCreateCi);
  Config config;
  config.migration_name = "hashed";
  config.control_url = "sqlite:" + dir.file("control.db");
  config.old_url = old_db.url();
  config.new_url = new_db.url();
  config.collections = {people_schema()};
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(config, options));
  EXPECT_OK(m->change_step(1, "test", /*force=*/true));
  return m;
}

TEST(VerifyHashed, MariaDbCiSpellingDriftIsOneDifferentAndRepairRespells) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_hashed_ci_old");
  MariaDbDatabase new_db("tandem_hashed_ci_new");
  mariadb_sql(old_db.url(), kCreateCi);
  mariadb_sql(
      old_db.url(),
      "INSERT INTO people VALUES ('abc', 'v0'), ('ABD', 'v1'), ('Abe', 'v2'), ('b', 'v3'), ('C', 'v4'), "
      "('résumé', 'v5'), ('pad ', 'v6')");
  auto m = open_ci(dir, old_db, new_db);
  BackfillOptions b;
  b.workers = 1;
  b.ranges_per_worker = 1;
  ASSERT_TRUE(value_or_die(run_backfill(*m, b)).complete);
  VerifyReport clean = value_or_die(run_verify(*m, hashed_options()));
  ASSERT_EQ(clean.collections.size(), 1u);
  EXPECT_TRUE(clean.clean());
  EXPECT_EQ(clean.collections[0].mode, "hashed");
  EXPECT_EQ(clean.collections[0].records, 7);
  // Same collation on both sides: ranges unless forced.
  EXPECT_EQ(value_or_die(run_verify(*m, VerifyOptions{})).collections[0].mode, "ranges");

  // Spelling drift: new spells a record otherwise than old; and one record's
  // value differs, spelled alike.
  mariadb_sql(new_db.url(), "UPDATE people SET k = 'ABC' WHERE k = 'abc'");
  mariadb_sql(new_db.url(), "UPDATE people SET v = 'tampered' WHERE k = 'C'");
  const CollectionVerify drift = value_or_die(run_verify(*m, hashed_options())).collections.at(0);
  EXPECT_EQ(drift.mode, "hashed");
  EXPECT_EQ(drift.different, 2);
  EXPECT_EQ(drift.missing, 0);
  EXPECT_EQ(drift.extra, 0);
  EXPECT_EQ(drift.resurrected, 0);
  EXPECT_EQ(drift.records, 7);
  std::set<std::string> keys;
  for (const Difference& d : drift.differences) keys.insert(d.key.to_display());
  EXPECT_EQ(keys.size(), 2u);
  // The range mode over the same data counts the same.
  const CollectionVerify by_ranges = value_or_die(run_verify(*m, VerifyOptions{})).collections.at(0);
  EXPECT_EQ(counts(by_ranges), counts(drift));

  const CollectionVerify repaired =
      value_or_die(run_verify(*m, hashed_options(/*repair=*/true))).collections.at(0);
  EXPECT_EQ(repaired.repaired, 2);
  EXPECT_TRUE(repaired.clean());
  EXPECT_EQ(mariadb_rows(new_db.url(), "SELECT HEX(k), v FROM people WHERE k = 'abc' OR k = 'c' ORDER BY v"),
            (std::vector<std::vector<std::string>>{{"616263", "v0"}, {"43", "v4"}}));
  EXPECT_TRUE(value_or_die(run_verify(*m, hashed_options())).clean());
  EXPECT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
}

// The mode is chosen without the option when both sides identify keys alike
// by their collations but with different weights (orders): real stores over
// tables under different collations.
TEST(VerifyHashed, ChosenWhenBothSidesAreCollatedWithDifferentDigests) {
  MariaDbDatabase a("tandem_hashed_pick_a");
  MariaDbDatabase b("tandem_hashed_pick_b");
  MariaDbDatabase c("tandem_hashed_pick_c");
  mariadb_sql(a.url(), kCreateCi);
  mariadb_sql(b.url(), kCreateCi);
  mariadb_sql(c.url(),
              "CREATE TABLE people (k VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL "
              "PRIMARY KEY, v TEXT) ENGINE=InnoDB");
  auto open = [](const MariaDbDatabase& db) {
    auto s =
        value_or_die(open_store("x", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
    EXPECT_OK(s->ensure_collection(people_schema(), false));
    return s;
  };
  auto sa = open(a), sb = open(b), sc = open(c);
  ASSERT_TRUE(sa->key_identity("people") && sc->key_identity("people"));
  EXPECT_FALSE(verify_uses_hashed(*sa, *sb, "people", false));
  EXPECT_TRUE(verify_uses_hashed(*sa, *sb, "people", true));
  EXPECT_TRUE(verify_uses_hashed(*sa, *sc, "people", false));
}

}  // namespace
}  // namespace tandem::testing
