// Mapping between engines, end to end through the backfill and verify: old
// keeps users as JSON documents (on SQLite, PostgreSQL and MariaDB), new has
// typed columns. Records that do not convert are quarantined with the field
// and the reason; the rest arrive typed; counts balance. And `tandem init`.
#include <fstream>
#include <map>

#include "stores/sqlite/sqlite_connection.h"
#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

const char* kConfig = R"toml(
[migration]
control = "{control}"
[databases]
old = "{old}"
new = "{new}"
[[collections]]
name = "users"
key = ["id"]
columns = [
  {{ name = "id", type = "int" }},
  {{ name = "email", type = "text", nullable = false }},
  {{ name = "balance", type = "decimal" }},
  {{ name = "created_at", type = "timestamp" }},
  {{ name = "active", type = "bool" }},
  {{ name = "profile", type = "json" }},
]
[collections.old]
table = "user_docs"
key = ["id"]
columns = [ {{ name = "id", type = "int" }}, {{ name = "doc", type = "json" }} ]
document = "doc"
unknown_fields = "error"
drop = ["legacy"]
map = [
  {{ column = "email", from = "contact.email" }},
  {{ column = "balance", from = "balance", convert = "decimal:2" }},
  {{ column = "created_at", from = "created", convert = "timestamp:%Y-%m-%d %H:%M:%S" }},
  {{ column = "active", from = "active", convert = "bool" }},
]
)toml";

// A fresh empty database of engine; dropped with the object.
class Database {
 public:
  Database(const std::string& engine, const TempDir& dir, const std::string& name)
      : engine_(engine), name_(name) {
    if (engine == "sqlite") {
      url_ = "sqlite:" + dir.file(name + ".db");
    } else if (engine == "postgres") {
      const char* admin = std::getenv("TANDEM_TEST_POSTGRES_URL");
      if (admin == nullptr) {
        ADD_FAILURE() << "TANDEM_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh";
        return;
      }
      admin_ = admin;
      std::system(
          fmt::format("psql '{}' -qc 'DROP DATABASE IF EXISTS {} WITH (FORCE)' >/dev/null 2>&1", admin_, name)
              .c_str());
      EXPECT_EQ(
          std::system(fmt::format("psql '{}' -qc 'CREATE DATABASE {}' >/dev/null", admin_, name).c_str()), 0);
      url_ = admin_.substr(0, admin_.rfind('/') + 1) + name;
    } else {
      const char* admin = std::getenv("TANDEM_TEST_MARIADB_URL");
      if (admin == nullptr) {
        ADD_FAILURE() << "TANDEM_TEST_MARIADB_URL is not set: run the tests through scripts/test.sh";
        return;
      }
      admin_ = admin;
      (void)run_mariadb_admin(admin_, "DROP DATABASE IF EXISTS " + name);
      EXPECT_OK(run_mariadb_admin(admin_, "CREATE DATABASE " + name));
      url_ = admin_.substr(0, admin_.rfind('/') + 1) + name;
    }
  }
  ~Database() {
    if (engine_ == "postgres" && !admin_.empty()) {
      (void)std::system(fmt::format("psql '{}' -qc 'DROP DATABASE IF EXISTS {} WITH (FORCE)' >/dev/null 2>&1",
                                    admin_, name_)
                            .c_str());
    } else if (engine_ == "mariadb" && !admin_.empty()) {
      (void)run_mariadb_admin(admin_, "DROP DATABASE IF EXISTS " + name_);
    }
  }
  const std::string& url() const { return url_; }

 private:
  std::string engine_, name_, admin_, url_;
};

Record document(int64_t id, const std::string& json) {
  Record r;
  r.key = Key{Value(id)};
  r.fields = {{"doc", Value(Json::parse(json).value())}};
  return r;
}

class MappingFromDocuments : public ::testing::TestWithParam<std::string> {};

