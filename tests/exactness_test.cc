// Exact or refused (issue 12): verify that cannot be fooled, a backfill that
// survives any single row and gives up on errors that never end, keys that
// are keys, and PostgreSQL values that would be cut or rounded refused per
// record. Compared with independent SQL (libpq, the server's own text), not
// with tandem's codec. The PostgreSQL cases need the server scripts/test.sh
// starts.
#include <thread>

#include "stores/sqlite/sqlite_connection.h"
#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

// A migration of one collection from old_url to new_url (new's table
// created), moved to dual-write: where a backfill runs.
std::unique_ptr<Migration> dual_write_migration(const TempDir& dir, const std::string& old_url,
                                                const std::string& new_url, const CollectionSchema& schema) {
  Config config;
  config.migration_name = "exact";
  config.control_url = "sqlite:" + dir.file("control.db");
  config.old_url = old_url;
  config.new_url = new_url;
  config.collections = {schema};
  auto new_store = value_or_die(open_store("new", config.new_url));
  EXPECT_OK(new_store->ensure_collection(schema, true));
  new_store.reset();
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(init_and_open(config, options));
  EXPECT_OK(m->change_step(1, "test", /*force=*/true));
  return m;
}

// Adds 1 to every digest of new: what a difference that only the databases'
// own text shows looks like to verify (equal records, different digests).
class SkewedDigestStore : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  Result<Digest> digest(std::string_view c, const KeyRange& r) override {
    TANDEM_ASSIGN_OR_RETURN(Digest d, StoreWrapper::digest(c, r));
    d.hash += 1;
    return d;
  }
};

// Issue 12, class 2: "4032 ranges checked, 4032 mismatched" and then CLEAN.
TEST(Exactness, VerifyIsNotCleanWhenDigestsDifferAndNoRecordExplainsIt) {
  std::vector<Record> records;
  for (int64_t id = 1; id <= 500; ++id) records.push_back(user(id, fmt::format("user {}", id)));
  MigrationFixture f(records);
  f.jump_to_step(1);
  ASSERT_TRUE(value_or_die(run_backfill(*f.migration, BackfillOptions{})).complete);
  ASSERT_TRUE(value_or_die(run_verify(*f.migration, VerifyOptions{})).clean());

  SkewedDigestStore skewed(f.new_faulty.get());
  MigrationOptions options;
  options.register_instance = false;
  auto m =
      value_or_die(Migration::open_with(f.config, f.old_faulty.get(), &skewed, f.control.get(), options));
  VerifyOptions o;
  o.ranges = 4;
  auto report = value_or_die(run_verify(*m, o));
  const CollectionVerify& c = report.collections[0];
  EXPECT_FALSE(c.clean());
  EXPECT_FALSE(report.clean());
  EXPECT_GT(c.unexplained, 0);
  EXPECT_EQ(c.unexplained, static_cast<int64_t>(c.unexplained_ranges.size()));
  EXPECT_EQ(c.remaining, 0) << "no record differs";
  EXPECT_FALSE(value_or_die(f.control->latest_verify("users"))->clean);
}

// Fails every insert into new with a retryable error, for ever.
class AlwaysDownStore : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  std::atomic<int64_t> attempts{0};
  Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view, std::span<const Record>,
                                                      LockPolicy) override {
    ++attempts;
    return Status::Unavailable("new is down (injected)");
  }
};

// Issue 12, class 6: an error retried for ever ("server has gone away").
TEST(Exactness, BackfillGivesUpOnARetryableErrorAfterRetryForAndSaysWhere) {
  std::vector<Record> records;
  for (int64_t id = 1; id <= 50; ++id) records.push_back(user(id, "x"));
  MigrationFixture f(records);
  f.jump_to_step(1);
  AlwaysDownStore down(f.new_faulty.get());
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open_with(f.config, f.old_faulty.get(), &down, f.control.get(), options));
  BackfillOptions o;
  o.workers = 1;
  o.retry_for = std::chrono::milliseconds(1500);
  auto started = std::chrono::steady_clock::now();
  auto result = run_backfill(*m, o);
  ASSERT_FALSE(result.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  const std::string& message = result.status().message();
  EXPECT_NE(message.find("giving up"), std::string::npos) << message;
  EXPECT_NE(message.find("'users'"), std::string::npos) << message;
  EXPECT_NE(message.find("new is down"), std::string::npos) << message;
  EXPECT_GT(down.attempts.load(), 1);
}

