// What is particular to the PostgreSQL store: an account that can only read
// old, a connection the server drops, and passwords kept out of URLs and
// messages. Needs the server scripts/test.sh starts (fails without it).
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "core/sync_point.h"
#include "stores/postgres/postgres_connection.h"
#include "stores/sqlite/sqlite_connection.h"
#include "tandem/backfill.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

TEST(PostgresOld, BackfillAndVerifyWithAnAccountThatCanOnlyRead) {
  PostgresDatabase db("tandem_readonly_old");
  std::string owner = db.url();
  psql(owner,
       "CREATE TABLE users (id BIGINT PRIMARY KEY, email TEXT NOT NULL, name TEXT, age INTEGER, balance "
       "NUMERIC(12,2));"
       "INSERT INTO users SELECT i, 'u' || i || '@example.com', 'user ' || i, 30, 10.50 FROM "
       "generate_series(1, 500) i;"
       "DROP ROLE IF EXISTS tandem_reader; CREATE ROLE tandem_reader LOGIN;"
       "GRANT SELECT ON users TO tandem_reader;");
  TempDir dir;
  Config config;
  config.old_url = db.url("tandem_reader");
  config.new_url = "sqlite:" + dir.file("new.db");
  config.control_url = "sqlite:" + dir.file("control.db");
  config.collections = {users_schema()};
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(config, options));
  // The account really cannot write old.
  Status refused = m->store(Side::kOld).upsert("users", user(1, "x"));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("permission denied"), std::string::npos) << refused.message();

  ASSERT_OK(m->change_step(1, "test", false));
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  EXPECT_EQ(summary.collections[0].state.counts.copied, 500);
  // NUMERIC(12,2) gives "10.50"; the canonical decimal is 10.5 on both sides.
  EXPECT_EQ(value_or_die(m->store(Side::kNew).get("users", Key{Value(int64_t{7})})).record,
            user(7, "user 7"));
  auto report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.collections[0].records, 500);
  m.reset();
  psql(owner, "DROP OWNED BY tandem_reader; DROP ROLE tandem_reader");
}

TEST(PostgresStore, ADroppedConnectionIsRetryableAndTheNextCallReconnects) {
  PostgresDatabase db("tandem_reconnect");
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(users_schema(), true));
  ASSERT_OK(store->upsert("users", user(1, "one")));
  // The server ends every other session of this database (ours, idle in the pool).
  psql(db.url(),
       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
       "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  auto first = store->get("users", Key{Value(int64_t{1})});
  if (!first.ok()) {
    EXPECT_EQ(first.status().code(), Code::kUnavailable) << first.status().to_string();
    EXPECT_TRUE(first.status().is_retryable());
  }
  auto again = store->get("users", Key{Value(int64_t{1})});
  ASSERT_OK(again);
  EXPECT_EQ(again->record, user(1, "one"));
}

