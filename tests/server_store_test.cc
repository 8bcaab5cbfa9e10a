// What the two server stores (PostgreSQL and MariaDB) must both do, run on
// each: an account that can only read old, a session the server ends, the
// target server stopped in the middle of the backfill, records new refuses
// or old cannot decode, and a password in a URL kept out of messages. What is
// particular to one engine is in postgres_store_test.cc and
// mariadb_store_test.cc. Needs the servers scripts/test.sh starts (fails
// without them).
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <thread>

#include "stores/mariadb/mariadb_connection.h"
#include "stores/sqlite/sqlite_connection.h"
#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

enum class Engine { kPostgres, kMariaDb };

// For gtest's messages: the engine's name, not its bytes.
void PrintTo(Engine engine, std::ostream* os) {
  *os << (engine == Engine::kPostgres ? "postgres" : "mariadb");
}

std::string engine_name(const ::testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kPostgres ? "postgres" : "mariadb";
}

// A fresh database on the engine's server (or on the server of the restart
// test), dropped at the end.
class ServerDatabase {
 public:
  ServerDatabase(Engine engine, const std::string& name, bool restart_server = false) {
    if (engine == Engine::kPostgres) {
      postgres_.emplace(name, "",
                        restart_server ? "TANDEM_TEST_POSTGRES_RESTART_URL" : "TANDEM_TEST_POSTGRES_URL");
    } else {
      mariadb_.emplace(name, restart_server ? "TANDEM_TEST_MARIADB_RESTART_URL" : "TANDEM_TEST_MARIADB_URL");
    }
  }
  // The database's URL for user (the admin account "tandem" by default).
  std::string url(const std::string& user = "tandem") const {
    return postgres_ ? postgres_->url(user) : mariadb_->url(user);
  }
  // Runs statements in the database as the admin account; an error fails the test.
  void sql(const std::string& statements) const {
    if (postgres_) {
      psql(url(), statements);
    } else {
      mariadb_sql(url(), statements);
    }
  }

 private:
  std::optional<PostgresDatabase> postgres_;
  std::optional<MariaDbDatabase> mariadb_;
};

class ServerStoreTest : public ::testing::TestWithParam<Engine> {
 protected:
  bool postgres() const { return GetParam() == Engine::kPostgres; }
  // The engine's part of the environment variables scripts/test.sh sets.
  const char* variable_part() const { return postgres() ? "POSTGRES" : "MARIADB"; }
};

INSTANTIATE_TEST_SUITE_P(Engines, ServerStoreTest, ::testing::Values(Engine::kPostgres, Engine::kMariaDb),
                         engine_name);