// Issue 12, class 2: an old table without a key, and a composite key
// configured as its first column, are refused at open naming both keys.
TEST(Exactness, AConfiguredKeyThatIsNotAKeyOfOldIsRefused) {
  TempDir dir;
  {
    auto conn = value_or_die(sqlite::Connection::open(dir.file("old.db"), true, false));
    ASSERT_OK(
        conn->exec("CREATE TABLE users (id INTEGER NOT NULL, email TEXT NOT NULL, name TEXT, age INTEGER, "
                   "balance TEXT)"));
    ASSERT_OK(conn->exec("INSERT INTO users VALUES (1, 'a@x', 'a', 1, '1'), (1, 'b@x', 'b', 2, '2')"));
  }
  auto old = value_or_die(open_store("old", "sqlite:" + dir.file("old.db"),
                                     {.keep_tombstones = false, .configure = false, .read_only = true}));
  Status s = old->ensure_collection(users_schema(), false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("not a key"), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("(id)"), std::string::npos) << s.to_string();

  PostgresDatabase db("tandem_exact_keys");
  psql(db.url(), "CREATE TABLE items (a BIGINT, b BIGINT, v TEXT, PRIMARY KEY (a, b))");
  CollectionSchema narrow{"items", {{"a", Type::kInt, false}}, {{"v", Type::kText, true}}};
  auto postgres_store =
      value_or_die(open_store("old", db.url(), {.keep_tombstones = false, .configure = false}));
  s = postgres_store->ensure_collection(narrow, false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("primary key (a, b)"), std::string::npos) << s.to_string();
  CollectionSchema full{
      "items", {{"a", Type::kInt, false}, {"b", Type::kInt, false}}, {{"v", Type::kText, true}}};
  EXPECT_OK(postgres_store->ensure_collection(full, false));
}

// Issue 12, classes 4, 7, 8: values PostgreSQL would cut, or cannot hold, are
// refused per record naming the field; a key too large for the index is a
// record's fault too (not retryable), so a backfill quarantines it and goes on.
TEST(Exactness, PostgresRefusesWhatItWouldCutOrRoundNamingTheField) {
  PostgresDatabase db("tandem_exact_values");
  auto postgres_store = value_or_die(open_store("new", db.url()));
  CollectionSchema schema{
      "vals",
      {{"k", Type::kText, false}},
      {{"t", Type::kText, true}, {"ts", Type::kTimestamp, true}, {"d", Type::kDecimal, true}}};
  ASSERT_OK(postgres_store->ensure_collection(schema, true));
  auto refused = [&](const Record& r, std::string_view field) {
    auto out =
        postgres_store->insert_if_absent("vals", std::span<const Record>(&r, 1), LockPolicy::kTryLockEach);
    ASSERT_FALSE(out.ok()) << r.to_display();
    EXPECT_EQ(out.status().code(), Code::kInvalidArgument) << out.status().to_string();
    EXPECT_FALSE(out.status().is_retryable());
    EXPECT_NE(out.status().message().find(field), std::string::npos) << out.status().to_string();
    EXPECT_FALSE(postgres_store->upsert("vals", r).ok());
  };
  refused(Record{Key{Value(std::string("k\0x", 3))}, {}}, "key column 'k'");
  refused(Record{Key{Value("a")}, {{"t", Value(std::string("cut\0here", 8))}}}, "field 't'");
  refused(Record{Key{Value("b")}, {{"ts", Value(Timestamp{INT64_MAX})}}}, "field 'ts'");
  std::string big_key;  // that compression cannot shrink under the index's limit
  for (uint64_t x = 1; big_key.size() < 3000; x = x * 6364136223846793005ULL + 1442695040888963407ULL) {
    big_key += static_cast<char>('a' + (x >> 59) % 26);
  }
  refused(Record{Key{Value(big_key)}, {}}, "index");
  EXPECT_TRUE(postgres_rows(db.url(), "SELECT k FROM vals").empty()) << "nothing written";

  // A NUMERIC(6, 2) column of an existing table: PostgreSQL would round 1.005.
  psql(db.url(), "CREATE TABLE money (k TEXT PRIMARY KEY, d NUMERIC(6, 2))");
  CollectionSchema money{"money", {{"k", Type::kText, false}}, {{"d", Type::kDecimal, true}}};
  ASSERT_OK(postgres_store->ensure_collection(money, false));
  Record over{Key{Value("m")}, {{"d", Value(Decimal::parse("1.005").value())}}};
  auto out =
      postgres_store->insert_if_absent("money", std::span<const Record>(&over, 1), LockPolicy::kTryLockEach);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("NUMERIC(6, 2)"), std::string::npos) << out.status().to_string();
  ASSERT_OK(postgres_store->upsert(
      "money", Record{Key{Value("m")}, {{"d", Value(Decimal::parse("1234.5").value())}}}));
  EXPECT_EQ(postgres_rows(db.url(), "SELECT d::text FROM money"),
            (std::vector<std::vector<std::string>>{{"1234.50"}}));
}