// The target server stops in the middle of the backfill and starts again:
// the copy waits and retries, live writes whose copy to new failed meanwhile
// are in the repair queue, `tandem repair` drains them, and verify is clean.
TEST(PostgresTarget, StoppedInTheMiddleOfTheBackfillAndStartedAgain) {
  const char* url = std::getenv("TANDEM_TEST_POSTGRES_RESTART_URL");
  const char* stop = std::getenv("TANDEM_TEST_POSTGRES_RESTART_STOP");
  const char* start = std::getenv("TANDEM_TEST_POSTGRES_RESTART_START");
  ASSERT_TRUE(url != nullptr && stop != nullptr && start != nullptr)
      << "run the tests through scripts/test.sh, which starts the server this test stops";
  std::string admin = url;
  psql(admin, "DROP DATABASE IF EXISTS tandem_restart WITH (FORCE)");
  psql(admin, "CREATE DATABASE tandem_restart");
  std::string target = admin.substr(0, admin.rfind('/') + 1) + "tandem_restart";

  std::vector<Record> records;
  for (int64_t id = 1; id <= 20000; ++id) records.push_back(user(id, fmt::format("user {}", id)));
  MigrationFixture f(records, std::chrono::milliseconds(100), true, nullptr, target);
  f.jump_to_step(1);  // dual-write: new (PostgreSQL) is the write secondary
  std::atomic<bool> done{false};
  std::atomic<int64_t> writes{0};
  std::thread service([&] {
    for (int64_t i = 0; !done; ++i) {
      EXPECT_OK(
          f.users->put(user(1 + (i * 7919) % 20000, fmt::format("live {}", i))));  // WP is old: never fails
      ++writes;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  BackfillOptions o;
  o.workers = 2;
  o.max_rows_per_second = 8000;
  BackfillSummary summary;
  std::thread backfill([&] { summary = value_or_die(run_backfill(*f.migration, o)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  ASSERT_EQ(std::system(stop), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_EQ(std::system(fmt::format("{} >/dev/null", start).c_str()), 0);
  backfill.join();
  done = true;
  service.join();

  ASSERT_TRUE(summary.complete);
  EXPECT_EQ(summary.collections[0].state.counts.scanned, 20000);
  int64_t queued = value_or_die(f.control->repair_counts())[Side::kNew];
  EXPECT_GT(queued, 0) << "no live write hit the outage (" << writes << " writes)";

  // `tandem repair` drains the queue; then new equals old.
  std::string config = f.write_config_file();
  CliResult repair = run_cli(f.dir, {"--config", config, "repair"});
  EXPECT_EQ(repair.exit_code, 0) << repair.out;
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kNew], 0);
  auto report = value_or_die(run_verify(*f.migration, VerifyOptions{}));
  EXPECT_TRUE(report.clean()) << report.collections[0].missing << " missing, "
                              << report.collections[0].different << " different";
  f.migration.reset();
  f.new_faulty.reset();
  f.new_counting.reset();
  f.new_sqlite.reset();
  psql(admin, "DROP DATABASE IF EXISTS tandem_restart WITH (FORCE)");
}

// Records that new refuses (a value too long for its column, NULL where new
// is stricter than old) and records old cannot decode (broken JSON) are
// quarantined with the reason; the rest is copied and the counts balance.
// A service's non-canonical JSON compares equal to PostgreSQL's JSONB.
TEST(PostgresTarget, RecordsNewRefusesAreQuarantinedAndCountsBalance) {
  PostgresDatabase db("tandem_bad_input");
  // New as an operator made it: stricter than old.
  psql(db.url(),
       "CREATE TABLE docs (id BIGINT PRIMARY KEY, title VARCHAR(10) NOT NULL, body JSONB NOT NULL, "
       "note TEXT NOT NULL)");
  TempDir dir;
  {
    auto conn = value_or_die(sqlite::Connection::open(dir.file("old.db"), true, false));
    ASSERT_OK(conn->exec(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT, note TEXT);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) "
        "INSERT INTO docs SELECT i, 'doc ' || i, '{\"b\": [1, 2], \"a\": ' || i || '}', 'ok' FROM n;"
        "INSERT INTO docs VALUES (51, 'a title far too long for new', '{}', 'ok');"
        "INSERT INTO docs VALUES (52, 'no note', '{}', NULL);"
        "INSERT INTO docs VALUES (53, 'broken', '{\"a\": ', 'ok');"));
  }
  Config config;
  config.old_url = "sqlite:" + dir.file("old.db");
  config.new_url = db.url();
  config.control_url = "sqlite:" + dir.file("control.db");
  CollectionSchema docs;
  docs.name = "docs";
  docs.key_columns = {{"id", Type::kInt, false}};
  docs.columns = {{"title", Type::kText, true}, {"body", Type::kJson, true}, {"note", Type::kText, true}};
  config.collections = {docs};
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(config, options));
  ASSERT_OK(m->change_step(1, "test", false));
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  const BackfillCounts& c = summary.collections[0].state.counts;
  EXPECT_EQ(c.scanned, 53);
  EXPECT_EQ(c.copied, 50);
  EXPECT_EQ(c.quarantined, 3);
  EXPECT_EQ(c.scanned, c.copied + c.present + c.locked + c.tombstoned + c.quarantined);
  std::map<std::string, std::string> reasons;
  for (const QuarantineEntry& e : value_or_die(m->control().quarantine(10)))
    reasons[e.key_display] = e.reason;
  EXPECT_NE(reasons["51"].find("too long"), std::string::npos) << reasons["51"];
  EXPECT_NE(reasons["52"].find("null value"), std::string::npos) << reasons["52"];
  EXPECT_NE(reasons["53"].find("invalid JSON"), std::string::npos) << reasons["53"];
  // Non-canonical JSON in old and JSONB in new compare equal where both hold the record.
  auto in_new = value_or_die(m->store(Side::kNew).get("docs", Key{Value(int64_t{7})}));
  EXPECT_EQ(in_new.record.fields.at("body"), Value(Json::parse(R"({"a":7,"b":[1,2]})").value()));
  EXPECT_EQ(in_new.record, value_or_die(m->store(Side::kOld).get("docs", Key{Value(int64_t{7})})).record);
  KeyRange first_fifty{std::nullopt, Key{Value(int64_t{51})}};
  EXPECT_EQ(value_or_die(m->store(Side::kOld).digest("docs", first_fifty)),
            value_or_die(m->store(Side::kNew).digest("docs", first_fifty)));
}

TEST(PostgresConnection, PasswordsComeFromAFileOrTheEnvironmentAndNeverShow) {
  TempDir dir;
  {
    std::ofstream f(dir.file("pw"));
    f << "s3cret-from-file\n";
  }
  auto spec = value_or_die(pg::ConnectionSpec::parse(
      fmt::format("postgres://app@db:5432/x?sslmode=require&password_file={}", dir.file("pw"))));
  EXPECT_EQ(spec.password, "s3cret-from-file");
  EXPECT_EQ(spec.conninfo, "postgres://app@db:5432/x?sslmode=require")
      << "tandem's own parameters are removed";
  setenv("TANDEM_TEST_PW", "s3cret-from-env", 1);
  spec = value_or_die(pg::ConnectionSpec::parse("postgres://app@db/x?password_env=TANDEM_TEST_PW"));
  EXPECT_EQ(spec.password, "s3cret-from-env");
  EXPECT_EQ(spec.conninfo, "postgres://app@db/x");
  auto missing = pg::ConnectionSpec::parse("postgres://app@db/x?password_env=TANDEM_NO_SUCH_VAR");
  EXPECT_EQ(missing.status().code(), Code::kConfig);
  EXPECT_NE(missing.status().message().find("TANDEM_NO_SUCH_VAR"), std::string::npos);
  // A password in the URL itself never reaches an error message.
  auto failed = open_store("old", "postgres://app:hunter2@127.0.0.1:1/x");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message().find("hunter2"), std::string::npos) << failed.status().message();
  EXPECT_TRUE(failed.status().is_retryable());
}

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// libpq's TLS parameters pass through: verified against the test CA the
// session is encrypted; against a CA that signed nothing it is refused.
TEST(PostgresConnection, TlsOptionsPassThroughAndAreEnforced) {
  const char* ca = std::getenv("TANDEM_TEST_TLS_CA");
  const char* other = std::getenv("TANDEM_TEST_OTHER_CA");
  ASSERT_TRUE(ca != nullptr && other != nullptr)
      << "run the tests through scripts/test.sh, which makes the CA";
  std::string base = postgres_admin_url();
  auto spec = value_or_die(pg::ConnectionSpec::parse(base + "?sslmode=verify-full&sslrootcert=" + ca));
  auto conn = value_or_die(pg::Connection::open(spec));
  auto r =
      value_or_die(conn->exec("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", {}, "reading ssl"));
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.text(0, 0), "t") << "the session is not encrypted";
  auto refused = pg::Connection::open(
      value_or_die(pg::ConnectionSpec::parse(base + "?sslmode=verify-ca&sslrootcert=" + other)));
  ASSERT_FALSE(refused.ok()) << "a server certificate not signed by the given CA was accepted";
}

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// Found by a 1M-row copy: one transaction took an advisory lock per record,
// and a batch larger than the server's lock table (max_locks_per_transaction
// x max_connections, 19,200 on the test server) failed with "out of shared
// memory". A large batch now goes in parts.
TEST(PostgresStore, ABatchLargerThanTheLockTableIsInsertedInParts) {
  PostgresDatabase db("tandem_big_batch");
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(users_schema(), true));
  std::vector<Record> batch;
  for (int64_t id = 1; id <= 60000; ++id) batch.push_back(user(id, "n"));
  auto outcomes = value_or_die(store->insert_if_absent("users", batch, LockPolicy::kTryLockEach));
  ASSERT_EQ(outcomes.size(), batch.size());
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), InsertOutcome::kInserted), 60000);
  EXPECT_EQ(value_or_die(store->count("users", KeyRange::all())), 60000u);
}

