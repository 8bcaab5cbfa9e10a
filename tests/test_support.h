// Shared test fixtures: real SQLite files in a temporary folder, stores
// wrapped with StoreWrapper decorators for call counting and fault injection
// (no mock databases), and a Migration opened over them.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sys/types.h>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"
#include "tandem/store_wrapper.h"

namespace tandem::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// users(id int key, email text not null, name text, age int, balance decimal)
CollectionSchema users_schema();
Record user(int64_t id, std::string name, std::optional<int64_t> age = 30);

// Counts calls by kind: reads (get, get_many, scan, digest), writes (insert,
// upsert, patch, remove), locks (lock, try_lock).
class CountingStore : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  std::atomic<int64_t> reads{0}, writes{0}, locks{0};
  void reset() { reads = writes = locks = 0; }
  int64_t total() const { return reads + writes + locks; }

  Result<Lookup> get(std::string_view c, const Key& k) override;
  Result<std::vector<Lookup>> get_many(std::string_view c, std::span<const Key> k) override;
  Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view c, std::span<const Record> r,
                                                      LockPolicy p) override;
  Status upsert(std::string_view c, const Record& r) override;
  Result<PatchOutcome> patch(std::string_view c, const Key& k, const FieldMap& f) override;
  Status remove(std::string_view c, const Key& k) override;
  Result<std::vector<Record>> scan(std::string_view c, const KeyRange& r, size_t l) override;
  Result<Digest> digest(std::string_view c, const KeyRange& r) override;
  Result<RecordLock> lock(std::string_view c, const Key& k, std::chrono::milliseconds t) override;
  Result<RecordLock> try_lock(std::string_view c, const Key& k) override;
};

// Fails writes and/or locks with a retryable kUnavailable while switched on.
class FaultyStore : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  std::atomic<bool> fail_writes{false};
  std::atomic<int64_t> injected{0};
  // Called at the start of every write when set (set it before the writers
  // start): a test's sync point to hold a write in flight.
  std::function<void()> on_write;

  Status upsert(std::string_view c, const Record& r) override;
  Result<PatchOutcome> patch(std::string_view c, const Key& k, const FieldMap& f) override;
  Status remove(std::string_view c, const Key& k) override;
  Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view c, std::span<const Record> r,
                                                      LockPolicy p) override;

 private:
  Status fault(std::string_view what);
};

// Creates the old database as the service would have it (its table exists),
// then returns it opened as tandem opens old: no tombstones, not configured.
std::unique_ptr<Store> create_old_database(const std::string& path, const CollectionSchema& schema,
                                           const std::vector<Record>& records);

// What `tandem init` does (init_new_tables: creates new's missing tables),
// then Migration::open: a Migration's open creates no table (issue 14).
Result<std::unique_ptr<Migration>> init_and_open(const Config& config, MigrationOptions options = {});

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};
// Runs the tandem CLI as a separate process and waits for it.
CliResult run_cli(const TempDir& dir, const std::vector<std::string>& args);

// Makes instance_id's last heartbeat in the SQLite control store at path
// `age` old (heartbeats are stamped by the store's own clock: a test that
// needs a silent instance ages its row by hand instead of waiting).
void age_heartbeat(const std::string& control_path, const std::string& instance_id,
                   std::chrono::milliseconds age);
// Moves a backfill range's claim time `age` into the past (SQLite control file).
void age_backfill_claim(const std::string& control_path, const std::string& collection, int64_t range_id,
                        std::chrono::milliseconds age);

// The PostgreSQL server scripts/test.sh started (an admin URL, from the
// environment variable); fails the test when it is not set.
std::string postgres_admin_url(const char* variable = "TANDEM_TEST_POSTGRES_URL");
// Runs sql through the psql client.
void psql(const std::string& url, const std::string& sql);
// Runs sql through libpq and returns every row's columns as the server's own
// text (NULL as "<NULL>"): an independent reading, not tandem's codec. An
// error fails the test and returns no rows.
std::vector<std::vector<std::string>> postgres_rows(const std::string& url, const std::string& sql);

// A fresh PostgreSQL database (create_options e.g. "ENCODING 'SQL_ASCII'
// TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"), dropped at the end; on the
// server whose admin URL is in the environment variable `variable` (the
// restart test's server has its own).
class PostgresDatabase {
 public:
  explicit PostgresDatabase(const std::string& name, const std::string& create_options = "",
                            const char* variable = "TANDEM_TEST_POSTGRES_URL");
  ~PostgresDatabase();
  std::string url(const std::string& user = "tandem") const;

