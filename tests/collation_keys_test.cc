// Issue 14, item 2: text keys under case- and accent-insensitive collations.
// A key has a spelling (its bytes, copied and verified exactly) and an
// identity (its class under old's collation): locks, tombstones and
// insert-if-absent compare identities, upsert writes the spelling given.
// Checked against real servers with each server's own SQL (HEX of the key
// bytes). Needs the servers scripts/test.sh starts.
#include <atomic>

#include "core/sync_point.h"
#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

struct ClearSyncPoints {
  ~ClearSyncPoints() { SyncPoints::clear_all(); }
};

CollectionSchema people_schema() {
  CollectionSchema s;
  s.name = "people";
  s.key_columns = {{"k", Type::kText, false}};
  s.columns = {{"v", Type::kText, true}};
  return s;
}

const char* const kCreateCi =
    "CREATE TABLE people (k VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL PRIMARY "
    "KEY, "
    "v TEXT) ENGINE=InnoDB";

Record person(std::string k, std::string v) {
  Record r;
  r.key = Key{Value(std::move(k))};
  r.fields = {{"v", Value(std::move(v))}};
  return r;
}

std::string hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02X}", c);
  return out;
}

// The rows of people as the server holds them: HEX(k), v (ordered by bytes).
std::vector<std::vector<std::string>> rows(const std::string& url) {
  return mariadb_rows(url, "SELECT HEX(k), v FROM people ORDER BY CAST(k AS BINARY)");
}

std::unique_ptr<Store> open_old(const std::string& url) {
  return value_or_die(open_store("old", url, StoreOptions{.keep_tombstones = false, .configure = false}));
}

Config people_config(const TempDir& dir, const std::string& old_url, const std::string& new_url) {
  Config config;
  config.migration_name = "collation";
  config.control_url = "sqlite:" + dir.file("control.db");
  config.old_url = old_url;
  config.new_url = new_url;
  config.collections = {people_schema()};
  return config;
}

// old and new MariaDB, people keyed under utf8mb4_general_ci in both (new's
// table as tandem init would create it: old's declaration), the migration at
// step `step`.
std::unique_ptr<Migration> open_ci(const TempDir& dir, const MariaDbDatabase& old_db,
                                   const MariaDbDatabase& new_db, size_t step) {
  mariadb_sql(new_db.url(), kCreateCi);
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(people_config(dir, old_db.url(), new_db.url()), options));
  if (step > 0) EXPECT_OK(m->change_step(step, "test", /*force=*/true));
  return m;
}

BackfillOptions one_worker(size_t batch = 100) {
  BackfillOptions o;
  o.workers = 1;
  o.ranges_per_worker = 1;
  o.initial_batch = o.min_batch = o.max_batch = batch;
  return o;
}