// Old through an account that can only read it (on MariaDB with its password
// in a file): the backfill and verify work, and a write is refused.
TEST_P(ServerStoreTest, OldBackfillAndVerifyWithAnAccountThatCanOnlyRead) {
  ServerDatabase db(GetParam(), "tandem_readonly_old");
  TempDir dir;
  Config config;
  if (postgres()) {
    db.sql(
        "CREATE TABLE users (id BIGINT PRIMARY KEY, email TEXT NOT NULL, name TEXT, age INTEGER, balance "
        "NUMERIC(12,2));"
        "INSERT INTO users SELECT i, 'u' || i || '@example.com', 'user ' || i, 30, 10.50 FROM "
        "generate_series(1, 500) i;"
        "DROP ROLE IF EXISTS tandem_reader; CREATE ROLE tandem_reader LOGIN;"
        "GRANT SELECT ON users TO tandem_reader;");
    config.old_url = db.url("tandem_reader");
  } else {
    db.sql(
        "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL, name VARCHAR(100), age INT, "
        "balance DECIMAL(12,2))");
    db.sql(
        "INSERT INTO users SELECT seq, CONCAT('u', seq, '@example.com'), CONCAT('user ', seq), 30, 10.50 "
        "FROM seq_1_to_500");
    const std::string admin = mariadb_admin_url();
    mariadb_sql(admin, "DROP USER IF EXISTS 'tandem_reader'@'127.0.0.1'");
    mariadb_sql(admin, "CREATE USER 'tandem_reader'@'127.0.0.1' IDENTIFIED BY 'reader-s3cret'");
    mariadb_sql(admin, "GRANT SELECT ON tandem_readonly_old.users TO 'tandem_reader'@'127.0.0.1'");
    {
      std::ofstream pw(dir.file("reader.pw"));
      pw << "reader-s3cret\n";
    }
    config.old_url = db.url("tandem_reader") + "?password_file=" + dir.file("reader.pw");
  }
  config.new_url = "sqlite:" + dir.file("new.db");
  config.control_url = "sqlite:" + dir.file("control.db");
  config.collections = {users_schema()};
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(init_and_open(config, options));
  // The account really cannot write old.
  Status refused = OperatorTools(*m).store(Side::kOld).upsert("users", user(1, "x"));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find(postgres() ? "permission denied" : "read-only"), std::string::npos)
      << refused.message();
  if (!postgres()) {
    EXPECT_EQ(refused.message().find("reader-s3cret"), std::string::npos) << refused.message();
  }

  ASSERT_OK(m->change_step(1, "test", false));
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  EXPECT_EQ(summary.collections[0].state.counts.copied, 500);
  // NUMERIC(12,2) / DECIMAL(12,2) give "10.50"; the canonical decimal is 10.5 on both sides.
  EXPECT_EQ(value_or_die(OperatorTools(*m).store(Side::kNew).get("users", Key{Value(int64_t{7})})).record,
            user(7, "user 7"));
  auto report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.collections[0].records, 500);
  m.reset();
  if (postgres()) {
    db.sql("DROP OWNED BY tandem_reader; DROP ROLE tandem_reader");
    return;
  }
  mariadb_sql(mariadb_admin_url(), "DROP USER 'tandem_reader'@'127.0.0.1'");
  // A wrong password is a configuration error naming the URL, not the password.
  auto wrong = open_store("old", db.url("tandem_reader:not-it"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), Code::kConfig) << wrong.status().to_string();
  EXPECT_EQ(wrong.status().message().find("not-it"), std::string::npos) << wrong.status().message();
}

