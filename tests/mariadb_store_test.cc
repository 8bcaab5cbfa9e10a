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
#include "tandem/operator_tools.h"
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
  Status refused = OperatorTools(*m).store(Side::kOld).upsert("users", user(1, "x"));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("read-only"), std::string::npos) << refused.message();
  EXPECT_EQ(refused.message().find("reader-s3cret"), std::string::npos) << refused.message();

  ASSERT_OK(m->change_step(1, "test", false));
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  EXPECT_EQ(summary.collections[0].state.counts.copied, 500);
  // DECIMAL(12,2) gives "10.50"; the canonical decimal is 10.5 on both sides.
  EXPECT_EQ(value_or_die(OperatorTools(*m).store(Side::kNew).get("users", Key{Value(int64_t{7})})).record,
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
  for (const QuarantineEntry& e : value_or_die(OperatorTools(*m).control().quarantine(10)))
    reasons[e.key_display] = e.reason;
  EXPECT_NE(reasons["51"].find("Data too long"), std::string::npos) << reasons["51"];
  EXPECT_NE(reasons["51"].find("record 51"), std::string::npos) << reasons["51"];
  EXPECT_NE(reasons["52"].find("cannot be null"), std::string::npos) << reasons["52"];
  EXPECT_NE(reasons["53"].find("invalid JSON"), std::string::npos) << reasons["53"];
  EXPECT_NE(reasons["54"].find("UTF-8"), std::string::npos) << reasons["54"];
  EXPECT_NE(reasons["55"].find("'pages'"), std::string::npos) << reasons["55"];
  // Nothing else is lost: the 50 good records are equal on both sides.
  auto in_new = value_or_die(OperatorTools(*m).store(Side::kNew).get("docs", Key{Value(int64_t{7})}));
  EXPECT_EQ(in_new.record.fields.at("body"), Value(Json::parse(R"({"a":7,"b":[1,2]})").value()));
  KeyRange first_fifty{std::nullopt, Key{Value(int64_t{51})}};
  EXPECT_EQ(value_or_die(OperatorTools(*m).store(Side::kOld).digest("docs", first_fifty)),
            value_or_die(OperatorTools(*m).store(Side::kNew).digest("docs", first_fifty)));
  EXPECT_EQ(value_or_die(OperatorTools(*m).store(Side::kNew).count("docs", KeyRange::all())), 50u);
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
  for (const QuarantineEntry& e : value_or_die(OperatorTools(*m).control().quarantine(10)))
    entries[e.key_display] = e;
  EXPECT_EQ(entries["21"].field, "at");
  EXPECT_NE(entries["21"].reason.find("zero date"), std::string::npos) << entries["21"].reason;
  EXPECT_EQ(entries["22"].field, "doc");
  EXPECT_EQ(entries["23"].field, "n");
  EXPECT_NE(entries["23"].raw.find("18446744073709551615"), std::string::npos) << entries["23"].raw;
  auto copied = value_or_die(OperatorTools(*m).store(Side::kNew).get("events", Key{Value(int64_t{3})}));
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

// Issue 12, "exact or refused", on MariaDB: the configured key is a key of
// the table, keys that do not decode are bad records and the scan goes on,
// uuids are read by their column's type, writes the column would alter are
// refused, statements stay under max_allowed_packet, and the portable digest
// leaves undecodable rows out.
namespace tandem::testing {
namespace {

CollectionSchema schema_of(std::string name, std::vector<Column> keys, std::vector<Column> columns) {
  CollectionSchema s;
  s.name = std::move(name);
  s.key_columns = std::move(keys);
  s.columns = std::move(columns);
  return s;
}

// Runs statements as a lax application would: no strict mode, invalid dates allowed.
void lax_sql(const std::string& url, const std::vector<std::string>& statements) {
  auto conn = value_or_die(maria::Connection::open(value_or_die(maria::ConnectionSpec::parse(url))));
  ASSERT_OK(conn->exec_simple("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'", "relaxing the session"));
  for (const std::string& statement : statements) ASSERT_OK(conn->exec_simple(statement, "writing rows"));
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

TEST(MariaDbStore, TheConfiguredKeyMustBeAKeyOfTheTable) {
  MariaDbDatabase db("tandem_keys");
  sql(db.url(), "CREATE TABLE nokey (id BIGINT NOT NULL, name VARCHAR(20))");
  sql(db.url(),
      "CREATE TABLE pair (a BIGINT NOT NULL, b BIGINT NOT NULL, name VARCHAR(20), PRIMARY KEY (a, b))");
  sql(db.url(), "CREATE TABLE loose (id BIGINT NULL, name VARCHAR(20), UNIQUE KEY by_id (id))");
  sql(db.url(),
      "CREATE TABLE tight (rowid BIGINT PRIMARY KEY AUTO_INCREMENT, id BIGINT NOT NULL, name VARCHAR(20), "
      "UNIQUE KEY by_id (id))");
  auto store =
      value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
  std::vector<Column> name = {{"name", Type::kText, true}};

  Status s = store->ensure_collection(schema_of("nokey", {{"id", Type::kInt, false}}, name), false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_TRUE(contains(s.message(), "configured key (id)")) << s.message();
  EXPECT_TRUE(contains(s.message(), "no primary key")) << s.message();

  // A composite key configured as its first column: refused, naming both.
  s = store->ensure_collection(schema_of("pair", {{"a", Type::kInt, false}}, name), false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_TRUE(contains(s.message(), "configured key (a)")) << s.message();
  EXPECT_TRUE(contains(s.message(), "primary key (a, b)")) << s.message();
  EXPECT_OK(store->ensure_collection(
      schema_of("pair", {{"a", Type::kInt, false}, {"b", Type::kInt, false}}, name), false));

  // A unique index over a nullable column is no key (NULLs repeat).
  s = store->ensure_collection(schema_of("loose", {{"id", Type::kInt, false}}, name), false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_TRUE(contains(s.message(), "unique index by_id (id) with a nullable column")) << s.message();

  // A unique index of NOT NULL columns is a key, though not the primary one.
  EXPECT_OK(store->ensure_collection(schema_of("tight", {{"id", Type::kInt, false}}, name), false));
}

CollectionSchema dated_schema() {
  return schema_of("dated", {{"at", Type::kTimestamp, false}}, {{"n", Type::kInt, true}});
}

// Keys MariaDB holds but no timestamp names (a zero date, days the month
// lacks under ALLOW_INVALID_DATES): each a bad record with its raw key, and
// a batch never ends on one, so batches of one row walk the whole table.
TEST(MariaDbOld, KeysThatDoNotDecodeAreBadRecordsAndTheScanGoesOn) {
  MariaDbDatabase db("tandem_bad_keys");
  sql(db.url(), "CREATE TABLE dated (at DATETIME(6) PRIMARY KEY, n INT)");
  lax_sql(db.url(), {"INSERT INTO dated VALUES ('0000-00-00 00:00:00', 0), ('2024-01-01 00:00:00', 1), "
                     "('2024-02-29 00:00:00', 2), ('2024-02-30 00:00:00', 3), ('2024-03-01 00:00:00', 4), "
                     "('2024-04-31 00:00:00', 5), ('2024-05-01 00:00:00', 6), ('2024-06-31 00:00:00', 7)"});
  auto store =
      value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
  ASSERT_OK(store->ensure_collection(dated_schema(), false));

  std::vector<std::string> good, bad;
  KeyRange range = KeyRange::all();
  int batches = 0;
  for (;;) {
    ASSERT_LT(++batches, 20) << "the scan does not end";
    ScanBatch b = value_or_die(store->scan_batch("dated", range, 1));
    for (const Record& r : b.records) good.push_back(r.key[0].as<Timestamp>().to_string());
    for (const BadRecord& r : b.bad) {
      EXPECT_FALSE(r.key.has_value());
      EXPECT_EQ(r.field, "at");
      EXPECT_TRUE(contains(r.raw, r.key_display.substr(1, 10))) << r.raw;
      EXPECT_TRUE(contains(r.reason, "collection 'dated'")) << r.reason;
      EXPECT_TRUE(contains(r.reason, "field 'at'")) << r.reason;
      EXPECT_TRUE(contains(r.reason, r.key_display)) << r.reason;
      bad.push_back(r.key_display);
    }
    if (b.end_of_range) break;
    ASSERT_TRUE(b.last_key.has_value());
    range = KeyRange::after(*b.last_key, std::nullopt);
  }
  EXPECT_EQ(good, (std::vector<std::string>{"2024-01-01T00:00:00.000000Z", "2024-02-29T00:00:00.000000Z",
                                            "2024-03-01T00:00:00.000000Z", "2024-05-01T00:00:00.000000Z"}));
  ASSERT_EQ(bad.size(), 4u);
  EXPECT_TRUE(contains(bad[0], "0000-00-00")) << bad[0];
  EXPECT_TRUE(contains(bad[1], "2024-02-30")) << bad[1];
  EXPECT_TRUE(contains(bad[2], "2024-04-31")) << bad[2];
  EXPECT_TRUE(contains(bad[3], "2024-06-31")) << bad[3];

  // One batch reads them all; split points skip keys that do not decode.
  ScanBatch all = value_or_die(store->scan_batch("dated", KeyRange::all(), 100));
  EXPECT_EQ(all.rows(), 8u);
  EXPECT_TRUE(all.end_of_range);
  EXPECT_OK(store->split_points("dated", KeyRange::all(), 8));
  Digest d = value_or_die(store->digest("dated", KeyRange::all()));
  EXPECT_EQ(d.count, 4u);
  EXPECT_EQ(d.undecodable, 4u);
}

// A text key that is not UTF-8 (kept in a VARBINARY column, as legacy
// schemas keep text) is a bad record; the rows around it are copied.
TEST(MariaDbOld, ATextKeyThatIsNotUtf8IsABadRecord) {
  MariaDbDatabase db("tandem_bad_text_key");
  sql(db.url(), "CREATE TABLE names (k VARBINARY(20) PRIMARY KEY, n INT)");
  sql(db.url(), "INSERT INTO names VALUES ('a', 1), (x'6869FF', 2), ('zz', 3)");
  auto store =
      value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
  ASSERT_OK(store->ensure_collection(
      schema_of("names", {{"k", Type::kText, false}}, {{"n", Type::kInt, true}}), false));
  ScanBatch b = value_or_die(store->scan_batch("names", KeyRange::all(), 2));
  ASSERT_EQ(b.records.size(), 2u);
  EXPECT_EQ(b.records[1].key, Key{Value("zz")});  // read on past the bad key
  ASSERT_EQ(b.bad.size(), 1u);
  EXPECT_FALSE(b.bad[0].key.has_value());
  EXPECT_EQ(b.bad[0].field, "k");
  EXPECT_TRUE(contains(b.bad[0].key_display, "6869ff")) << b.bad[0].key_display;
  EXPECT_TRUE(contains(b.bad[0].reason, "UTF-8")) << b.bad[0].reason;
  EXPECT_TRUE(b.end_of_range);
}

// Two rows with one key (the table's key dropped behind tandem's back) are
// an error naming the key, never one record.
TEST(MariaDbOld, TwoRowsWithTheSameKeyAreAnError) {
  MariaDbDatabase db("tandem_dup_keys");
  sql(db.url(), "CREATE TABLE twice (id BIGINT PRIMARY KEY, n INT)");
  auto store =
      value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
  ASSERT_OK(store->ensure_collection(
      schema_of("twice", {{"id", Type::kInt, false}}, {{"n", Type::kInt, true}}), false));
  sql(db.url(), "ALTER TABLE twice DROP PRIMARY KEY");
  sql(db.url(), "INSERT INTO twice VALUES (1, 1), (1, 2), (2, 3)");
  auto r = store->scan_batch("twice", KeyRange::all(), 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_TRUE(contains(r.status().message(), "key 1 twice")) << r.status().message();
}

// A uuid key in CHAR(36) under a binary collation: upper-case text orders
// apart from the UUID (a range scan would miss it) and can repeat a
// lower-case twin, which would be merged into one record. Such keys are bad
// records; under a case-insensitive collation either case is the UUID.
TEST(MariaDbOld, UpperCaseUuidKeysUnderABinaryCollationAreBadRecords) {
  MariaDbDatabase db("tandem_uuid_case");
  sql(db.url(), "CREATE TABLE ids (id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY, n INT)");
  sql(db.url(),
      "CREATE TABLE ids_ci (id CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci PRIMARY KEY, n INT)");
  sql(db.url(),
      "INSERT INTO ids VALUES ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1), "
      "('B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 2), ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 3)");
  sql(db.url(), "INSERT INTO ids_ci VALUES ('B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 2)");
  auto store =
      value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
  CollectionSchema ids = schema_of("ids", {{"id", Type::kUuid, false}}, {{"n", Type::kInt, true}});
  ASSERT_OK(store->ensure_collection(ids, false));
  ids.name = "ids_ci";
  ASSERT_OK(store->ensure_collection(ids, false));
  Key twin{Value(Uuid::parse("b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").value())};

  ScanBatch b = value_or_die(store->scan_batch("ids", KeyRange::all(), 10));
  ASSERT_EQ(b.records.size(), 1u);
  EXPECT_EQ(b.records[0].key, twin);
  EXPECT_EQ(b.records[0].fields.at("n"), Value(int64_t{1}));
  ASSERT_EQ(b.bad.size(), 2u);
  for (const BadRecord& r : b.bad) {
    EXPECT_FALSE(r.key.has_value());
    EXPECT_EQ(r.field, "id");
    EXPECT_TRUE(contains(r.reason, "lower case")) << r.reason;
  }
  std::optional<Digest> d = value_or_die(store->portable_digest("ids", KeyRange::all()));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->count, 1u);
  EXPECT_EQ(d->undecodable, 2u);

  b = value_or_die(store->scan_batch("ids_ci", KeyRange::all(), 10));
  ASSERT_EQ(b.records.size(), 1u);
  EXPECT_EQ(b.records[0].key, twin);
  EXPECT_TRUE(b.bad.empty());
}

// A uuid in CHAR(36) is only its 8-4-4-4-12 text (a 16-character string is
// no UUID); in BINARY(16) its 16 bytes, written back as bytes.
TEST(MariaDbStore, UuidsAreReadByTheirColumnType) {
  MariaDbDatabase db("tandem_uuids");
  sql(db.url(), "CREATE TABLE refs (id BIGINT PRIMARY KEY, c CHAR(36), b BINARY(16))");
  sql(db.url(),
      "INSERT INTO refs VALUES (1, '00112233-4455-6677-8899-aabbccddeeff', "
      "x'00112233445566778899AABBCCDDEEFF'), "
      "(2, '0123456789abcdef', x'00112233445566778899AABBCCDDEEFF'), "
      "(3, '00112233445566778899aabbccddeeff', NULL), (4, NULL, x'0011')");  // padded to 16 bytes
  auto store = value_or_die(open_store("new", db.url()));
  CollectionSchema refs =
      schema_of("refs", {{"id", Type::kInt, false}}, {{"c", Type::kUuid, true}, {"b", Type::kUuid, true}});
  ASSERT_OK(store->ensure_collection(refs, false));
  ScanBatch batch = value_or_die(store->scan_batch("refs", KeyRange::all(), 10));
  Value u = Value(Uuid::parse("00112233-4455-6677-8899-aabbccddeeff").value());
  ASSERT_EQ(batch.records.size(), 2u);
  EXPECT_EQ(batch.records[0].fields.at("c"), u);
  EXPECT_EQ(batch.records[0].fields.at("b"), u);
  EXPECT_EQ(batch.records[1].fields.at("b"),
            Value(Uuid::parse("00110000-0000-0000-0000-000000000000").value()));
  ASSERT_EQ(batch.bad.size(), 2u);
  EXPECT_EQ(batch.bad[0].field, "c");
  EXPECT_TRUE(contains(batch.bad[0].reason, "record 2")) << batch.bad[0].reason;
  EXPECT_TRUE(contains(batch.bad[0].reason, "8-4-4-4-12")) << batch.bad[0].reason;
  EXPECT_EQ(batch.bad[1].field, "c");

  Record w{Key{Value(int64_t{5})}, {{"c", u}, {"b", u}}};
  ASSERT_OK(store->upsert("refs", w));
  EXPECT_EQ(value_or_die(store->get("refs", w.key)).record, w);
  auto conn = value_or_die(maria::Connection::open(value_or_die(maria::ConnectionSpec::parse(db.url()))));
  std::string stored;
  ASSERT_OK(conn->run("SELECT CONCAT(c, ' ', HEX(b)) FROM refs WHERE id = 5", {}, "reading",
                      [&](const maria::Row& r) {
                        stored = r.text(0);
                        return Status::Ok();
                      }));
  EXPECT_EQ(stored, "00112233-4455-6677-8899-aabbccddeeff 00112233445566778899AABBCCDDEEFF");
}

void expect_refused(const Status& s, std::string_view field, std::string_view why) {
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_FALSE(s.is_retryable()) << s.to_string();
  EXPECT_TRUE(contains(s.message(), "collection 'exact'")) << s.message();
  EXPECT_TRUE(contains(s.message(), "record 1")) << s.message();
  EXPECT_TRUE(contains(s.message(), fmt::format("field '{}'", field))) << s.message();
  EXPECT_TRUE(contains(s.message(), why)) << s.message();
}

// What the column would round, pad, strip or cannot hold is refused before
// anything is written; what it holds reads back equal, timestamps of years
// 0001 to 9999 included (MariaDB's DATETIME computes them exactly).
TEST(MariaDbTarget, WritesAreExactOrRefused) {
  MariaDbDatabase db("tandem_exact");
  sql(db.url(),
      "CREATE TABLE exact (id BIGINT PRIMARY KEY, d DECIMAL(5,2), big DECIMAL(65,30), t DATETIME(6), "
      "t0 DATETIME, ts TIMESTAMP(6) NULL, c CHAR(5), f FLOAT, b BINARY(4), l VARCHAR(5) CHARACTER SET "
      "latin1)");
  auto store = value_or_die(open_store("new", db.url()));
  CollectionSchema exact = schema_of("exact", {{"id", Type::kInt, false}},
                                     {{"d", Type::kDecimal, true},
                                      {"big", Type::kDecimal, true},
                                      {"t", Type::kTimestamp, true},
                                      {"t0", Type::kTimestamp, true},
                                      {"ts", Type::kTimestamp, true},
                                      {"c", Type::kText, true},
                                      {"f", Type::kDouble, true},
                                      {"b", Type::kBytes, true},
                                      {"l", Type::kText, true}});
  ASSERT_OK(store->ensure_collection(exact, false));
  const Key one{Value(int64_t{1})};
  auto with = [&](std::string field, Value v) { return Record{one, {{std::move(field), std::move(v)}}}; };
  auto dec = [](std::string_view s) { return Value(Decimal::parse(s).value()); };
  auto ts = [](std::string_view s) { return Value(Timestamp::parse(s).value()); };

  expect_refused(store->upsert("exact", with("d", dec("1.234"))), "d", "fraction digits");
  expect_refused(store->upsert("exact", with("d", dec("1234.5"))), "d", "integer digits");
  expect_refused(store->upsert("exact", with("big", dec("0." + std::string(30, '0') + "1"))), "big",
                 "fraction digits");
  expect_refused(store->upsert("exact", with("big", dec("1" + std::string(35, '0')))), "big",
                 "integer digits");
  expect_refused(store->upsert("exact", with("t", Value(Timestamp{Timestamp::kMinMicros - 1}))), "t",
                 "outside 0001-01-01");
  expect_refused(store->upsert("exact", with("t", Value(Timestamp{Timestamp::kMaxMicros + 1}))), "t",
                 "outside 0001-01-01");
  expect_refused(store->upsert("exact", with("t0", ts("2024-05-01T12:00:00.5Z"))), "t0", "fraction digits");
  expect_refused(store->upsert("exact", with("ts", ts("1969-12-31T00:00:00Z"))), "ts", "timestamp(6)");
  expect_refused(store->upsert("exact", with("c", Value("ab "))), "c", "trailing spaces");
  expect_refused(store->upsert("exact", with("f", Value(0.1))), "f", "FLOAT");
  expect_refused(store->upsert("exact", with("b", Value(Bytes{"ab"}))), "b", "pads");
  std::vector<Record> batch = {with("d", dec("1.234"))};
  expect_refused(store->insert_if_absent("exact", batch, LockPolicy::kNone).status(), "d", "fraction digits");
  expect_refused(store->patch("exact", one, {{"d", dec("1.234")}}).status(), "d", "fraction digits");
  EXPECT_EQ(value_or_die(store->count("exact", KeyRange::all())), 0u) << "a refused write wrote something";

  // Refused by the server for good: not retryable either.
  Status s = store->upsert("exact", with("l", Value("😀")));
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_FALSE(s.is_retryable());
  s = store->upsert("exact", with("c", Value("too long")));
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_FALSE(s.is_retryable());

  // What the columns hold exactly reads back equal.
  int64_t id = 10;
  for (std::string_view t : {"0001-01-01T00:00:00Z", "0999-12-31T23:59:59.999999Z", "1000-01-01T00:00:00Z",
                             "1582-10-10T00:00:00Z", "9999-12-31T23:59:59.999999Z"}) {
    Record r{Key{Value(id++)},
             {{"d", dec("-999.99")},
              {"big", dec("12345678901234567890123456789012345.000000000000000000000000000001")},
              {"t", ts(t)},
              {"t0", ts("2024-05-01T12:00:01Z")},
              {"ts", ts("2038-01-19T03:14:07.999999Z")},
              {"c", Value(" ab")},
              {"f", Value(0.5)},
              {"b", Value(Bytes{std::string("a\0b\0", 4)})},
              {"l", Value("é")}}};
    ASSERT_OK(store->upsert("exact", r));
    EXPECT_EQ(value_or_die(store->get("exact", r.key)).record, r) << t;
  }
}

// Statements stay under max_allowed_packet: two records that fit one each
// are written by two statements; one that fits none is refused, not retried.
TEST(MariaDbTarget, BatchesStayUnderMaxAllowedPacket) {
  MariaDbDatabase db("tandem_packet");
  auto store = value_or_die(open_store("new", db.url()));
  CollectionSchema docs = schema_of("docs", {{"id", Type::kInt, false}}, {{"body", Type::kText, true}});
  ASSERT_OK(store->ensure_collection(docs, true));
  auto conn = value_or_die(maria::Connection::open(value_or_die(maria::ConnectionSpec::parse(db.url()))));
  size_t packet = 0;
  ASSERT_OK(
      conn->run("SELECT @@max_allowed_packet", {}, "reading max_allowed_packet", [&](const maria::Row& r) {
        packet = std::stoull(r.as_text(0));
        return Status::Ok();
      }));
  ASSERT_LE(packet, size_t{64} << 20)
      << "the test server's max_allowed_packet is larger than the test expects";
  std::vector<Record> two = {
      Record{Key{Value(int64_t{1})}, {{"body", Value(std::string(packet * 6 / 10, 'a'))}}},
      Record{Key{Value(int64_t{2})}, {{"body", Value(std::string(packet * 6 / 10, 'b'))}}}};
  auto outcomes = store->insert_if_absent("docs", two, LockPolicy::kTryLockEach);
  ASSERT_OK(outcomes);
  EXPECT_EQ(*outcomes, std::vector<InsertOutcome>(2, InsertOutcome::kInserted));
  EXPECT_EQ(value_or_die(store->get("docs", two[1].key)).record, two[1]);

  std::vector<Record> huge = {
      Record{Key{Value(int64_t{3})}, {{"body", Value(std::string(packet + 10, 'c'))}}}};
  Status s = store->insert_if_absent("docs", huge, LockPolicy::kNone).status();
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_FALSE(s.is_retryable());
  EXPECT_TRUE(contains(s.message(), "record 3 is")) << s.message();
  EXPECT_TRUE(contains(s.message(), "collection 'docs'")) << s.message();
  EXPECT_TRUE(contains(s.message(), "field 'body'")) << s.message();
  EXPECT_TRUE(contains(s.message(), fmt::format("more than new's max_allowed_packet ({})", packet)))
      << s.message();
  s = store->upsert("docs", huge[0]);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_EQ(value_or_die(store->count("docs", KeyRange::all())), 2u);
}

// A record new's other unique index refuses (its email is another
// record's) is refused for good, not retried as a race on its key.
TEST(MariaDbTarget, ARecordAnotherUniqueIndexRefusesIsInvalidNotBusy) {
  MariaDbDatabase db("tandem_unique");
  sql(db.url(),
      "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL, name VARCHAR(100), age INT, "
      "balance DECIMAL(12,2), UNIQUE KEY users_email (email))");
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(users_schema(), false));
  Record a = user(1, "one"), b = user(2, "two");
  b.fields["email"] = a.fields["email"];
  std::vector<Record> batch = {a, b};
  Status s = store->insert_if_absent("users", batch, LockPolicy::kTryLockEach).status();
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_FALSE(s.is_retryable());
  EXPECT_TRUE(contains(s.message(), "users_email")) << s.message();
  EXPECT_EQ(value_or_die(store->count("users", KeyRange::all())), 0u);
}

// A PostgreSQL database for the test, dropped at the end.
class PostgresDatabase {
 public:
  explicit PostgresDatabase(const std::string& name) : name_(name) {
    const char* url = std::getenv("TANDEM_TEST_POSTGRES_URL");
    if (url == nullptr) {
      ADD_FAILURE() << "TANDEM_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh";
      return;
    }
    admin_ = url;
    psql(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name_));
    psql(fmt::format("CREATE DATABASE {}", name_));
  }
  ~PostgresDatabase() {
    if (!admin_.empty()) psql(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name_));
  }
  std::string url() const { return admin_.substr(0, admin_.rfind('/') + 1) + name_; }

 private:
  void psql(const std::string& statement) {
    std::string cmd = fmt::format("psql '{}' -q -v ON_ERROR_STOP=1 -c '{}' >/dev/null", admin_, statement);
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  std::string admin_;
  std::string name_;
};

// The portable digest over MariaDB's own column types (latin1 text, DATETIME
// of years 0001 to 9999, DECIMAL(10,3), uuids in BINARY(16) and CHAR(36))
// equals PostgreSQL's for equal data, and leaves out, as undecodable, rows
// tandem cannot read (a zero date, a day the month lacks, a uuid column
// holding no UUID, NULL in a NOT NULL field) instead of failing or counting
// them.
TEST(MariaDbStore, PortableDigestEqualsPostgresAndLeavesOutRowsThatDoNotDecode) {
  MariaDbDatabase maria_db("tandem_portable");
  PostgresDatabase pg_db("tandem_portable_maria");
  sql(maria_db.url(),
      "CREATE TABLE things (id BIGINT PRIMARY KEY, name VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_bin, "
      "at DATETIME(6), amount DECIMAL(10,3), ref BINARY(16), ref2 CHAR(36) CHARACTER SET ascii, flag "
      "TINYINT, "
      "raw VARBINARY(10))");
  CollectionSchema things = schema_of("things", {{"id", Type::kInt, false}},
                                      {{"name", Type::kText, false},
                                       {"at", Type::kTimestamp, true},
                                       {"amount", Type::kDecimal, true},
                                       {"ref", Type::kUuid, true},
                                       {"ref2", Type::kUuid, true},
                                       {"flag", Type::kBool, true},
                                       {"raw", Type::kText, true}});
  auto maria = value_or_die(open_store("new", maria_db.url()));
  auto pg = value_or_die(open_store("new", pg_db.url()));
  ASSERT_OK(maria->ensure_collection(things, false));
  ASSERT_OK(pg->ensure_collection(things, true));
  Value u = Value(Uuid::parse("00112233-4455-6677-8899-aabbccddeeff").value());
  int64_t id = 1;
  for (std::string_view at : {"0001-01-01T00:00:00Z", "0999-12-31T23:59:59.999999Z", "2024-02-29T12:00:00.5Z",
                              "9999-12-31T23:59:59.999999Z"}) {
    Record r{Key{Value(id)},
             {{"name", Value(fmt::format("café {}", id))},
              {"at", Value(Timestamp::parse(at).value())},
              {"amount", Value(Decimal::parse(fmt::format("{}.5", id)).value())},
              {"ref", u},
              {"ref2", u},
              {"flag", Value(id % 2 == 0)},
              {"raw", Value("ok")}}};
    ++id;
    ASSERT_OK(maria->upsert("things", r));
    ASSERT_OK(pg->upsert("things", r));
  }
  lax_sql(maria_db.url(), {std::string("INSERT INTO things (id, name, at) VALUES (10, 'zero', '0000-00-00 "
                                       "00:00:00'), (11, 'no day', '2024-02-30 00:00:00'), ") +
                               "(12, 'year 0', '0000-06-15 00:00:00')",
                           "INSERT INTO things (id, name, ref2) VALUES (13, 'short', '0123456789abcdef')",
                           "INSERT INTO things (id, name, flag) VALUES (15, 'flag', 7)",
                           "INSERT INTO things (id, name, raw) VALUES (16, 'raw', x'FF00')",
                           "INSERT INTO things (id, name) VALUES (17, NULL)"});
  auto a = value_or_die(pg->portable_digest("things", KeyRange::all()));
  auto b = value_or_die(maria->portable_digest("things", KeyRange::all()));
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(b->count, 4u);
  EXPECT_EQ(b->undecodable, 7u);
  EXPECT_EQ(*a, *b) << a->hash << " " << b->hash;
  // The tandem digest agrees on what decodes.
  Digest d = value_or_die(maria->digest("things", KeyRange::all()));
  EXPECT_EQ(d.count, 4u);
  EXPECT_EQ(d.undecodable, 7u);
  // And a difference shows.
  ASSERT_OK(maria->patch("things", Key{Value(int64_t{2})}, {{"name", Value("cafe 2")}}));
  EXPECT_NE(*a, *value_or_die(maria->portable_digest("things", KeyRange::all())));
}

}  // namespace
}  // namespace tandem::testing