// Today's refusal asked for an ALTER of old; old is opened as it is and its
// keys are identified by its collation.
TEST(CollationKeys, MariaDbCiKeyOpensWithoutAlter) {
  MariaDbDatabase db("tandem_ci_open");
  mariadb_sql(db.url(), kCreateCi);
  mariadb_sql(db.url(), "INSERT INTO people VALUES ('abc@x', 'one'), ('B@x', 'two')");
  auto old = open_old(db.url());
  ASSERT_OK(old->ensure_collection(people_schema(), false));
  auto identity = old->key_identity("people");
  ASSERT_TRUE(identity && identity->collated());
  EXPECT_EQ(identity->columns()[0]->name(), "utf8mb4_general_ci");
  EXPECT_TRUE(identity->columns()[0]->pad_space());
  EXPECT_EQ(value_or_die(identity->id(Key{Value("ABC@X")})), value_or_die(identity->id(Key{Value("àbc@x")})));
  // A point read is a class lookup in old; the spelling read is old's.
  Lookup l = value_or_die(old->get("people", Key{Value("ABC@X")}));
  ASSERT_TRUE(l.present());
  EXPECT_EQ(l.record.key, Key{Value("abc@x")});
  // Nothing was altered: the column keeps its collation.
  EXPECT_EQ(mariadb_rows(db.url(),
                         "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                         "DATABASE() AND TABLE_NAME = 'people' AND COLUMN_NAME = 'k'"),
            (std::vector<std::vector<std::string>>{{"utf8mb4_general_ci"}}));
}

// A scan in batches of one pages by old's own order ('a' < 'B' < 'c' < 'D' <
// 'é' under general_ci, unlike bytes) and returns each row once.
TEST(CollationKeys, CiScanInBatchesOfOneReturnsEachRowOnce) {
  MariaDbDatabase db("tandem_ci_scan");
  mariadb_sql(db.url(), kCreateCi);
  mariadb_sql(db.url(),
              "INSERT INTO people VALUES ('a', '1'), ('B', '2'), ('c', '3'), ('D', '4'), ('é2', '5')");
  auto old = open_old(db.url());
  ASSERT_OK(old->ensure_collection(people_schema(), false));
  std::vector<Key> keys;
  KeyRange range = KeyRange::all();
  for (int guard = 0; guard < 20; ++guard) {
    ScanBatch b = value_or_die(old->scan_batch("people", range, 1));
    for (const Record& r : b.records) keys.push_back(r.key);
    if (b.end_of_range || !b.last_key) break;
    range = KeyRange::after(*b.last_key, std::nullopt);
  }
  EXPECT_EQ(keys, (std::vector<Key>{Key{Value("a")}, Key{Value("B")}, Key{Value("c")}, Key{Value("D")},
                                    Key{Value("é2")}}));
  EXPECT_EQ(value_or_die(old->split_points("people", KeyRange::all(), 4)).size(), 3u);
}

// Two spellings of one record take one lock (a copy of 'abc' and a copy of
// 'ABC' must exclude each other, copy_record.h).
TEST(CollationKeys, CiCopiesShareOneLock) {
  MariaDbDatabase db("tandem_ci_lock");
  mariadb_sql(db.url(), kCreateCi);
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(people_schema(), false));
  RecordLock held = value_or_die(store->try_lock("people", Key{Value("abc")}));
  ASSERT_TRUE(held.held());
  EXPECT_FALSE(value_or_die(store->try_lock("people", Key{Value("ABC")})).held());
  EXPECT_FALSE(value_or_die(store->try_lock("people", Key{Value("àbc ")})).held());
  EXPECT_TRUE(value_or_die(store->try_lock("people", Key{Value("abd")})).held());
}

// The backfill reads 'a@x'; the service deletes 'A@X' (the same record in
// old); new's tombstone is the identity's, so the backfill's insert of 'a@x'
// meets it: no zombie.
TEST(CollationKeys, CiDeleteOtherSpellingDuringBackfill) {
  ClearSyncPoints clear;
  TempDir dir;
  MariaDbDatabase old_db("tandem_ci_zombie_old");
  MariaDbDatabase new_db("tandem_ci_zombie_new");
  mariadb_sql(old_db.url(), kCreateCi);
  mariadb_sql(old_db.url(), "INSERT INTO people VALUES ('a@x', 'one'), ('b@x', 'two')");
  auto m = open_ci(dir, old_db, new_db, 1);  // dual-write
  Collection* people = value_or_die(m->collection("people"));
  std::atomic<bool> once{false};
  SyncPoints::set("backfill.after_read", [&] {
    if (!once.exchange(true)) EXPECT_OK(people->remove(Key{Value("A@X")}));
  });
  auto summary = value_or_die(run_backfill(*m, one_worker()));
  EXPECT_TRUE(summary.complete);
  EXPECT_EQ(rows(old_db.url()), (std::vector<std::vector<std::string>>{{hex("b@x"), "two"}}));
  EXPECT_EQ(rows(new_db.url()), (std::vector<std::vector<std::string>>{{hex("b@x"), "two"}}));
  EXPECT_EQ(summary.collections[0].this_run.tombstoned, 1);
}

