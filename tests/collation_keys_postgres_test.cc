// Issue 14, item 2: keys that a MariaDB old compares case-insensitively, in
// a PostgreSQL new. `tandem init` gives new's key column the ICU collation
// tandem_ci (nondeterministic: 'abc' and 'ABC' one key); at open it is
// probed against old's classes, and new identifies keys by old's weights
// narrowed to what both hold alike: printable ASCII without a trailing
// space. Other keys are quarantined by the backfill and refused live.
// Checked by each server's own SQL. Needs the servers scripts/test.sh starts.
#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

using Rows = std::vector<std::vector<std::string>>;

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

Record person(std::string k, std::string v) {
  Record r;
  r.key = Key{Value(std::move(k))};
  r.fields = {{"v", Value(std::move(v))}};
  return r;
}

std::string hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

Config people_config(const TempDir& dir, const std::string& old_url, const std::string& new_url) {
  Config config;
  config.migration_name = "collation_pg";
  config.control_url = "sqlite:" + dir.file("control.db");
  config.old_url = old_url;
  config.new_url = new_url;
  config.collections = {people_schema()};
  return config;
}

// Each server's rows by the bytes of the key: hex(k), v.
Rows old_rows(const std::string& url) {
  return mariadb_rows(url, "SELECT LOWER(HEX(k)), v FROM people ORDER BY CAST(k AS BINARY)");
}
Rows new_rows(const std::string& url) {
  return postgres_rows(url,
                       "SELECT encode(convert_to(k, 'UTF8'), 'hex'), v FROM people ORDER BY k COLLATE \"C\"");
}

// `tandem init` into PostgreSQL, then the migration opened at step.
std::unique_ptr<Migration> init_and_open_at(const Config& config, size_t step) {
  {
    auto old = value_or_die(
        open_store("old", config.old_url, StoreOptions{.keep_tombstones = false, .configure = false}));
    auto fresh = value_or_die(open_store("new", config.new_url, StoreOptions{}));
    auto init = init_new_tables(config, *old, fresh.get(), /*dry_run=*/false);
    EXPECT_TRUE(init.ok()) << init.status().to_string();
  }
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(config, options));
  if (step > 0) EXPECT_OK(m->change_step(step, "test", /*force=*/true));
  return m;
}