// Issue 12, classes 7 and 8: rows of a PostgreSQL old that tandem cannot read
// (an 'infinity' timestamp, a text key that is not UTF-8 in an SQL_ASCII
// database) are quarantined with their key; the copy goes on, counts
// balance, and verify neither fails nor calls the collection unclean for them.
TEST(Exactness, UnreadableRowsOfAPostgresOldAreQuarantinedAndTheCopyGoesOn) {
  PostgresDatabase db("tandem_exact_ascii",
                      "ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'");
  psql(
      db.url(),
      "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT, age BIGINT, balance NUMERIC, "
      "seen TIMESTAMPTZ)");
  std::string rows;
  for (int i = 0; i < 300; ++i) {
    rows += fmt::format("{}('u{:04}', 'u{}@x', 'n', {}, 1.5, '2024-01-01')", i ? ", " : "", i, i, i);
  }
  psql(db.url(), "INSERT INTO users VALUES " + rows);
  psql(db.url(), "INSERT INTO users VALUES ('u0100x', 'inf@x', 'n', 1, 1, 'infinity')");
  psql(db.url(), "INSERT INTO users VALUES (E'u0200\\\\xff', 'bad@x', 'n', 1, 1, '2024-01-01')");
  TempDir dir;
  CollectionSchema schema{"users",
                          {{"id", Type::kText, false}},
                          {{"email", Type::kText, false},
                           {"name", Type::kText, true},
                           {"age", Type::kInt, true},
                           {"balance", Type::kDecimal, true},
                           {"seen", Type::kTimestamp, true}}};
  auto m = dual_write_migration(dir, db.url(), "sqlite:" + dir.file("new.db"), schema);
  BackfillOptions o;
  o.workers = 1;
  o.initial_batch = o.min_batch = 100;
  auto summary = value_or_die(run_backfill(*m, o));
  ASSERT_TRUE(summary.complete);
  const BackfillCounts& n = summary.collections[0].state.counts;
  EXPECT_EQ(n.quarantined, 2);
  EXPECT_EQ(n.copied, 300);
  EXPECT_EQ(n.scanned, 302) << "source count = copied + quarantined";
  auto quarantined = value_or_die(OperatorTools(*m).control().quarantine(10));
  ASSERT_EQ(quarantined.size(), 2u);
  std::string reasons =
      quarantined[0].key_display + quarantined[0].reason + quarantined[1].key_display + quarantined[1].reason;
  EXPECT_NE(reasons.find("u0100x"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("UTF-8"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("infinity"), std::string::npos) << reasons;
  auto report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.collections[0].undecodable, 2);
}

// Issue 12, class 4: text with NUL bytes into PostgreSQL was cut at the NUL
// (keys "k\0x" and "k\0y" merged into "k"). Now each such record is
// quarantined naming the field, the rest of its batch is copied (the batch
// is halved until the bad records are alone), and new holds no cut value.
TEST(Exactness, NulBytesIntoPostgresAreQuarantinedAndTheirBatchIsCopied) {
  PostgresDatabase db("tandem_exact_nul");
  TempDir dir;
  CollectionSchema schema{"notes", {{"k", Type::kText, false}}, {{"v", Type::kText, true}}};
  std::vector<Record> records;
  for (int i = 0; i < 500; ++i)
    records.push_back(Record{Key{Value(fmt::format("n{:04}", i))}, {{"v", Value("ok")}}});
  records.push_back(Record{Key{Value(std::string("k\0x", 3))}, {{"v", Value("x")}}});
  records.push_back(Record{Key{Value(std::string("k\0y", 3))}, {{"v", Value("y")}}});
  records.push_back(Record{Key{Value("v")}, {{"v", Value(std::string("cut\0here", 8))}}});
  (void)create_old_database(dir.file("old.db"), schema, records);
  auto m = dual_write_migration(dir, "sqlite:" + dir.file("old.db"), db.url(), schema);
  BackfillOptions o;
  o.workers = 1;
  o.ranges_per_worker = 1;
  auto summary = value_or_die(run_backfill(*m, o));
  ASSERT_TRUE(summary.complete);
  const BackfillCounts& n = summary.collections[0].state.counts;
  EXPECT_EQ(n.quarantined, 3);
  EXPECT_EQ(n.copied, 500);
  auto rows = postgres_rows(
      db.url(), "SELECT count(*), count(*) FILTER (WHERE k LIKE 'k%' OR v LIKE 'cut%') FROM notes");
  EXPECT_EQ(rows, (std::vector<std::vector<std::string>>{{"500", "0"}})) << "nothing cut, nothing merged";
  auto quarantined = value_or_die(OperatorTools(*m).control().quarantine(10));
  ASSERT_EQ(quarantined.size(), 3u);
  for (const QuarantineEntry& e : quarantined) {
    EXPECT_NE(e.reason.find("NUL byte"), std::string::npos) << e.reason;
  }
  // Verify counts them apart (the quarantine's business), not as missing.
  auto report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.collections[0].quarantined, 3);
  EXPECT_EQ(report.collections[0].missing, 0);
}

