#include "test_support.h"

#include <libpq-fe.h>

#include <fmt/format.h>
#include <stdlib.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "stores/mariadb/mariadb_connection.h"
#include "stores/sqlite/sqlite_connection.h"

extern char** environ;

namespace tandem::testing {

Status run_mariadb_admin(std::string_view url, const std::string& sql) {
  TANDEM_ASSIGN_OR_RETURN(auto spec, mariadb::ConnectionSpec::parse(url));
  TANDEM_ASSIGN_OR_RETURN(auto conn, mariadb::Connection::open(spec));
  return conn->exec_simple(sql, "running an admin statement");
}

std::string mariadb_admin_url(const char* variable) {
  const char* url = std::getenv(variable);
  if (url == nullptr) {
    ADD_FAILURE() << variable << " is not set: run the tests through scripts/test.sh, which starts MariaDB";
    return "";
  }
  return url;
}

void mariadb_sql(const std::string& url, const std::string& statement) {
  Status s = run_mariadb_admin(url, statement);
  ASSERT_TRUE(s.ok()) << statement << ": " << s.to_string();
}

std::vector<std::vector<std::string>> mariadb_rows(const std::string& url, const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  auto spec = mariadb::ConnectionSpec::parse(url);
  if (!spec.ok()) {
    ADD_FAILURE() << spec.status().to_string();
    return out;
  }
  MYSQL* mysql = mysql_init(nullptr);
  if (mysql_real_connect(mysql, spec->host.c_str(), spec->user.c_str(), spec->password.c_str(),
                         spec->database.c_str(), spec->port, nullptr, 0) == nullptr ||
      mysql_query(mysql, sql.c_str()) != 0) {
    ADD_FAILURE() << sql.substr(0, 200) << ": " << mysql_error(mysql);
    mysql_close(mysql);
    return out;
  }
  MYSQL_RES* result = mysql_store_result(mysql);
  if (result != nullptr) {
    unsigned n = mysql_num_fields(result);
    while (MYSQL_ROW row = mysql_fetch_row(result)) {
      unsigned long* lengths = mysql_fetch_lengths(result);
      std::vector<std::string> cols;
      for (unsigned i = 0; i < n; ++i)
        cols.push_back(row[i] == nullptr ? "<NULL>" : std::string(row[i], lengths[i]));
      out.push_back(std::move(cols));
    }
    mysql_free_result(result);
  }
  mysql_close(mysql);
  return out;
}

MariaDbDatabase::MariaDbDatabase(const std::string& name, const char* variable)
    : admin_(mariadb_admin_url(variable)), name_(name) {
  mariadb_sql(admin_, fmt::format("DROP DATABASE IF EXISTS {}", name_));
  mariadb_sql(admin_, fmt::format("CREATE DATABASE {}", name_));
}

MariaDbDatabase::~MariaDbDatabase() {
  (void)run_mariadb_admin(admin_, fmt::format("DROP DATABASE IF EXISTS {}", name_));
}

std::string MariaDbDatabase::url(const std::string& user, const std::string& query) const {
  std::string base = admin_.substr(0, admin_.rfind('/') + 1) + name_;
  return "mariadb://" + user + base.substr(base.find('@')) + query;
}

TempDir::TempDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "tandem-test-XXXXXX").string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) std::abort();
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CollectionSchema users_schema() {
  CollectionSchema s;
  s.name = "users";
  s.key_columns = {{"id", Type::kInt, false}};
  s.columns = {{"email", Type::kText, false},
               {"name", Type::kText, true},
               {"age", Type::kInt, true},
               {"balance", Type::kDecimal, true}};
  return s;
}

Record user(int64_t id, std::string name, std::optional<int64_t> age) {
  Record r;
  r.key = Key{Value(id)};
  r.fields["email"] = Value(fmt::format("u{}@example.com", id));
  r.fields["name"] = Value(std::move(name));
  r.fields["age"] = age ? Value(*age) : Value();
  r.fields["balance"] = Value(Decimal::parse("10.50").value());
  return r;
}

Result<Lookup> CountingStore::get(std::string_view c, const Key& k) {
  ++reads;
  return StoreWrapper::get(c, k);
}
Result<std::vector<Lookup>> CountingStore::get_many(std::string_view c, std::span<const Key> k) {
  ++reads;
  return StoreWrapper::get_many(c, k);
}
Result<std::vector<InsertOutcome>> CountingStore::insert_if_absent(std::string_view c,
                                                                   std::span<const Record> r, LockPolicy p) {
  ++writes;
  return StoreWrapper::insert_if_absent(c, r, p);
}
Status CountingStore::upsert(std::string_view c, const Record& r) {
  ++writes;
  return StoreWrapper::upsert(c, r);
}
Result<PatchOutcome> CountingStore::patch(std::string_view c, const Key& k, const FieldMap& f) {
  ++writes;
  return StoreWrapper::patch(c, k, f);
}
Status CountingStore::remove(std::string_view c, const Key& k) {
  ++writes;
  return StoreWrapper::remove(c, k);
}
Result<std::vector<Record>> CountingStore::scan(std::string_view c, const KeyRange& r, size_t l) {
  ++reads;
  return StoreWrapper::scan(c, r, l);
}
Result<Digest> CountingStore::digest(std::string_view c, const KeyRange& r) {
  ++reads;
  return StoreWrapper::digest(c, r);
}
Result<RecordLock> CountingStore::lock(std::string_view c, const Key& k, std::chrono::milliseconds t) {
  ++locks;
  return StoreWrapper::lock(c, k, t);
}
Result<RecordLock> CountingStore::try_lock(std::string_view c, const Key& k) {
  ++locks;
  return StoreWrapper::try_lock(c, k);
}