TEST_P(MappingFromDocuments, BadDocumentsAreQuarantinedWithFieldAndReasonAndCountsBalance) {
  const std::string engine = GetParam();
  TempDir dir;
  Database old_db(engine, dir, "tandem_map_old_" + engine);
  ASSERT_FALSE(old_db.url().empty());
  CollectionSchema docs;
  docs.name = "user_docs";
  docs.key_columns = {{"id", Type::kInt, false}};
  docs.columns = {{"doc", Type::kJson, true}};
  {  // Old as a document service wrote it.
    auto old_store = value_or_die(open_store("old", old_db.url(), StoreOptions{.keep_tombstones = false}));
    ASSERT_OK(old_store->ensure_collection(docs, true));
    std::vector<Record> records;
    for (int64_t id = 1; id <= 20; ++id) {
      records.push_back(
          document(id, fmt::format(R"({{"contact": {{"email": "u{}@example.com"}}, "balance": {}.25,
          "created": "2024-01-{:02} 08:00:00", "active": {}, "profile": {{"plan": "pro"}}, "legacy": "x"}})",
                                   id, id, id, id % 2)));
    }
    records.push_back(document(21, R"({"contact": {"email": 42}})"));                       // wrong type
    records.push_back(document(22, R"({"contact": {"email": "a@b"}, "surprise": true})"));  // unknown field
    records.push_back(document(23, R"({"contact": {"email": "a@b"}, "created": "yesterday"})"));
    records.push_back(document(24, R"({"contact": {"email": "a@b"}, "balance": "1.234"})"));  // too precise
    records.push_back(document(25, R"({"balance": 1})"));                              // NULL into NOT NULL
    records.push_back(document(26, R"({"contact": {"email": "a@b"}, "active": 7})"));  // not a boolean
    ASSERT_OK(old_store->insert_if_absent("user_docs", records, LockPolicy::kNone));
  }
  int64_t bad = 6;
  if (engine == "sqlite") {  // only SQLite keeps text that is not JSON in a json column
    auto conn = value_or_die(sqlite::Connection::open(dir.file("tandem_map_old_sqlite.db"), true, false));
    ASSERT_OK(
        conn->exec(R"(INSERT INTO user_docs VALUES (27, '{"contact": {"email": "a@b"}, "active": tru'))"));
    ++bad;
  }
  std::ofstream(dir.file("tandem.toml"))
      << fmt::format(fmt::runtime(kConfig), fmt::arg("control", "sqlite:" + dir.file("control.db")),
                     fmt::arg("old", old_db.url()), fmt::arg("new", "sqlite:" + dir.file("new.db")));
  Config config = value_or_die(Config::load_file(dir.file("tandem.toml")));
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(init_and_open(config, options));
  ASSERT_OK(m->change_step(1, "test", false));
  auto summary = value_or_die(run_backfill(*m, BackfillOptions{}));
  ASSERT_TRUE(summary.complete);
  const BackfillCounts& c = summary.collections[0].state.counts;
  EXPECT_EQ(c.copied, 20);
  EXPECT_EQ(c.quarantined, bad);
  EXPECT_EQ(c.scanned, c.copied + c.present + c.locked + c.tombstoned + c.quarantined);
  std::map<std::string, QuarantineEntry> q;
  for (const QuarantineEntry& e : value_or_die(OperatorTools(*m).control().quarantine(20)))
    q[e.key_display] = e;
  EXPECT_EQ(q["21"].field, "contact.email");
  EXPECT_NE(q["21"].reason.find("not a string"), std::string::npos) << q["21"].reason;
  EXPECT_EQ(q["22"].field, "surprise");
  EXPECT_EQ(q["23"].field, "created");
  EXPECT_NE(q["23"].reason.find("timestamp format"), std::string::npos) << q["23"].reason;
  EXPECT_EQ(q["24"].field, "balance");
  EXPECT_EQ(q["25"].field, "contact.email");
  EXPECT_NE(q["25"].reason.find("NOT NULL"), std::string::npos) << q["25"].reason;
  EXPECT_EQ(q["26"].field, "active");
  if (engine == "sqlite") {
    EXPECT_NE(q["27"].reason.find("JSON"), std::string::npos) << q["27"].reason;
  }
  // The good records arrived typed, and verify compares them through the mapping.
  auto in_new = value_or_die(OperatorTools(*m).store(Side::kNew).get("users", Key{Value(int64_t{7})}));
  ASSERT_TRUE(in_new.present());
  EXPECT_EQ(in_new.record.fields.at("email"), Value("u7@example.com"));
  EXPECT_EQ(in_new.record.fields.at("balance"), Value(Decimal::parse("7.25").value()));
  EXPECT_EQ(in_new.record.fields.at("created_at"), Value(Timestamp::parse("2024-01-07T08:00:00Z").value()));
  EXPECT_EQ(in_new.record.fields.at("active"), Value(true));
  EXPECT_EQ(in_new.record.fields.at("profile"), Value(Json::parse(R"({"plan":"pro"})").value()));
  auto report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.collections[0].records, 20);
  EXPECT_EQ(report.collections[0].undecodable, bad);
}

