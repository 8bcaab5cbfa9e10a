// What is particular to the MariaDB store: an account that can only read old
// (its password in a file), a session the server kills, the target server
// stopped mid-copy, records MariaDB refuses or old cannot decode, and
// passwords kept out of URLs and messages. Needs the servers scripts/test.sh
// starts (fails without them).
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include "stores/mariadb/mariadb_connection.h"
#include "stores/sqlite/sqlite_connection.h"
#include "tandem/backfill.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

std::string server_url(const char* variable) {
  const char* url = std::getenv(variable);
  if (url == nullptr) {
    ADD_FAILURE() << variable << " is not set: run the tests through scripts/test.sh, which starts MariaDB";
    return "";
  }
  return url;
}

void sql(const std::string& url, const std::string& statement) {
  Status s = run_mariadb_admin(url, statement);
  ASSERT_TRUE(s.ok()) << statement << ": " << s.to_string();
}

// A fresh database, dropped at the end.
class MariaDbDatabase {
 public:
  explicit MariaDbDatabase(const std::string& name, const char* variable = "TANDEM_TEST_MARIADB_URL")
      : admin_(server_url(variable)), name_(name) {
    sql(admin_, fmt::format("DROP DATABASE IF EXISTS {}", name_));
    sql(admin_, fmt::format("CREATE DATABASE {}", name_));
  }
  ~MariaDbDatabase() { (void)run_mariadb_admin(admin_, fmt::format("DROP DATABASE IF EXISTS {}", name_)); }
  // The database's URL for user (the admin account by default).
  std::string url(const std::string& user = "tandem", const std::string& query = "") const {
    std::string base = admin_.substr(0, admin_.rfind('/') + 1) + name_;
    return "mariadb://" + user + base.substr(base.find('@')) + query;
  }
  const std::string& admin() const { return admin_; }

 private:
  std::string admin_;
  std::string name_;
};

TEST(MariaDbOld, BackfillAndVerifyWithAnAccountThatCanOnlyReadAndAPasswordFile) {
  MariaDbDatabase db("tandem_readonly_old");
  sql(db.url(),
      "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL, name VARCHAR(100), age INT, "
      "balance DECIMAL(12,2))");
  sql(db.url(),
      "INSERT INTO users SELECT seq, CONCAT('u', seq, '@example.com'), CONCAT('user ', seq), 30, 10.50 "
      "FROM seq_1_to_500");
  sql(db.admin(), "DROP USER IF EXISTS 'tandem_reader'@'127.0.0.1'");
  sql(db.admin(), "CREATE USER 'tandem_reader'@'127.0.0.1' IDENTIFIED BY 'reader-s3cret'");
  sql(db.admin(), "GRANT SELECT ON tandem_readonly_old.users TO 'tandem_reader'@'127.0.0.1'");
  TempDir dir;
  {
    std::ofstream pw(dir.file("reader.pw"));
    pw << "reader-s3cret\n";
  }
  Config config;
  config.old_url = db.url("tandem_reader", "?password_file=" + dir.file("reader.pw"));
  config.new_url = "sqlite:" + dir.file("new.db");
  config.control_url = "sqlite:" + dir.file("control.db");
  config.collections = {users_schema()};
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(config, options));
  // The account really cannot write old.
  Status refused = m->store(Side::kOld).upsert("users", user(1, "x"));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("read-only"), std::string::npos) << refused.message();
  EXPECT_EQ(refused.message().find("reader-s3cret"), std::string::npos) << refused.message();

  ASSERT_OK(m->change_step(1, "test", false));
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  EXPECT_EQ(summary.collections[0].state.counts.copied, 500);
  // DECIMAL(12,2) gives "10.50"; the canonical decimal is 10.5 on both sides.
  EXPECT_EQ(value_or_die(m->store(Side::kNew).get("users", Key{Value(int64_t{7})})).record,
            user(7, "user 7"));
  auto report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.collections[0].records, 500);
  m.reset();
  sql(db.admin(), "DROP USER 'tandem_reader'@'127.0.0.1'");

  // A wrong password is a configuration error naming the URL, not the password.
  auto wrong = open_store("old", db.url("tandem_reader:not-it"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), Code::kConfig) << wrong.status().to_string();
  EXPECT_EQ(wrong.status().message().find("not-it"), std::string::npos) << wrong.status().message();
}