// At write-new, put('ABC') over old's 'abc': one record on each side, spelled
// ABC (the write primary's current spelling wins), with the new value.
TEST(CollationKeys, CiPutOtherSpellingAtWriteNew) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_ci_respell_old");
  MariaDbDatabase new_db("tandem_ci_respell_new");
  mariadb_sql(old_db.url(), kCreateCi);
  mariadb_sql(old_db.url(), "INSERT INTO people VALUES ('abc', 'v1')");
  auto m = open_ci(dir, old_db, new_db, 1);
  ASSERT_TRUE(value_or_die(run_backfill(*m, one_worker())).complete);
  ASSERT_OK(m->change_step(4, "test", /*force=*/true));  // write-new: WP new, WS old
  Collection* people = value_or_die(m->collection("people"));
  ASSERT_OK(people->put(person("ABC", "v2")));
  const std::vector<std::vector<std::string>> expected{{hex("ABC"), "v2"}};
  EXPECT_EQ(rows(new_db.url()), expected);
  EXPECT_EQ(rows(old_db.url()), expected);
  auto got = value_or_die(people->get(Key{Value("abc")}));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, person("ABC", "v2"));
}

// The fixture: keys differing by case, accents and trailing spaces,
// MariaDB general_ci -> MariaDB general_ci. All copied with their spellings;
// verify clean; a spelling drift in new is one different record, which
// --repair respells.
TEST(CollationKeys, CaseAccentAndPadKeysMigrateWithTheirSpellings) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_ci_fixture_old");
  MariaDbDatabase new_db("tandem_ci_fixture_new");
  mariadb_sql(old_db.url(), kCreateCi);
  const std::vector<std::string> keys = {"abc", "ABD", "Abe", "résumé", "straße", "pad ", "😀x"};
  for (size_t i = 0; i < keys.size(); ++i) {
    mariadb_sql(old_db.url(), fmt::format("INSERT INTO people VALUES (CONVERT(X'{}' USING utf8mb4), 'v{}')",
                                          hex(keys[i]), i));
  }
  auto m = open_ci(dir, old_db, new_db, 1);
  ASSERT_TRUE(value_or_die(run_backfill(*m, one_worker(2))).complete);
  Collection* people = value_or_die(m->collection("people"));
  // Live writes of other spellings respell old's record; 'STRASSE' is another
  // record under general_ci (ß = s, not ss).
  ASSERT_OK(people->put(person("RESUME", "live")));
  ASSERT_OK(people->put(person("pad", "live")));
  ASSERT_OK(people->put(person("STRASSE", "live")));
  std::vector<std::vector<std::string>> expected = {
      {hex("ABD"), "v1"}, {hex("Abe"), "v2"},   {hex("RESUME"), "live"}, {hex("STRASSE"), "live"},
      {hex("abc"), "v0"}, {hex("pad"), "live"}, {hex("straße"), "v4"},   {hex("😀x"), "v6"}};
  EXPECT_EQ(rows(old_db.url()), expected);
  EXPECT_EQ(rows(new_db.url()), expected);
  EXPECT_EQ(mariadb_rows(new_db.url(), "SELECT COUNT(*) FROM people"),
            (std::vector<std::vector<std::string>>{{"8"}}));
  VerifyReport clean = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(clean.clean());
  // Spelling drift: new spells a record otherwise than old.
  mariadb_sql(new_db.url(), "UPDATE people SET k = 'ABC' WHERE k = 'abc'");
  VerifyReport drift = value_or_die(run_verify(*m, VerifyOptions{}));
  ASSERT_EQ(drift.collections.size(), 1u);
  EXPECT_EQ(drift.collections[0].different, 1);
  EXPECT_EQ(drift.collections[0].missing + drift.collections[0].extra, 0);
  VerifyOptions repair;
  repair.repair = true;
  VerifyReport repaired = value_or_die(run_verify(*m, repair));
  EXPECT_EQ(repaired.collections[0].repaired, 1);
  EXPECT_EQ(rows(new_db.url()), expected);
  EXPECT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
}

