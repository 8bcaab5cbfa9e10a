// What is particular to the MariaDB store: rows of a MariaDB old that do not
// decode, its URLs, passwords and TLS options (exact or refused on MariaDB:
// mariadb_exactness_test.cc). What both server stores must do is in
// server_store_test.cc. Needs the servers scripts/test.sh starts (fails
// without them).
#include <cstdlib>
#include <fstream>
#include <map>

#include "core/sync_point.h"
#include "stores/mariadb/mariadb_connection.h"
#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

// Bad input in a MariaDB old: a zero date, a JSON column whose text is not
// JSON (MariaDB's JSON is LONGTEXT; old tables often lack the check), and an
// integer too large for a 64-bit signed integer. Quarantined, the rest copied.
TEST(MariaDbOld, RowsThatDoNotDecodeAreQuarantinedWithTheirField) {
  MariaDbDatabase db("tandem_bad_old");
  mariadb_sql(db.url(),
              "CREATE TABLE events (id BIGINT PRIMARY KEY, at DATETIME(6), doc LONGTEXT, n BIGINT UNSIGNED)");
  mariadb_sql(
      db.url(),
      "INSERT INTO events SELECT seq, '2024-01-02 03:04:05.678901', '{\"k\": 1}', seq FROM seq_1_to_20");
  {
    // Written as a lax application would: no strict mode, zero dates allowed.
    auto conn =
        value_or_die(mariadb::Connection::open(value_or_die(mariadb::ConnectionSpec::parse(db.url()))));
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
  auto m = value_or_die(init_and_open(config, options));
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

// A batch longer than a part (insert_if_absent commits in parts of 256, each
// with its own record locks, inserted blind while recent parts found nothing
// present): every outcome in order across the parts, a present record met by
// a blind insert undone and the part done again asking first, a record whose
// lock another session holds skipped, a tombstone respected; read back with
// the server's own text protocol.
TEST(MariaDbNew, ABatchLongerThanAPartKeepsEveryOutcomeAcrossPartsAndBlindInserts) {
  MariaDbDatabase db("tandem_insert_parts");
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(users_schema(), true));
  std::vector<Record> first;
  for (int64_t id = 1000; id < 1600; ++id) first.push_back(user(id, "warm"));
  // Parts that find nothing present make the next ones blind.
  for (InsertOutcome o : value_or_die(store->insert_if_absent("users", first, LockPolicy::kTryLockEach)))
    ASSERT_EQ(o, InsertOutcome::kInserted);
  mariadb_sql(db.url(),
              "INSERT INTO users (id, email, name, age) VALUES (10, 'u10@example.com', 'pre', 1), "
              "(300, 'u300@example.com', 'pre', 1), (650, 'u650@example.com', 'pre', 1)");
  ASSERT_OK(store->remove("users", Key{Value(int64_t{400})}));  // a tombstone
  auto other = value_or_die(open_store("new", db.url()));
  ASSERT_OK(other->ensure_collection(users_schema(), false));
  RecordLock held = value_or_die(other->try_lock("users", Key{Value(int64_t{500})}));
  std::vector<Record> batch;
  for (int64_t id = 0; id < 700; ++id) batch.push_back(user(id, "copied"));
  auto outcomes = value_or_die(store->insert_if_absent("users", batch, LockPolicy::kTryLockEach));
  ASSERT_EQ(outcomes.size(), batch.size());
  for (int64_t id = 0; id < 700; ++id) {
    InsertOutcome expected = id == 10 || id == 300 || id == 650 ? InsertOutcome::kAlreadyPresent
                             : id == 400                        ? InsertOutcome::kTombstoned
                             : id == 500                        ? InsertOutcome::kLocked
                                                                : InsertOutcome::kInserted;
    EXPECT_EQ(outcomes[static_cast<size_t>(id)], expected) << "record " << id;
  }
  auto rows = mariadb_rows(db.url(),
                           "SELECT COUNT(*), SUM(name = 'copied'), SUM(name = 'pre'), SUM(id IN (400, 500)) "
                           "FROM users WHERE id < 700");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"698", "695", "3", "0"}));
}