 private:
  std::string admin_;
  std::string name_;
};

// Runs one SQL statement on the MariaDB server of url (an admin account).
Status run_mariadb_admin(std::string_view url, const std::string& sql);
// The URL in the environment variable (a MariaDB server scripts/test.sh
// started); fails the test when it is not set.
std::string mariadb_admin_url(const char* variable = "TANDEM_TEST_MARIADB_URL");
// Runs one statement through run_mariadb_admin; an error fails the test.
void mariadb_sql(const std::string& url, const std::string& statement);
// Runs sql over Connector/C's text protocol (mysql_query) and returns every
// row's columns as the server's own text (NULL as "<NULL>"): an independent
// reading, not tandem's codec. An error fails the test and returns no rows.
std::vector<std::vector<std::string>> mariadb_rows(const std::string& url, const std::string& sql);

// A fresh MariaDB database, dropped at the end; on the server whose admin URL
// is in the environment variable `variable`.
class MariaDbDatabase {
 public:
  explicit MariaDbDatabase(const std::string& name, const char* variable = "TANDEM_TEST_MARIADB_URL");
  ~MariaDbDatabase();
  // The database's URL for user (the admin account by default).
  std::string url(const std::string& user = "tandem", const std::string& query = "") const;
  const std::string& admin() const { return admin_; }

 private:
  std::string admin_;
  std::string name_;
};
// Starts the tandem CLI as a separate process (output to dir/name.log); returns its pid.
pid_t spawn_cli(const TempDir& dir, const std::vector<std::string>& args, const std::string& name);
// Waits for pid; its exit code, or -signal if killed.
int wait_cli(pid_t pid);

// A point where chosen threads wait until the test releases them.
class Gate {
 public:
  void wait_here() {
    std::unique_lock lock(mutex_);
    reached_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void wait_reached() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return reached_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool reached_ = false;
  bool open_ = false;
};

// A migration over real SQLite files with decorated stores:
//   Migration -> FaultyStore -> CountingStore -> SqliteStore, for old and new.
struct MigrationFixture {
  // prepare_old, if set, makes dir/old.db by hand (e.g. with malformed rows)
  // before the fixture opens it.
  explicit MigrationFixture(const std::vector<Record>& old_records = {},
                            std::chrono::milliseconds refresh_interval = std::chrono::milliseconds(100),
                            bool register_instance = true,
                            const std::function<void(const std::string&)>& prepare_old = nullptr,
                            const std::string& new_url = "");
  // Writes config to dir/tandem.toml (for the CLI) with the same files.
  std::string write_config_file() const;
  // Moves to step index (0-based) without checking preconditions, as a test
  // setup, and makes this instance route by it.
  void jump_to_step(size_t index);
  void reopen_migration(bool register_instance = true);

  TempDir dir;
  Config config;
  std::unique_ptr<Store> old_sqlite, new_sqlite;
  std::unique_ptr<CountingStore> old_counting, new_counting;
  std::unique_ptr<FaultyStore> old_faulty, new_faulty;
  std::unique_ptr<ControlStore> control;
  std::unique_ptr<Migration> migration;
  Collection* users = nullptr;

  CountingStore& counter(Side side) { return side == Side::kOld ? *old_counting : *new_counting; }
  Store& raw(Side side) { return side == Side::kOld ? *old_sqlite : *new_sqlite; }
};

inline const Status& status_of(const Status& s) { return s; }
template <typename T>
const Status& status_of(const Result<T>& r) {
  return r.status();
}

// Asserts that a Status or Result is ok, printing the error otherwise.
#define ASSERT_OK(expr)                                         \
  do {                                                          \
    const auto& tandem_s_ = (expr);                             \
    ASSERT_TRUE(::tandem::testing::status_of(tandem_s_).ok())   \
        << ::tandem::testing::status_of(tandem_s_).to_string(); \
  } while (0)
#define EXPECT_OK(expr)                                         \
  do {                                                          \
    const auto& tandem_s_ = (expr);                             \
    EXPECT_TRUE(::tandem::testing::status_of(tandem_s_).ok())   \
        << ::tandem::testing::status_of(tandem_s_).to_string(); \
  } while (0)

template <typename T>
T value_or_die(Result<T> r) {
  if (!r.ok()) {
    ADD_FAILURE() << r.status().to_string();
    std::abort();
  }
  return std::move(r).value();
}

}  // namespace tandem::testing