Status FaultyStore::fault(std::string_view what) {
  ++injected;
  return Status::Unavailable(fmt::format("injected fault: {} {} failed", name(), what));
}
Status FaultyStore::upsert(std::string_view c, const Record& r) {
  if (on_write) on_write();
  if (fail_writes) return fault("upsert");
  return StoreWrapper::upsert(c, r);
}
Result<PatchOutcome> FaultyStore::patch(std::string_view c, const Key& k, const FieldMap& f) {
  if (on_write) on_write();
  if (fail_writes) return fault("patch");
  return StoreWrapper::patch(c, k, f);
}
Status FaultyStore::remove(std::string_view c, const Key& k) {
  if (on_write) on_write();
  if (fail_writes) return fault("remove");
  return StoreWrapper::remove(c, k);
}
Result<std::vector<InsertOutcome>> FaultyStore::insert_if_absent(std::string_view c,
                                                                 std::span<const Record> r, LockPolicy p) {
  if (on_write) on_write();
  if (fail_writes) return fault("insert");
  return StoreWrapper::insert_if_absent(c, r, p);
}

std::unique_ptr<Store> create_old_database(const std::string& path, const CollectionSchema& schema,
                                           const std::vector<Record>& records) {
  {
    auto setup = value_or_die(open_store("old-setup", path));
    if (!setup->ensure_collection(schema, true).ok()) std::abort();
    if (!records.empty()) {
      auto r = setup->insert_if_absent(schema.name, records, LockPolicy::kNone);
      if (!r.ok()) std::abort();
    }
  }
  auto old =
      value_or_die(open_store("old", path, StoreOptions{.keep_tombstones = false, .configure = false}));
  return old;
}

MigrationFixture::MigrationFixture(const std::vector<Record>& old_records,
                                   std::chrono::milliseconds refresh_interval, bool register_instance,
                                   const std::function<void(const std::string&)>& prepare_old,
                                   const std::string& new_url) {
  if (prepare_old) prepare_old(dir.file("old.db"));
  config.migration_name = "test";
  config.old_url = "sqlite:" + dir.file("old.db");
  config.new_url = new_url.empty() ? "sqlite:" + dir.file("new.db") : new_url;
  config.control_url = "sqlite:" + dir.file("control.db");
  config.refresh_interval = refresh_interval;
  config.instance_timeout = std::chrono::milliseconds(5000);
  config.lock_timeout = std::chrono::milliseconds(5000);
  config.collections = {users_schema()};
  old_sqlite = create_old_database(dir.file("old.db"), users_schema(), old_records);
  new_sqlite = value_or_die(open_store("new", config.new_url));
  old_counting = std::make_unique<CountingStore>(old_sqlite.get());
  new_counting = std::make_unique<CountingStore>(new_sqlite.get());
  old_faulty = std::make_unique<FaultyStore>(old_counting.get());
  new_faulty = std::make_unique<FaultyStore>(new_counting.get());
  control = value_or_die(open_control_store(config.control_url));
  reopen_migration(register_instance);
}

Result<std::unique_ptr<Migration>> init_and_open(const Config& config, MigrationOptions options) {
  {
    TANDEM_ASSIGN_OR_RETURN(
        auto old_store,
        open_store("old", config.old_url, StoreOptions{.keep_tombstones = false, .configure = false}));
    TANDEM_ASSIGN_OR_RETURN(auto new_store, open_store("new", config.new_url));
    TANDEM_RETURN_IF_ERROR(init_new_tables(config, *old_store, new_store.get(), /*dry_run=*/false).status());
  }
  return Migration::open(config, std::move(options));
}

void MigrationFixture::reopen_migration(bool register_instance) {
  migration.reset();
  // What `tandem init` does: a Migration's open creates no table.
  if (!init_new_tables(config, *old_sqlite, new_sqlite.get(), /*dry_run=*/false).ok()) std::abort();
  MigrationOptions options;
  options.register_instance = register_instance;
  migration =
      value_or_die(Migration::open_with(config, old_faulty.get(), new_faulty.get(), control.get(), options));
  users = value_or_die(migration->collection("users"));
}

void MigrationFixture::jump_to_step(size_t index) {
  auto current = value_or_die(control->current_step());
  if (current.step_index != index) {
    auto moved = control->change_step(current.version, index, "test setup", true, "test", {});
    if (!moved.ok()) std::abort();
  }
  if (!migration->refresh().ok()) std::abort();
}