// A part's tombstones are read as the range between its least and greatest
// key; a range holding many more tombstones than the part has keys is read
// by name instead. Both find exactly the part's own.
TEST(MariaDbNew, TombstonesAreFoundWhetherTheirRangeHoldsFewOrMany) {
  MariaDbDatabase db("tandem_tombstone_range");
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(users_schema(), true));
  for (int64_t id = 2; id <= 1200; id += 2) ASSERT_OK(store->remove("users", Key{Value(id)}));
  int by_name = 0;
  SyncPoints::set("mariadb.tombstones_by_name", [&] { ++by_name; });
  auto expect_outcomes = [&](const std::vector<int64_t>& ids) {
    std::vector<Record> batch;
    for (int64_t id : ids) batch.push_back(user(id, "copied"));
    auto outcomes = value_or_die(store->insert_if_absent("users", batch, LockPolicy::kTryLockEach));
    ASSERT_EQ(outcomes.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      const bool dead = ids[i] % 2 == 0 && ids[i] <= 1200;
      EXPECT_EQ(outcomes[i], dead ? InsertOutcome::kTombstoned : InsertOutcome::kInserted)
          << "record " << ids[i];
    }
  };
  std::vector<int64_t> neighbours;
  for (int64_t id = 100; id < 140; ++id) neighbours.push_back(id);
  expect_outcomes(neighbours);
  EXPECT_EQ(by_name, 0) << "40 neighbours: their range holds 20 tombstones";
  expect_outcomes({1, 3, 600, 1199, 1201, 2000, 2001});
  EXPECT_EQ(by_name, 1) << "7 keys far apart: their range holds about 600";
  SyncPoints::clear_all();
  EXPECT_EQ(mariadb_rows(db.url(), "SELECT COUNT(*), SUM(id % 2 = 0 AND id <= 1200) FROM users"),
            (std::vector<std::vector<std::string>>{{"26", "0"}}));
}

TEST(MariaDbConnection, UrlsPasswordsAndTlsOptions) {
  TempDir dir;
  {
    std::ofstream f(dir.file("pw"));
    f << "s3cret-from-file\n";
  }
  auto spec = value_or_die(mariadb::ConnectionSpec::parse(fmt::format(
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
      mariadb::ConnectionSpec::parse("mysql://app@[::1]/shop?password_env=TANDEM_TEST_MARIADB_PW"));
  EXPECT_EQ(spec.password, "s3cret-from-env");
  EXPECT_EQ(spec.host, "::1");
  EXPECT_EQ(spec.port, 3306u);
  spec = value_or_die(mariadb::ConnectionSpec::parse("mariadb://a%40b@h/db"));
  EXPECT_EQ(spec.user, "a@b");
  auto written = mariadb::ConnectionSpec::parse("mariadb://a%40b:p%3Ass@h/db");  // issue 14: refused
  EXPECT_EQ(written.status().code(), Code::kConfig);
  EXPECT_EQ(written.status().message().find("p%3Ass"), std::string::npos) << written.status().message();
  for (const char* bad :
       {"mariadb://app@h/db?password_env=TANDEM_NO_SUCH_VAR", "mariadb://app@h/db?sslmode=x",
        "mariadb://app@h:99999/db", "mariadb://app@h", "mariadb://app@h/db?ssl_mode=sometimes"}) {
    auto r = mariadb::ConnectionSpec::parse(bad);
    EXPECT_EQ(r.status().code(), Code::kConfig) << bad;
  }
  // A password in the URL never reaches an error message: server_store_test.cc.
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
  std::string base = mariadb_admin_url();
  auto spec = value_or_die(mariadb::ConnectionSpec::parse(base + "?ssl_mode=verify_identity&ssl_ca=" + ca));
  auto conn = value_or_die(mariadb::Connection::open(spec));
  std::string cipher;
  ASSERT_OK(conn->run("SHOW SESSION STATUS LIKE 'Ssl_cipher'", {}, "reading the cipher",
                      [&](const mariadb::Row& r) {
                        cipher = std::string(r.text(1));
                        return Status::Ok();
                      }));
  EXPECT_FALSE(cipher.empty()) << "the session is not encrypted";
  auto store = open_store("new", base + "?ssl_mode=verify_ca&ssl_ca=" + ca);
  ASSERT_OK(store);
  auto refused = mariadb::Connection::open(
      value_or_die(mariadb::ConnectionSpec::parse(base + "?ssl_mode=verify_ca&ssl_ca=" + other)));
  ASSERT_FALSE(refused.ok()) << "a server certificate not signed by the given CA was accepted";
  EXPECT_NE(refused.status().message().find("127.0.0.1"), std::string::npos) << refused.status().message();
}

}  // namespace
}  // namespace tandem::testing