INSTANTIATE_TEST_SUITE_P(OldEngines, MappingFromDocuments, ::testing::Values("sqlite", "postgres", "mariadb"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// `tandem init --dry-run` prints the DDL and creates nothing; `tandem init`
// creates new's table from the config; a second run finds it.
class InitCommand : public ::testing::TestWithParam<std::string> {};

TEST_P(InitCommand, DryRunPrintsTheTableAndInitCreatesIt) {
  const std::string engine = GetParam();
  TempDir dir;
  Database new_db(engine, dir, "tandem_init_" + engine);
  ASSERT_FALSE(new_db.url().empty());
  {
    auto old_store = value_or_die(
        open_store("old", "sqlite:" + dir.file("old.db"), StoreOptions{.keep_tombstones = false}));
    CollectionSchema docs;
    docs.name = "user_docs";
    docs.key_columns = {{"id", Type::kInt, false}};
    docs.columns = {{"doc", Type::kJson, true}};
    ASSERT_OK(old_store->ensure_collection(docs, true));
  }
  if (engine == "sqlite") {  // an existing, empty database file
    auto conn = value_or_die(sqlite::Connection::open(dir.file("tandem_init_sqlite.db"), true, true));
  }
  std::string config = dir.file("tandem.toml");
  std::ofstream(config) << fmt::format(
      fmt::runtime(kConfig), fmt::arg("control", "sqlite:" + dir.file("control.db")),
      fmt::arg("old", "sqlite:" + dir.file("old.db")), fmt::arg("new", new_db.url()));
  CliResult dry = run_cli(dir, {"--config", config, "init", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.out;
  EXPECT_NE(dry.out.find("CREATE TABLE IF NOT EXISTS \"users\""), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("\"created_at\""), std::string::npos) << dry.out;
  CollectionSchema users = value_or_die(Config::load_file(config)).collections[0];
  {
    auto store = value_or_die(open_store("new", new_db.url()));
    EXPECT_FALSE(store->ensure_collection(users, false).ok()) << "the dry run created the table";
  }
  CliResult init = run_cli(dir, {"--config", config, "init"});
  EXPECT_EQ(init.exit_code, 0) << init.out;
  EXPECT_NE(init.out.find("'users': created"), std::string::npos) << init.out;
  {
    auto store = value_or_die(open_store("new", new_db.url()));
    EXPECT_OK(store->ensure_collection(users, false));
  }
  CliResult again = run_cli(dir, {"--config", config, "init"});
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_NE(again.out.find("exists"), std::string::npos) << again.out;
}

INSTANTIATE_TEST_SUITE_P(NewEngines, InitCommand, ::testing::Values("sqlite", "postgres", "mariadb"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace tandem::testing