// The keys (case, accents, trailing spaces) from MariaDB
// utf8mb4_general_ci into PostgreSQL: the ASCII ones copied with their
// spellings; the others quarantined with the reason; live writes of other
// spellings respell one record in both; a key new cannot hold is refused
// before either database is written. Fails on the code before this change:
// open refused a PostgreSQL new against a collated old.
TEST(CollationKeysPostgres, CiKeysIntoPostgresThroughInit) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_cipg_old");
  PostgresDatabase new_db("tandem_cipg_new");
  mariadb_sql(old_db.url(), kCreateCi);
  const std::vector<std::string> keys = {"abc", "ABD", "Abe", "résumé", "straße", "pad ", "😀x", "a_b"};
  for (size_t i = 0; i < keys.size(); ++i) {
    mariadb_sql(old_db.url(), fmt::format("INSERT INTO people VALUES (CONVERT(X'{}' USING utf8mb4), 'v{}')",
                                          hex(keys[i]), i));
  }
  Config config = people_config(dir, old_db.url(), new_db.url());
  auto m = init_and_open_at(config, 1);
  EXPECT_EQ(postgres_rows(new_db.url(),
                          "SELECT collation_name FROM information_schema.columns WHERE table_name = 'people' "
                          "AND column_name = 'k'"),
            (Rows{{"tandem_ci"}}));
  BackfillOptions one;
  one.workers = 1;
  one.ranges_per_worker = 1;
  one.initial_batch = one.min_batch = one.max_batch = 3;
  auto copied = value_or_die(run_backfill(*m, one));
  EXPECT_TRUE(copied.complete);
  // The four keys PostgreSQL would not identify as MariaDB does, each with
  // its reason.
  auto quarantined = value_or_die(OperatorTools(*m).control().quarantine(100));
  std::map<std::string, std::string> reasons;
  for (const QuarantineEntry& q : quarantined) reasons[q.key_display] = q.reason;
  std::string listed;
  for (const QuarantineEntry& q : quarantined) listed += q.key_display + ": " + q.reason + "\n";
  ASSERT_EQ(reasons.size(), 4u) << listed;
  for (const auto& [key, reason] : reasons) {
    EXPECT_NE(reason.find("tandem_ci"), std::string::npos) << key << ": " << reason;
  }
  bool trailing = false;
  for (const auto& [key, reason] : reasons)
    trailing = trailing || reason.find("trailing space") != std::string::npos;
  EXPECT_TRUE(trailing) << "'pad ' is refused for its trailing space";
  EXPECT_EQ(new_rows(new_db.url()),
            (Rows{{hex("ABD"), "v1"}, {hex("Abe"), "v2"}, {hex("a_b"), "v7"}, {hex("abc"), "v0"}}));

  // Live writes: other spellings of one record respell it in both; a key
  // outside what new holds is refused before either database is written.
  Collection* people = value_or_die(m->collection("people"));
  ASSERT_OK(people->put(person("ABC", "live")));
  ASSERT_OK(people->put(person("RESUME", "live")));  // old's 'résumé' (general_ci: é = e)
  ASSERT_OK(people->put(person("pad", "live")));     // old's 'pad ' (PAD SPACE)
  Status refused = people->put(person("naïve", "live"));
  EXPECT_EQ(refused.code(), Code::kInvalidArgument) << refused.to_string();
  EXPECT_NE(refused.message().find("refused before writing either database"), std::string::npos)
      << refused.message();
  ASSERT_OK(people->remove(Key{Value("abd")}));  // 'ABD', by another spelling
  Rows expected_old = {{hex("ABC"), "live"}, {hex("Abe"), "v2"},   {hex("RESUME"), "live"},
                       {hex("a_b"), "v7"},   {hex("pad"), "live"}, {hex("straße"), "v4"},
                       {hex("😀x"), "v6"}};
  EXPECT_EQ(old_rows(old_db.url()), expected_old);
  EXPECT_EQ(new_rows(new_db.url()), (Rows{{hex("ABC"), "live"},
                                          {hex("Abe"), "v2"},
                                          {hex("RESUME"), "live"},
                                          {hex("a_b"), "v7"},
                                          {hex("pad"), "live"}}));
  // One tombstone, by identity, with the deleted spelling.
  EXPECT_EQ(
      postgres_rows(
          new_db.url(),
          "SELECT COUNT(*) FROM tandem_tombstones WHERE collection = 'people' AND spelling IS NOT NULL"),
      (Rows{{"1"}}));
  // Point reads are class lookups in new too.
  Store& fresh = OperatorTools(*m).store(Side::kNew);
  Lookup l = value_or_die(fresh.get("people", Key{Value("abe")}));
  ASSERT_TRUE(l.present());
  EXPECT_EQ(l.record.key, Key{Value("Abe")});
  EXPECT_TRUE(value_or_die(fresh.get("people", Key{Value("ABD")})).tombstoned());

  // Verify: the two sides order keys differently; the records are the same
  // but for the two quarantined ones still in old.
  VerifyReport report = value_or_die(run_verify(*m, VerifyOptions{}));
  ASSERT_EQ(report.collections.size(), 1u);
  const CollectionVerify& v = report.collections[0];
  EXPECT_EQ(v.missing + v.extra + v.different + v.resurrected, 0) << v.missing << v.extra << v.different;
  EXPECT_EQ(v.quarantined, 2);
  EXPECT_EQ(v.mode, "hashed") << "the two sides order keys differently";
  // A spelling drift in new is one different record; repair respells it.
  postgres_rows(new_db.url(), "UPDATE people SET k = 'abe' WHERE k = 'Abe'");
  VerifyReport drift = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_EQ(drift.collections[0].different, 1);
  EXPECT_EQ(drift.collections[0].missing + drift.collections[0].extra, 0);
  VerifyOptions repair;
  repair.repair = true;
  EXPECT_EQ(value_or_die(run_verify(*m, repair)).collections[0].repaired, 1);
  EXPECT_EQ(postgres_rows(new_db.url(), "SELECT k FROM people WHERE k = 'ABE'"), (Rows{{"Abe"}}));

  // New as the source of truth: old's records new cannot hold are left to
  // the quarantine, never removed from old by --repair (they were, as
  // 'extra'); the service can still delete one (only old's identity is
  // asked for a remove).
  ASSERT_OK(m->change_step(4, "test: write-new", /*force=*/true));
  VerifyReport at_new = value_or_die(run_verify(*m, repair));
  EXPECT_TRUE(at_new.clean());
  EXPECT_EQ(at_new.collections[0].quarantined, 2);
  EXPECT_EQ(mariadb_rows(old_db.url(), "SELECT COUNT(*) FROM people"), (Rows{{"7"}}));
  ASSERT_OK(people->remove(Key{Value("STRAßE")}));
  EXPECT_EQ(mariadb_rows(old_db.url(), "SELECT COUNT(*) FROM people"), (Rows{{"6"}}));
  EXPECT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
}