// A fresh database with the users collection, through two stores (the
// copier's and another writer's); sync points are cleared at the end.
struct TwoStores {
  explicit TwoStores(const std::string& name)
      : db(name),
        store(value_or_die(open_store("new", db.url()))),
        other(value_or_die(open_store("other", db.url()))) {
    EXPECT_OK(store->ensure_collection(users_schema(), true));
    EXPECT_OK(other->ensure_collection(users_schema(), true));
  }
  ~TwoStores() { SyncPoints::clear_all(); }
  TwoStores(const TwoStores&) = delete;
  TwoStores& operator=(const TwoStores&) = delete;

  PostgresDatabase db;
  std::unique_ptr<Store> store, other;
};

// A batch of records 1..50 in which another writer wrote record 25 first:
// it is reported present and keeps that writer's version; the rest are inserted.
void expect_only_25_arrived_first(Store& store, const std::vector<InsertOutcome>& outcomes) {
  ASSERT_EQ(outcomes.size(), 50u);
  for (size_t i = 0; i < 50; ++i) {
    EXPECT_EQ(outcomes[i], i == 24 ? InsertOutcome::kAlreadyPresent : InsertOutcome::kInserted) << i;
  }
  EXPECT_EQ(value_or_die(store.get("users", Key{Value(int64_t{25})})).record.fields.at("name"),
            Value("arrived meanwhile"));
}