// Ends every other session of the database at url (ours, idle in the pool).
void end_other_sessions(Engine engine, const std::string& url) {
  if (engine == Engine::kPostgres) {
    psql(url,
         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
         "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    return;
  }
  auto spec = value_or_die(mariadb::ConnectionSpec::parse(url));
  auto killer = value_or_die(mariadb::Connection::open(spec));
  std::vector<int64_t> ids;
  ASSERT_OK(
      killer->run("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> "
                  "CONNECTION_ID()",
                  {}, "listing sessions", [&](const mariadb::Row& r) {
                    ids.push_back(r.integer(0));
                    return Status::Ok();
                  }));
  ASSERT_FALSE(ids.empty());
  for (int64_t id : ids) ASSERT_OK(killer->exec_simple(fmt::format("KILL {}", id), "killing a session"));
}

TEST_P(ServerStoreTest, AnEndedSessionIsRetryableAndTheNextCallReconnects) {
  ServerDatabase db(GetParam(), "tandem_reconnect");
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(users_schema(), true));
  ASSERT_OK(store->upsert("users", user(1, "one")));
  end_other_sessions(GetParam(), db.url());
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
TEST_P(ServerStoreTest, TargetStoppedInTheMiddleOfTheBackfillAndStartedAgain) {
  const char* url = std::getenv(fmt::format("TANDEM_TEST_{}_RESTART_URL", variable_part()).c_str());
  const char* stop = std::getenv(fmt::format("TANDEM_TEST_{}_RESTART_STOP", variable_part()).c_str());
  const char* start = std::getenv(fmt::format("TANDEM_TEST_{}_RESTART_START", variable_part()).c_str());
  ASSERT_TRUE(url != nullptr && stop != nullptr && start != nullptr)
      << "run the tests through scripts/test.sh, which starts the server this test stops";
  ServerDatabase db(GetParam(), "tandem_restart", true);

  std::vector<Record> records;
  for (int64_t id = 1; id <= 20000; ++id) records.push_back(user(id, fmt::format("user {}", id)));
  MigrationFixture f(records, std::chrono::milliseconds(100), true, nullptr, db.url());
  f.jump_to_step(1);  // dual-write: new (the server) is the write secondary
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
  // MariaDB's start command sends its output away and runs in the background itself.
  ASSERT_EQ(std::system(postgres() ? fmt::format("{} >/dev/null", start).c_str() : start), 0);
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
}

CollectionSchema docs_schema() {
  CollectionSchema docs;
  docs.name = "docs";
  docs.key_columns = {{"id", Type::kInt, false}};
  docs.columns = {{"title", Type::kText, true},
                  {"body", Type::kJson, true},
                  {"note", Type::kText, true},
                  {"pages", Type::kInt, true}};
  return docs;
}

// Bad input from an SQLite old into a server new that is stricter: a value
// too long for its column, NULL where new is NOT NULL (new refuses both), and
// rows old cannot decode: broken JSON, invalid UTF-8, text in an integer
// field. Each is quarantined with its reason; the rest is copied; counts
// balance. A service's non-canonical JSON compares equal to the server's
// JSON (PostgreSQL's JSONB).
TEST_P(ServerStoreTest, TargetRecordsNewRefusesOrOldCannotDecodeAreQuarantinedAndCountsBalance) {
  ServerDatabase db(GetParam(), "tandem_bad_input");
  // New as an operator made it: stricter than old.
  db.sql(postgres() ? "CREATE TABLE docs (id BIGINT PRIMARY KEY, title VARCHAR(10) NOT NULL, body JSONB NOT "
                      "NULL, note TEXT NOT NULL, pages BIGINT)"
                    : "CREATE TABLE docs (id BIGINT PRIMARY KEY, title VARCHAR(10) NOT NULL, body JSON NOT "
                      "NULL, note TEXT NOT NULL, pages INT)");
  TempDir dir;
  {
    auto conn = value_or_die(sqlite::Connection::open(dir.file("old.db"), true, false));
    ASSERT_OK(conn->exec(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT, note TEXT, pages INTEGER);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) "
        "INSERT INTO docs SELECT i, 'doc ' || i, '{\"b\": [1, 2], \"a\": ' || i || '}', 'ok', i FROM n;"
        "INSERT INTO docs VALUES (51, 'a title far too long for new', '{}', 'ok', 1);"
        "INSERT INTO docs VALUES (52, 'no note', '{}', NULL, 1);"
        "INSERT INTO docs VALUES (53, 'broken', '{\"a\": ', 'ok', 1);"
        "INSERT INTO docs VALUES (54, CAST(X'6869FF' AS TEXT), '{}', 'ok', 1);"
        "INSERT INTO docs VALUES (55, 'pages', '{}', 'ok', 'twelve');"));
  }
  Config config;
  config.old_url = "sqlite:" + dir.file("old.db");
  config.new_url = db.url();
  config.control_url = "sqlite:" + dir.file("control.db");
  config.collections = {docs_schema()};
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(init_and_open(config, options));
  ASSERT_OK(m->change_step(1, "test", false));
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  const BackfillCounts& c = summary.collections[0].state.counts;
  EXPECT_EQ(c.scanned, 55);
  EXPECT_EQ(c.copied, 50);
  EXPECT_EQ(c.quarantined, 5);
  EXPECT_EQ(c.scanned, c.copied + c.present + c.locked + c.tombstoned + c.quarantined);
  std::map<std::string, std::string> reasons;
  for (const QuarantineEntry& e : value_or_die(OperatorTools(*m).control().quarantine(10)))
    reasons[e.key_display] = e.reason;
  if (postgres()) {
    EXPECT_NE(reasons["51"].find("too long"), std::string::npos) << reasons["51"];
    EXPECT_NE(reasons["52"].find("null value"), std::string::npos) << reasons["52"];
  } else {
    EXPECT_NE(reasons["51"].find("Data too long"), std::string::npos) << reasons["51"];
    EXPECT_NE(reasons["51"].find("record 51"), std::string::npos) << reasons["51"];
    EXPECT_NE(reasons["52"].find("cannot be null"), std::string::npos) << reasons["52"];
  }
  EXPECT_NE(reasons["53"].find("invalid JSON"), std::string::npos) << reasons["53"];
  EXPECT_NE(reasons["54"].find("UTF-8"), std::string::npos) << reasons["54"];
  EXPECT_NE(reasons["55"].find("'pages'"), std::string::npos) << reasons["55"];
  // Nothing else is lost: the 50 good records are equal on both sides, and
  // non-canonical JSON in old compares equal to new's JSON.
  auto in_new = value_or_die(OperatorTools(*m).store(Side::kNew).get("docs", Key{Value(int64_t{7})}));
  EXPECT_EQ(in_new.record.fields.at("body"), Value(Json::parse(R"({"a":7,"b":[1,2]})").value()));
  EXPECT_EQ(in_new.record,
            value_or_die(OperatorTools(*m).store(Side::kOld).get("docs", Key{Value(int64_t{7})})).record);
  KeyRange first_fifty{std::nullopt, Key{Value(int64_t{51})}};
  EXPECT_EQ(value_or_die(OperatorTools(*m).store(Side::kOld).digest("docs", first_fifty)),
            value_or_die(OperatorTools(*m).store(Side::kNew).digest("docs", first_fifty)));
  EXPECT_EQ(value_or_die(OperatorTools(*m).store(Side::kNew).count("docs", KeyRange::all())), 50u);
}