// The records of a table that a foreign key of old references keep their
// spellings: a write of another spelling updates the values only (respelling the key
// fired old's RESTRICT foreign key, error 1451, and the service's write
// failed; with ON UPDATE CASCADE, old's children were respelled where tandem
// does not see them).
TEST(CollationKeysPostgres, AReferencedRecordKeepsItsSpelling) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_cipg_ref_old");
  PostgresDatabase new_db("tandem_cipg_ref_new");
  mariadb_sql(old_db.url(), kCreateCi);
  mariadb_sql(
      old_db.url(),
      "CREATE TABLE visits (id INT NOT NULL PRIMARY KEY, person VARCHAR(64) CHARACTER SET utf8mb4 COLLATE "
      "utf8mb4_general_ci NOT NULL, FOREIGN KEY (person) REFERENCES people (k)) ENGINE=InnoDB");
  mariadb_sql(old_db.url(), "INSERT INTO people VALUES ('abc', 'v0'), ('lone', 'v1')");
  mariadb_sql(old_db.url(), "INSERT INTO visits VALUES (1, 'abc')");
  auto m = init_and_open_at(people_config(dir, old_db.url(), new_db.url()), 1);
  ASSERT_TRUE(value_or_die(run_backfill(*m, BackfillOptions{})).complete);
  Collection* people = value_or_die(m->collection("people"));
  ASSERT_OK(people->put(person("ABC", "live")));
  ASSERT_OK(people->put(person("LONE", "live")));  // the same table: kept too
  const Rows expected = {{hex("abc"), "live"}, {hex("lone"), "live"}};
  EXPECT_EQ(old_rows(old_db.url()), expected);
  EXPECT_EQ(new_rows(new_db.url()), expected);
  EXPECT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
  // New as the write primary keeps the spelling too, although no foreign key
  // references its table: one rule on both sides (before, new respelled and
  // old kept: a difference no repair removes).
  ASSERT_OK(m->change_step(4, "test: write-new", /*force=*/true));
  ASSERT_OK(people->put(person("ABC", "at write-new")));
  const Rows at_new = {{hex("abc"), "at write-new"}, {hex("lone"), "live"}};
  EXPECT_EQ(old_rows(old_db.url()), at_new);
  EXPECT_EQ(new_rows(new_db.url()), at_new);
  EXPECT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
}

// A nondeterministic collation that keeps case apart (ICU level 3) would
// hold 'a' and 'A' as two records where old holds one: the probe refuses it
// at open, naming a pair.
TEST(CollationKeysPostgres, CaseSensitiveNondeterministicNewRefusedByTheProbe) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_cipg_probe_old");
  PostgresDatabase new_db("tandem_cipg_probe_new");
  mariadb_sql(old_db.url(), kCreateCi);
  postgres_rows(
      new_db.url(),
      "CREATE COLLATION cs_test (provider = icu, locale = 'und-u-ks-level3', deterministic = false)");
  postgres_rows(new_db.url(), "CREATE TABLE people (k TEXT COLLATE cs_test PRIMARY KEY, v TEXT)");
  MigrationOptions options;
  options.register_instance = false;
  auto m = Migration::open(people_config(dir, old_db.url(), new_db.url()), options);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(m.status().message().find("cs_test"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("utf8mb4_general_ci"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("two keys"), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace tandem::testing