// The bulk path checks which keys are present, then COPYs the others. A key
// that arrives in between (written without a record lock, which tandem's own
// writers always take) makes the COPY fail; the part is then inserted by
// statements, and that record is reported present, never overwritten.
TEST(PostgresStore, AKeyInsertedBetweenThePresenceCheckAndTheCopyIsReportedPresent) {
  TwoStores two("tandem_copy_race");
  auto& store = two.store;
  auto& other = two.other;
  // A first batch meets a present key, so that the table's next batches ask
  // for present keys before their COPY (see the next test).
  ASSERT_OK(other->upsert("users", user(1000, "there")));
  std::vector<Record> first;
  for (int64_t id = 1000; id < 1010; ++id) first.push_back(user(id, "first"));
  ASSERT_OK(store->insert_if_absent("users", first, LockPolicy::kNone).status());
  int hits = 0;
  SyncPoints::set("postgres.before_copy", [&] {
    if (hits++ == 0) ASSERT_OK(other->upsert("users", user(25, "arrived meanwhile")));
  });
  std::vector<Record> batch;
  for (int64_t id = 1; id <= 50; ++id) batch.push_back(user(id, "copied"));
  auto outcomes = value_or_die(store->insert_if_absent("users", batch, LockPolicy::kNone));
  EXPECT_GE(hits, 1) << "the bulk path ran";
  expect_only_25_arrived_first(*store, outcomes);
  EXPECT_EQ(value_or_die(store->count("users", KeyRange::all())), 60u);
}

