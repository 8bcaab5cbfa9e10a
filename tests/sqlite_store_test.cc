// What is particular to the SQLite store (the rest is in the conformance suite).
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "stores/sqlite/sqlite_connection.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

TEST(SqliteOldStore, OpenedAsOldItIsLeftAsFound) {
  TempDir dir;
  std::string path = dir.file("old.db");
  // A missing old database is an error, not a new empty file.
  auto missing = open_store("old", path, StoreOptions{.keep_tombstones = false, .configure = false});
  EXPECT_FALSE(missing.ok());
  EXPECT_FALSE(std::filesystem::exists(path));

  // The service's own database, made without tandem, in rollback-journal mode.
  auto query_text = [&](const std::string& sql) {
    auto conn = value_or_die(sqlite::Connection::open(path, true, false));
    auto raw = value_or_die(conn->prepare(sql));
    sqlite::Statement st(*conn, raw);
    EXPECT_TRUE(value_or_die(st.step(sql)));
    return st.column_text(0);
  };
  {
    auto conn = value_or_die(sqlite::Connection::open(path, true, false));
    ASSERT_OK(
        conn->exec("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, age INTEGER, "
                   "balance TEXT);"
                   "INSERT INTO users VALUES (1, 'u1@example.com', 'one', 30, '10.5')"));
  }
  auto old =
      value_or_die(open_store("old", path, StoreOptions{.keep_tombstones = false, .configure = false}));
  ASSERT_OK(old->ensure_collection(users_schema(), false));
  EXPECT_EQ(value_or_die(old->get("users", Key{Value(int64_t{1})})).record, user(1, "one"));
  CollectionSchema other = users_schema();
  other.name = "orders";
  Status s = old->ensure_collection(other, false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("no table 'orders'"), std::string::npos) << s.message();
  ASSERT_OK(old->remove("users", Key{Value(int64_t{1})}));
  EXPECT_EQ(value_or_die(old->get("users", Key{Value(int64_t{1})})).state, Lookup::State::kAbsent);
  old.reset();
  EXPECT_EQ(query_text("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'tandem%'"), "0");
  EXPECT_EQ(query_text("PRAGMA journal_mode"), "delete");
  EXPECT_FALSE(std::filesystem::exists(path + ".tandem-locks"));
}

}  // namespace
}  // namespace tandem::testing