// New must identify keys as old does: a PostgreSQL "C" key column would hold
// 'abc' and 'ABC' as two records where old holds one. Refused at open.
TEST(CollationKeys, NewByteKeyAgainstCollatedOldRefusedAtOpen) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_ci_pg_old");
  PostgresDatabase new_db("tandem_ci_pg_new");
  mariadb_sql(old_db.url(), kCreateCi);
  postgres_rows(new_db.url(), "CREATE TABLE people (k TEXT COLLATE \"C\" PRIMARY KEY, v TEXT)");
  MigrationOptions options;
  options.register_instance = false;
  auto m = Migration::open(people_config(dir, old_db.url(), new_db.url()), options);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(m.status().message().find("utf8mb4_general_ci"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("'k'"), std::string::npos) << m.status().message();
}

// The mirror case: old keeps 'abc' and 'ABC' apart (PostgreSQL), a new
// table made by hand under the server's case-insensitive default would merge
// them: refused at open (accepted before review: the backfill skipped 'ABC').
TEST(CollationKeys, NewCollatedKeyAgainstByteOldRefusedAtOpen) {
  TempDir dir;
  PostgresDatabase old_db("tandem_ci_mirror_old");
  MariaDbDatabase new_db("tandem_ci_mirror_new");
  postgres_rows(old_db.url(), "CREATE TABLE people (k TEXT PRIMARY KEY, v TEXT)");
  mariadb_sql(new_db.url(), kCreateCi);
  MigrationOptions options;
  options.register_instance = false;
  auto m = Migration::open(people_config(dir, old_db.url(), new_db.url()), options);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(m.status().message().find("would merge them"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("'k'"), std::string::npos) << m.status().message();
}

// A PostgreSQL key under a nondeterministic collation makes 'abc' and 'ABC'
// one record; tandem identifies collated keys only from MariaDB/MySQL in this
// version: refused at open (accepted before, a record per spelling).
TEST(CollationKeys, PostgresNondeterministicOldRefused) {
  PostgresDatabase db("tandem_ci_pg_nd");
  postgres_rows(
      db.url(),
      "CREATE COLLATION ci_test (provider = icu, locale = 'und-u-ks-level2', deterministic = false)");
  postgres_rows(db.url(), "CREATE TABLE people (k TEXT COLLATE ci_test PRIMARY KEY, v TEXT)");
  auto old =
      value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
  Status st = old->ensure_collection(people_schema(), false);
  ASSERT_EQ(st.code(), Code::kFailedPrecondition) << st.message();
  EXPECT_NE(st.message().find("'people.k'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("ci_test"), std::string::npos) << st.message();
}

// Language tailorings (contractions) are refused with the reason, naming the
// column and the collation.
TEST(CollationKeys, TailoredCollationRefusedWithTheReason) {
  MariaDbDatabase db("tandem_ci_czech");
  mariadb_sql(
      db.url(),
      "CREATE TABLE people (k VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_czech_ci NOT NULL PRIMARY "
      "KEY, v TEXT)");
  auto old = open_old(db.url());
  Status st = old->ensure_collection(people_schema(), false);
  ASSERT_EQ(st.code(), Code::kFailedPrecondition) << st.message();
  EXPECT_NE(st.message().find("utf8mb4_czech_ci"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("tailoring"), std::string::npos) << st.message();
}

// Other per-character collations: latin1_swedish_ci (8-bit) and a UCA one on
// printable ASCII keys.
TEST(CollationKeys, Latin1AndUnicodeCiKeysAreIdentified) {
  MariaDbDatabase db("tandem_ci_more");
  mariadb_sql(
      db.url(),
      "CREATE TABLE people (k VARCHAR(64) CHARACTER SET latin1 COLLATE latin1_swedish_ci NOT NULL PRIMARY "
      "KEY, v TEXT)");
  mariadb_sql(
      db.url(),
      "CREATE TABLE uca (k VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL PRIMARY "
      "KEY, v TEXT)");
  auto old = open_old(db.url());
  ASSERT_OK(old->ensure_collection(people_schema(), false));
  auto latin1 = old->key_identity("people");
  EXPECT_EQ(value_or_die(latin1->id(Key{Value("Åsa")})), value_or_die(latin1->id(Key{Value("åSA")})));
  EXPECT_FALSE(latin1->id(Key{Value("😀")}).ok());  // latin1 cannot hold it
  CollectionSchema uca = people_schema();
  uca.name = "uca";
  ASSERT_OK(old->ensure_collection(uca, false));
  auto u = old->key_identity("uca");
  EXPECT_EQ(value_or_die(u->id(Key{Value("Hello")})), value_or_die(u->id(Key{Value("hELLO")})));
  auto outside = u->id(Key{Value("Müller")});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("U+00FC"), std::string::npos) << outside.status().message();
}

// A record deleted through tandem as 'ABC' and brought back into new as
// 'abc' (by something other than tandem) is resurrected: the tombstone is
// the identity's, whatever the spelling.
TEST(CollationKeys, CiRowBackUnderAnotherSpellingIsResurrected) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_ci_resurrect_old");
  MariaDbDatabase new_db("tandem_ci_resurrect_new");
  mariadb_sql(old_db.url(), kCreateCi);
  mariadb_sql(old_db.url(), "INSERT INTO people VALUES ('abc', 'v1'), ('abd', 'v2')");
  auto m = open_ci(dir, old_db, new_db, 1);
  ASSERT_TRUE(value_or_die(run_backfill(*m, one_worker())).complete);
  Collection* people = value_or_die(m->collection("people"));
  ASSERT_OK(people->remove(Key{Value("ABC")}));
  mariadb_sql(new_db.url(), "INSERT INTO people VALUES ('abc', 'v1')");
  VerifyReport report = value_or_die(run_verify(*m, VerifyOptions{}));
  ASSERT_EQ(report.collections.size(), 1u);
  EXPECT_EQ(report.collections[0].resurrected, 1);
  EXPECT_EQ(report.collections[0].extra, 0);
}

// UCA collations are identified on printable ASCII only: a key outside it
// is quarantined by the backfill with the reason, and refused for a live
// write before either database is written.
TEST(CollationKeys, UcaKeysOutsideAsciiAreQuarantinedAndRefused) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_ci_uca_old");
  MariaDbDatabase new_db("tandem_ci_uca_new");
  const char* const create =
      "CREATE TABLE people (k VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL PRIMARY "
      "KEY, "
      "v TEXT) ENGINE=InnoDB";
  mariadb_sql(old_db.url(), create);
  mariadb_sql(new_db.url(), create);
  mariadb_sql(old_db.url(), "INSERT INTO people VALUES ('abc', 'v1'), ('Müller', 'v2'), ('zed', 'v3')");
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(people_config(dir, old_db.url(), new_db.url()), options));
  ASSERT_OK(m->change_step(1, "test", /*force=*/true));
  ASSERT_TRUE(value_or_die(run_backfill(*m, one_worker())).complete);
  EXPECT_EQ(rows(new_db.url()),
            (std::vector<std::vector<std::string>>{{hex("abc"), "v1"}, {hex("zed"), "v3"}}));
  auto quarantined = value_or_die(OperatorTools(*m).control().quarantine(10));
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_NE(quarantined[0].reason.find("U+00FC"), std::string::npos) << quarantined[0].reason;
  Collection* people = value_or_die(m->collection("people"));
  Status refused = people->put(person("Müller", "live"));
  EXPECT_EQ(refused.code(), Code::kInvalidArgument) << refused.message();
  EXPECT_NE(refused.message().find("utf8mb4_unicode_ci"), std::string::npos) << refused.message();
  EXPECT_EQ(mariadb_rows(old_db.url(), "SELECT v FROM people WHERE k = 'Müller'"),
            (std::vector<std::vector<std::string>>{{"v2"}}));
}

}  // namespace
}  // namespace tandem::testing