TEST(MariaDbStore, AKilledSessionIsRetryableAndTheNextCallReconnects) {
  MariaDbDatabase db("tandem_reconnect");
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(users_schema(), true));
  ASSERT_OK(store->upsert("users", user(1, "one")));
  // Kill every other session of this account on this database (ours, idle in the pool).
  auto spec = value_or_die(maria::ConnectionSpec::parse(db.url()));
  auto killer = value_or_die(maria::Connection::open(spec));
  std::vector<int64_t> ids;
  ASSERT_OK(
      killer->run("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> "
                  "CONNECTION_ID()",
                  {}, "listing sessions", [&](const maria::Row& r) {
                    ids.push_back(r.integer(0));
                    return Status::Ok();
                  }));
  ASSERT_FALSE(ids.empty());
  for (int64_t id : ids) ASSERT_OK(killer->exec_simple(fmt::format("KILL {}", id), "killing a session"));
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
TEST(MariaDbTarget, StoppedInTheMiddleOfTheBackfillAndStartedAgain) {
  const char* stop = std::getenv("TANDEM_TEST_MARIADB_RESTART_STOP");
  const char* start = std::getenv("TANDEM_TEST_MARIADB_RESTART_START");
  ASSERT_TRUE(stop != nullptr && start != nullptr)
      << "run the tests through scripts/test.sh, which starts the server this test stops";
  MariaDbDatabase db("tandem_restart", "TANDEM_TEST_MARIADB_RESTART_URL");
  std::vector<Record> records;
  for (int64_t id = 1; id <= 20000; ++id) records.push_back(user(id, fmt::format("user {}", id)));
  MigrationFixture f(records, std::chrono::milliseconds(100), true, nullptr, db.url());
  f.jump_to_step(1);  // dual-write: new (MariaDB) is the write secondary
  std::atomic<bool> done{false};
  std::atomic<int64_t> writes{0};
  std::thread service([&] {
    for (int64_t i = 0; !done; ++i) {
      EXPECT_OK(f.users->put(user(1 + (i * 7919) % 20000, fmt::format("live {}", i))));  // WP is old
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
  ASSERT_EQ(std::system(start), 0);
  backfill.join();
  done = true;
  service.join();

  ASSERT_TRUE(summary.complete);
  EXPECT_EQ(summary.collections[0].state.counts.scanned, 20000);
  int64_t queued = value_or_die(f.control->repair_counts())[Side::kNew];
  EXPECT_GT(queued, 0) << "no live write hit the outage (" << writes << " writes)";
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

// Bad input from an SQLite old into a MariaDB new that is stricter: a value
// too long for its column, NULL where new is NOT NULL (new refuses both), and
// rows old cannot decode: broken JSON, invalid UTF-8, text in an integer
// field. Each is quarantined with its reason; the rest is copied; counts
// balance.
TEST(MariaDbTarget, RecordsNewRefusesOrOldCannotDecodeAreQuarantinedAndCountsBalance) {
  MariaDbDatabase db("tandem_bad_input");
  sql(db.url(),
      "CREATE TABLE docs (id BIGINT PRIMARY KEY, title VARCHAR(10) NOT NULL, body JSON NOT NULL, "
      "note TEXT NOT NULL, pages INT)");
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
  auto m = value_or_die(Migration::open(config, options));
  ASSERT_OK(m->change_step(1, "test", false));
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  const BackfillCounts& c = summary.collections[0].state.counts;
  EXPECT_EQ(c.scanned, 55);
  EXPECT_EQ(c.copied, 50);
  EXPECT_EQ(c.quarantined, 5);
  EXPECT_EQ(c.scanned, c.copied + c.present + c.locked + c.tombstoned + c.quarantined);
  std::map<std::string, std::string> reasons;
  for (const QuarantineEntry& e : value_or_die(m->control().quarantine(10)))
    reasons[e.key_display] = e.reason;
  EXPECT_NE(reasons["51"].find("Data too long"), std::string::npos) << reasons["51"];
  EXPECT_NE(reasons["51"].find("record 51"), std::string::npos) << reasons["51"];
  EXPECT_NE(reasons["52"].find("cannot be null"), std::string::npos) << reasons["52"];
  EXPECT_NE(reasons["53"].find("invalid JSON"), std::string::npos) << reasons["53"];
  EXPECT_NE(reasons["54"].find("UTF-8"), std::string::npos) << reasons["54"];
  EXPECT_NE(reasons["55"].find("'pages'"), std::string::npos) << reasons["55"];
  // Nothing else is lost: the 50 good records are equal on both sides.
  auto in_new = value_or_die(m->store(Side::kNew).get("docs", Key{Value(int64_t{7})}));
  EXPECT_EQ(in_new.record.fields.at("body"), Value(Json::parse(R"({"a":7,"b":[1,2]})").value()));
  KeyRange first_fifty{std::nullopt, Key{Value(int64_t{51})}};
  EXPECT_EQ(value_or_die(m->store(Side::kOld).digest("docs", first_fifty)),
            value_or_die(m->store(Side::kNew).digest("docs", first_fifty)));
  EXPECT_EQ(value_or_die(m->store(Side::kNew).count("docs", KeyRange::all())), 50u);
}

// Bad input in a MariaDB old: a zero date, a JSON column whose text is not
// JSON (MariaDB's JSON is LONGTEXT; old tables often lack the check), and an
// integer too large for a 64-bit signed integer. Quarantined, the rest copied.
TEST(MariaDbOld, RowsThatDoNotDecodeAreQuarantinedWithTheirField) {
  MariaDbDatabase db("tandem_bad_old");
  sql(db.url(),
      "CREATE TABLE events (id BIGINT PRIMARY KEY, at DATETIME(6), doc LONGTEXT, n BIGINT UNSIGNED)");
  sql(db.url(),
      "INSERT INTO events SELECT seq, '2024-01-02 03:04:05.678901', '{\"k\": 1}', seq FROM seq_1_to_20");
  {
    // Written as a lax application would: no strict mode, zero dates allowed.
    auto conn = value_or_die(maria::Connection::open(value_or_die(maria::ConnectionSpec::parse(db.url()))));
    ASSERT_OK(conn->exec_simple("SET SESSION sql_mode = ''", "relaxing the session"));
    ASSERT_OK(
        conn->exec_simple("INSERT INTO events VALUES (21, '0000-00-00 00:00:00', '{}', 1), "
                          "(22, '2024-01-01', 'not json', 1), (23, '2024-01-01', '{}', 18446744073709551615)",
                          "writing bad rows"));
  }
  TempDir dir;
  CollectionSchema events;
  events.name = "events";
  events.key_columns = {{"id", Type::kInt, false}};
  events.columns = {{"at", Type::kTimestamp, true}, {"doc", Type::kJson, true}, {"n", Type::kInt, true}};
  Config config;
  config.old_url = db.url();
  config.new_url = "sqlite:" + dir.file("new.db");
  config.control_url = "sqlite:" + dir.file("control.db");
  config.collections = {events};
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(config, options));
  ASSERT_OK(m->change_step(1, "test", false));
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  const BackfillCounts& c = summary.collections[0].state.counts;
  EXPECT_EQ(c.copied, 20);
  EXPECT_EQ(c.quarantined, 3);
  std::map<std::string, QuarantineEntry> entries;
  for (const QuarantineEntry& e : value_or_die(m->control().quarantine(10))) entries[e.key_display] = e;
  EXPECT_EQ(entries["21"].field, "at");
  EXPECT_NE(entries["21"].reason.find("zero date"), std::string::npos) << entries["21"].reason;
  EXPECT_EQ(entries["22"].field, "doc");
  EXPECT_EQ(entries["23"].field, "n");
  EXPECT_NE(entries["23"].raw.find("18446744073709551615"), std::string::npos) << entries["23"].raw;
  auto copied = value_or_die(m->store(Side::kNew).get("events", Key{Value(int64_t{3})}));
  EXPECT_EQ(copied.record.fields.at("at"), Value(Timestamp::parse("2024-01-02T03:04:05.678901Z").value()));
  auto report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.collections[0].undecodable, 3);
}

TEST(MariaDbConnection, UrlsPasswordsAndTlsOptions) {
  TempDir dir;
  {
    std::ofstream f(dir.file("pw"));
    f << "s3cret-from-file\n";
  }
  auto spec = value_or_die(maria::ConnectionSpec::parse(fmt::format(
      "mariadb://app@db.internal:3307/shop?password_file={}&ssl_mode=verify_ca&ssl_ca=/etc/ca.pem",
      dir.file("pw"))));
  EXPECT_EQ(spec.password, "s3cret-from-file");
  EXPECT_EQ(spec.user, "app");
  EXPECT_EQ(spec.host, "db.internal");
  EXPECT_EQ(spec.port, 3307u);
  EXPECT_EQ(spec.database, "shop");
  EXPECT_EQ(spec.tls.at("ssl_mode"), "verify_ca");
  EXPECT_EQ(spec.tls.at("ssl_ca"), "/etc/ca.pem");
  EXPECT_EQ(spec.display.find("s3cret"), std::string::npos);
  setenv("TANDEM_TEST_MARIADB_PW", "s3cret-from-env", 1);
  spec = value_or_die(
      maria::ConnectionSpec::parse("mysql://app@[::1]/shop?password_env=TANDEM_TEST_MARIADB_PW"));
  EXPECT_EQ(spec.password, "s3cret-from-env");
  EXPECT_EQ(spec.host, "::1");
  EXPECT_EQ(spec.port, 3306u);
  spec = value_or_die(maria::ConnectionSpec::parse("mariadb://a%40b:p%3Ass@h/db"));
  EXPECT_EQ(spec.user, "a@b");
  EXPECT_EQ(spec.password, "p:ss");
  for (const char* bad :
       {"mariadb://app@h/db?password_env=TANDEM_NO_SUCH_VAR", "mariadb://app@h/db?sslmode=x",
        "mariadb://app@h:99999/db", "mariadb://app@h", "mariadb://app@h/db?ssl_mode=sometimes"}) {
    auto r = maria::ConnectionSpec::parse(bad);
    EXPECT_EQ(r.status().code(), Code::kConfig) << bad;
  }
  // A password in the URL itself never reaches an error message.
  auto failed = open_store("old", "mariadb://app:hunter2@127.0.0.1:1/x");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message().find("hunter2"), std::string::npos) << failed.status().message();
  EXPECT_TRUE(failed.status().is_retryable());
}

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// TLS options reach the client library: verified against the test CA the
// session is encrypted; against a CA that signed nothing it is refused.
TEST(MariaDbConnection, TlsOptionsPassThroughAndAreEnforced) {
  const char* ca = std::getenv("TANDEM_TEST_TLS_CA");
  const char* other = std::getenv("TANDEM_TEST_OTHER_CA");
  ASSERT_TRUE(ca != nullptr && other != nullptr)
      << "run the tests through scripts/test.sh, which makes the CA";
  std::string base = server_url("TANDEM_TEST_MARIADB_URL");
  auto spec = value_or_die(maria::ConnectionSpec::parse(base + "?ssl_mode=verify_identity&ssl_ca=" + ca));
  auto conn = value_or_die(maria::Connection::open(spec));
  std::string cipher;
  ASSERT_OK(
      conn->run("SHOW SESSION STATUS LIKE 'Ssl_cipher'", {}, "reading the cipher", [&](const maria::Row& r) {
        cipher = std::string(r.text(1));
        return Status::Ok();
      }));
  EXPECT_FALSE(cipher.empty()) << "the session is not encrypted";
  auto store = open_store("new", base + "?ssl_mode=verify_ca&ssl_ca=" + ca);
  ASSERT_OK(store);
  auto refused = maria::Connection::open(
      value_or_die(maria::ConnectionSpec::parse(base + "?ssl_mode=verify_ca&ssl_ca=" + other)));
  ASSERT_FALSE(refused.ok()) << "a server certificate not signed by the given CA was accepted";
  EXPECT_NE(refused.status().message().find("127.0.0.1"), std::string::npos) << refused.status().message();
}

}  // namespace
}  // namespace tandem::testing