// Issue 12, classes 1 and 5: JSON numbers arrive exactly (PostgreSQL's own
// text of them, read with libpq, equals old's), a hand edit of one digit in
// new is found by verify, and a document nested 100,000 levels deep is
// quarantined instead of crashing the backfill and verify.
TEST(Exactness, JsonNumbersArriveExactlyAndAnEditOfOneDigitIsFound) {
  PostgresDatabase db("tandem_exact_json");
  TempDir dir;
  CollectionSchema schema{"docs", {{"id", Type::kInt, false}}, {{"doc", Type::kJson, true}}};
  const std::vector<std::string> numbers = {"3.141592653589793238462643383279", "18446744073709551616",
                                            "1e-400", "-12345678901234567890.000000000000000000001"};
  std::vector<Record> records;
  for (size_t i = 0; i < numbers.size(); ++i) {
    records.push_back(Record{Key{Value(static_cast<int64_t>(i + 1))},
                             {{"doc", Value(Json::parse("{\"a\": " + numbers[i] + "}").value())}}});
  }
  (void)create_old_database(dir.file("old.db"), schema, records);
  {
    // Written by hand, as a service would have: tandem's own writer refuses it.
    auto conn = value_or_die(sqlite::Connection::open(dir.file("old.db"), false, false));
    std::string deep = std::string(100000, '[') + std::string(100000, ']');
    ASSERT_OK(conn->exec("INSERT INTO docs (id, doc) VALUES (99, '" + deep + "')"));
  }
  auto m = dual_write_migration(dir, "sqlite:" + dir.file("old.db"), db.url(), schema);
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  EXPECT_EQ(summary.collections[0].state.counts.copied, 4);
  EXPECT_EQ(summary.collections[0].state.counts.quarantined, 1);
  auto q = value_or_die(OperatorTools(*m).control().quarantine(10));
  ASSERT_EQ(q.size(), 1u);
  EXPECT_NE(q[0].reason.find("nested deeper than 1000"), std::string::npos) << q[0].reason;
  for (size_t i = 0; i < numbers.size(); ++i) {
    // numeric equality in PostgreSQL itself, then its own text of the value
    auto rows = postgres_rows(
        db.url(),
        fmt::format("SELECT (doc->'a')::numeric = {}::numeric FROM docs WHERE id = {}", numbers[i], i + 1));
    EXPECT_EQ(rows, (std::vector<std::vector<std::string>>{{"t"}})) << numbers[i];
  }
  ASSERT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
  postgres_rows(db.url(), "UPDATE docs SET doc = '{\"a\": 3.141592653589793238462643383278}' WHERE id = 1");
  auto report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_FALSE(report.clean());
  EXPECT_EQ(report.collections[0].different, 1);
}

}  // namespace
}  // namespace tandem::testing