// psql's output for one query (-At: unaligned, tuples only).
std::string psql_output(const std::string& url, const std::string& sql) {
  std::string cmd = fmt::format("psql '{}' -X -At -c \"{}\" 2>&1", url, sql);
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out;
}

TEST(PostgresStore, AWriteWhoseConnectionIsLostWhileItRunsHasAnUnknownOutcome) {
  // A write is one statement in its own transaction: once sent, it may have
  // committed when the connection breaks, so the caller must not take it as
  // not done. Another session holds the row so that the write waits in the
  // server, and a third ends the writer's backend.
  PostgresDatabase db("tandem_lost_write");
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(users_schema(), true));
  ASSERT_OK(store->upsert("users", user(1, "before")));
  std::thread holder([&] {
    psql(db.url(), "BEGIN; SELECT 1 FROM users WHERE id = 1 FOR UPDATE; SELECT pg_sleep(3); COMMIT");
  });
  std::string killed;
  std::thread killer([&] {
    for (int i = 0; i < 200 && killed.find('t') == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      killed = psql_output(db.url(),
                           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND query LIKE 'WITH cleared%' AND wait_event_type = 'Lock'");
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the holder has the row
  Status s = store->upsert("users", user(1, "after"));
  killer.join();
  holder.join();
  EXPECT_NE(killed.find('t'), std::string::npos) << "the write never waited: " << killed;
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.to_string();
  EXPECT_TRUE(s.is_outcome_unknown()) << s.to_string();
}

TEST(PostgresStore, ABlindCopyThatMeetsAPresentKeyIsUndoneAndTheBatchKeepsItsLocks) {
  // A fresh table's batches COPY without asking which keys are present. A key
  // that arrives first fails the COPY; it is undone to a savepoint (the
  // batch's record locks stay held) and the batch asks, then copies the rest.
  TwoStores two("tandem_blind_copy");
  auto& store = two.store;
  auto& other = two.other;
  int blind = 0, asked = 0;
  SyncPoints::set("postgres.before_blind_copy", [&] {
    if (blind++ == 0) ASSERT_OK(other->upsert("users", user(25, "arrived meanwhile")));
  });
  SyncPoints::set("postgres.before_copy", [&] {
    if (asked++ > 0) return;  // the first batch's, after its unique violation
    auto lock = value_or_die(other->try_lock("users", Key{Value(int64_t{3})}));
    EXPECT_FALSE(lock.held()) << "the batch's record lock was released with the failed COPY";
  });
  std::vector<Record> batch;
  for (int64_t id = 1; id <= 50; ++id) batch.push_back(user(id, "copied"));
  auto outcomes = value_or_die(store->insert_if_absent("users", batch, LockPolicy::kTryLockEach));
  EXPECT_EQ(blind, 1) << "the first batch copies without asking";
  EXPECT_EQ(asked, 1) << "then asks, after the unique violation";
  expect_only_25_arrived_first(*store, outcomes);
  EXPECT_EQ(value_or_die(store->count("users", KeyRange::all())), 50u);
  // After kBlindCopyAfter (4) batches that find nothing present, blind again.
  for (int64_t b = 0; b < 5; ++b) {
    std::vector<Record> more;
    for (int64_t id = 100 + b * 10; id < 110 + b * 10; ++id) more.push_back(user(id, "more"));
    auto done = value_or_die(store->insert_if_absent("users", more, LockPolicy::kTryLockEach));
    for (InsertOutcome o : done) EXPECT_EQ(o, InsertOutcome::kInserted);
  }
  EXPECT_EQ(asked, 5);
  EXPECT_EQ(blind, 2);
}

}  // namespace
}  // namespace tandem::testing