// Issue 14: `tandem finish` on a server new: the side table goes, the
// collection's table and data stay, and opening new as finish does creates
// nothing back.
TEST_P(ServerStoreTest, FinishDropsTheSideTableAndKeepsTheData) {
  ServerDatabase db(GetParam(), "tandem_finish");
  TempDir dir;
  Config config;
  config.migration_name = "finish";
  config.old_url = "sqlite:" + dir.file("old.db");
  config.new_url = db.url();
  config.control_url = "sqlite:" + dir.file("control.db");
  config.collections = {users_schema()};
  create_old_database(dir.file("old.db"), users_schema(), {user(1, "one"), user(2, "two")});
  {
    MigrationOptions options;
    options.register_instance = false;
    auto m = value_or_die(init_and_open(config, options));
    ASSERT_OK(m->change_step(1, "test", false));
    ASSERT_TRUE(value_or_die(run_backfill(*m, BackfillOptions{})).complete);
    auto users = value_or_die(m->collection("users"));
    ASSERT_OK(users->remove(Key{Value(int64_t{2})}));
    auto current = value_or_die(OperatorTools(*m).control().current_step());
    ASSERT_OK(OperatorTools(*m).control().change_step(current.version, 6, "test", true, "test", {}));
    ASSERT_OK(m->refresh());
    ASSERT_TRUE(value_or_die(run_verify(*m, VerifyOptions{})).clean());
  }
  const std::string side_tables =
      postgres()
          ? "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'tandem%'"
          : "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name "
            "LIKE 'tandem%'";
  auto count = [&](const std::string& sql) {
    if (postgres()) return postgres_rows(db.url(), sql).at(0).at(0);
    std::string out;
    auto conn =
        value_or_die(mariadb::Connection::open(value_or_die(mariadb::ConnectionSpec::parse(db.url()))));
    EXPECT_OK(conn->run(sql, {}, "counting", [&](const mariadb::Row& r) {
      out = fmt::format("{}", r.integer(0));
      return Status::Ok();
    }));
    return out;
  };
  EXPECT_EQ(count(side_tables), "2");  // tandem_tombstones, tandem_fence
  auto done = value_or_die(finish_migration(config));
  EXPECT_FALSE(done.already_finished);
  EXPECT_EQ(count(side_tables), "0") << "a tandem side table is left in new";
  EXPECT_EQ(count("SELECT count(*) FROM users"), "1");
  EXPECT_TRUE(value_or_die(finish_migration(config)).already_finished);
  EXPECT_EQ(count(side_tables), "0") << "a second finish created a side table";
}

// Issue 14: a password written in the URL is refused before any connection,
// with the fix, and the error never contains it.
TEST_P(ServerStoreTest, APasswordInTheUrlIsRefusedWithTheFixAndNeverShown) {
  const std::string scheme = postgres() ? "postgres" : "mariadb";
  for (const std::string& url :
       {scheme + "://app:hunter2@127.0.0.1:1/x", scheme + "://app:hun%40ter2@127.0.0.1:1/x?sslmode=require",
        scheme + "://app@127.0.0.1:1/x?password=hunter2",
        std::string(postgres() ? "mysql" : "postgresql") + "://app:hunter2@127.0.0.1:1/x"}) {
    auto failed = open_store("old", url);
    ASSERT_FALSE(failed.ok()) << url;
    EXPECT_EQ(failed.status().code(), Code::kConfig) << failed.status().to_string();
    EXPECT_FALSE(failed.status().is_retryable());
    EXPECT_EQ(failed.status().message().find("hunter2"), std::string::npos) << failed.status().message();
    EXPECT_EQ(failed.status().message().find("ter2"), std::string::npos) << failed.status().message();
    EXPECT_NE(failed.status().message().find("password_file="), std::string::npos)
        << failed.status().message();
  }
}

}  // namespace
}  // namespace tandem::testing