std::string MigrationFixture::write_config_file() const {
  std::string path = dir.file("tandem.toml");
  std::ofstream out(path);
  out << fmt::format(R"toml(
[migration]
name = "test"
control = "{}"
refresh_interval_ms = {}
instance_timeout_ms = {}

[databases]
old = "{}"
new = "{}"

[[collections]]
name = "users"
key = "id"
columns = [
  {{ name = "id", type = "int" }},
  {{ name = "email", type = "text", nullable = false }},
  {{ name = "name", type = "text" }},
  {{ name = "age", type = "int" }},
  {{ name = "balance", type = "decimal" }},
]
)toml",
                     config.control_url, config.refresh_interval.count(), config.instance_timeout.count(),
                     config.old_url, config.new_url);
  return path;
}

pid_t spawn_cli(const TempDir& dir, const std::vector<std::string>& args, const std::string& name) {
  std::string out_path = dir.file(name + ".log");
  std::vector<std::string> argv_s = {TANDEM_CLI_PATH};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, TANDEM_CLI_PATH, &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int wait_cli(pid_t pid) {
  int status = 0;
  if (pid <= 0 || waitpid(pid, &status, 0) != pid) return -1000;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

void age_heartbeat(const std::string& control_path, const std::string& instance_id,
                   std::chrono::milliseconds age) {
  auto conn = value_or_die(sqlite::Connection::open(control_path, false, false));
  auto raw =
      value_or_die(conn->prepare("UPDATE tandem_instances SET heartbeat_at = ?1 WHERE instance_id = ?2"));
  sqlite::Statement st(*conn, raw);
  st.bind_int(
      1,
      (now_micros() - std::chrono::duration_cast<std::chrono::microseconds>(age)).time_since_epoch().count());
  st.bind_text(2, instance_id);
  ASSERT_OK(st.run("ageing a heartbeat"));
}

void age_backfill_claim(const std::string& control_path, const std::string& collection, int64_t range_id,
                        std::chrono::milliseconds age) {
  auto conn = value_or_die(sqlite::Connection::open(control_path, false, false));
  auto raw =
      value_or_die(conn->prepare("UPDATE tandem_backfill_ranges SET claimed_at = claimed_at - ?1 WHERE "
                                 "collection = ?2 AND range_id = ?3"));
  sqlite::Statement st(*conn, raw);
  st.bind_int(1, std::chrono::duration_cast<std::chrono::microseconds>(age).count());
  st.bind_text(2, collection);
  st.bind_int(3, range_id);
  ASSERT_OK(st.run("ageing a backfill claim"));
}

CliResult run_cli(const TempDir& dir, const std::vector<std::string>& args) {
  CliResult r;
  r.exit_code = wait_cli(spawn_cli(dir, args, "cli-output"));
  std::ifstream in(dir.file("cli-output.log"));
  std::stringstream ss;
  ss << in.rdbuf();
  r.out = ss.str();
  return r;
}

std::string postgres_admin_url(const char* variable) {
  const char* url = std::getenv(variable);
  if (url == nullptr) {
    ADD_FAILURE() << variable << " is not set: run the tests through scripts/test.sh";
    return "";
  }
  return url;
}

void psql(const std::string& url, const std::string& sql) {
  std::string cmd = fmt::format("psql '{}' -q -v ON_ERROR_STOP=1 -c \"{}\" >/dev/null", url, sql);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << sql;
}

std::vector<std::vector<std::string>> postgres_rows(const std::string& url, const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect: " << PQerrorMessage(conn);
    PQfinish(conn);
    return out;
  }
  PGresult* r = PQexec(conn, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
    ADD_FAILURE() << sql.substr(0, 200) << ": " << PQerrorMessage(conn);
  } else {
    for (int row = 0; row < PQntuples(r); ++row) {
      std::vector<std::string> cols;
      for (int col = 0; col < PQnfields(r); ++col) {
        cols.push_back(PQgetisnull(r, row, col) ? "<NULL>"
                                                : std::string(PQgetvalue(r, row, col),
                                                              static_cast<size_t>(PQgetlength(r, row, col))));
      }
      out.push_back(std::move(cols));
    }
  }
  PQclear(r);
  PQfinish(conn);
  return out;
}

PostgresDatabase::PostgresDatabase(const std::string& name, const std::string& create_options,
                                   const char* variable)
    : admin_(postgres_admin_url(variable)), name_(name) {
  psql(admin_, fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name_));
  psql(admin_, fmt::format("CREATE DATABASE {} {}", name_, create_options));
}

PostgresDatabase::~PostgresDatabase() {
  std::string cmd =
      fmt::format("psql '{}' -q -c 'DROP DATABASE IF EXISTS {} WITH (FORCE)' >/dev/null 2>&1", admin_, name_);
  (void)std::system(cmd.c_str());
}

std::string PostgresDatabase::url(const std::string& user) const {
  std::string base = admin_.substr(0, admin_.rfind('/') + 1) + name_;
  return "postgres://" + user + base.substr(base.find('@'));
}

}  // namespace tandem::testing
