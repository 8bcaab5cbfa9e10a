// The SQLite store against real files: every Store method, every value type,
// composite and text keys, and record locks across threads and processes.
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "stores/sqlite/sqlite_connection.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

CollectionSchema all_types_schema() {
  CollectionSchema s;
  s.name = "things";
  s.key_columns = {{"region", Type::kText, false}, {"id", Type::kInt, false}};
  s.columns = {{"flag", Type::kBool, true},      {"count", Type::kInt, true},  {"ratio", Type::kDouble, true},
               {"amount", Type::kDecimal, true}, {"label", Type::kText, true}, {"blob", Type::kBytes, true},
               {"at", Type::kTimestamp, true},   {"doc", Type::kJson, true},   {"uid", Type::kUuid, true}};
  return s;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = value_or_die(open_store("new", dir_.file("store.db")));
    ASSERT_OK(store_->ensure_collection(users_schema(), true));
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, GetReportsAbsentPresentAndTombstoned) {
  const Key key{Value(int64_t{1})};
  EXPECT_EQ(value_or_die(store_->get("users", key)).state, Lookup::State::kAbsent);
  ASSERT_OK(store_->upsert("users", user(1, "one")));
  auto present = value_or_die(store_->get("users", key));
  ASSERT_TRUE(present.present());
  EXPECT_EQ(present.record, user(1, "one"));
  ASSERT_OK(store_->remove("users", key));
  EXPECT_TRUE(value_or_die(store_->get("users", key)).tombstoned());
  ASSERT_OK(store_->remove("users", key));  // idempotent
  // A new write from the application clears the tombstone.
  ASSERT_OK(store_->upsert("users", user(1, "again")));
  EXPECT_EQ(value_or_die(store_->get("users", key)).record, user(1, "again"));
}

TEST_F(SqliteStoreTest, GetManyReturnsOneLookupPerKeyInOrder) {
  ASSERT_OK(store_->upsert("users", user(2, "two")));
  ASSERT_OK(store_->upsert("users", user(3, "three")));
  ASSERT_OK(store_->remove("users", Key{Value(int64_t{3})}));
  std::vector<Key> keys = {Key{Value(int64_t{3})}, Key{Value(int64_t{1})}, Key{Value(int64_t{2})}};
  auto got = value_or_die(store_->get_many("users", keys));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[0].tombstoned());
  EXPECT_EQ(got[1].state, Lookup::State::kAbsent);
  EXPECT_EQ(got[2].record, user(2, "two"));
}

TEST_F(SqliteStoreTest, InsertIfAbsentReportsEachOutcomeAndNeverOverwrites) {
  ASSERT_OK(store_->upsert("users", user(1, "live write")));
  ASSERT_OK(store_->remove("users", Key{Value(int64_t{2})}));
  auto held = value_or_die(store_->lock("users", Key{Value(int64_t{3})}, std::chrono::milliseconds(100)));
  std::vector<Record> batch = {user(1, "stale"), user(2, "deleted"), user(3, "locked"), user(4, "fresh")};
  std::vector<InsertOutcome> outcomes;
  // The lock is held by this thread, on another descriptor: it still excludes.
  std::thread t(
      [&] { outcomes = value_or_die(store_->insert_if_absent("users", batch, LockPolicy::kTryLockEach)); });
  t.join();
  EXPECT_EQ(outcomes, (std::vector{InsertOutcome::kAlreadyPresent, InsertOutcome::kTombstoned,
                                   InsertOutcome::kLocked, InsertOutcome::kInserted}));
  EXPECT_EQ(value_or_die(store_->get("users", Key{Value(int64_t{1})})).record.fields.at("name"),
            Value("live write"));
  EXPECT_TRUE(value_or_die(store_->get("users", Key{Value(int64_t{2})})).tombstoned());
  EXPECT_FALSE(value_or_die(store_->get("users", Key{Value(int64_t{3})})).present());
  EXPECT_TRUE(value_or_die(store_->get("users", Key{Value(int64_t{4})})).present());
  held.release();
  auto retry =
      value_or_die(store_->insert_if_absent("users", std::vector{user(3, "now")}, LockPolicy::kTryLockEach));
  EXPECT_EQ(retry[0], InsertOutcome::kInserted);
}

TEST_F(SqliteStoreTest, InvalidRecordInABatchFailsItNamingRecordAndField) {
  Record bad = user(5, "five");
  bad.fields["email"] = Value();
  auto r = store_->insert_if_absent("users", std::vector{user(4, "ok"), bad}, LockPolicy::kNone);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("record 5"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("'email'"), std::string::npos) << r.status().message();
  EXPECT_FALSE(value_or_die(store_->get("users", Key{Value(int64_t{4})})).present()) << "batch is atomic";
}

TEST_F(SqliteStoreTest, PatchSetsOnlyTheGivenFields) {
  ASSERT_OK(store_->upsert("users", user(1, "one", 30)));
  EXPECT_EQ(value_or_die(store_->patch("users", Key{Value(int64_t{1})}, {{"age", Value()}})),
            PatchOutcome::kPatched);
  Record expected = user(1, "one", std::nullopt);
  EXPECT_EQ(value_or_die(store_->get("users", Key{Value(int64_t{1})})).record, expected);
  EXPECT_EQ(value_or_die(store_->patch("users", Key{Value(int64_t{2})}, {{"age", Value(int64_t{1})}})),
            PatchOutcome::kNotFound);
  ASSERT_OK(store_->remove("users", Key{Value(int64_t{1})}));
  EXPECT_EQ(value_or_die(store_->patch("users", Key{Value(int64_t{1})}, {{"age", Value(int64_t{1})}})),
            PatchOutcome::kTombstoned);
}

TEST_F(SqliteStoreTest, ScanIsOrderedWithNegativeKeysRangesAndLimit) {
  for (int64_t id : {5, -3, 0, 12, -100, 7}) ASSERT_OK(store_->upsert("users", user(id, "x")));
  auto all = value_or_die(store_->scan("users", KeyRange::all(), 100));
  std::vector<int64_t> ids;
  for (const Record& r : all) ids.push_back(r.key[0].as<int64_t>());
  EXPECT_EQ(ids, (std::vector<int64_t>{-100, -3, 0, 5, 7, 12}));
  KeyRange range{Key{Value(int64_t{-3})}, Key{Value(int64_t{7})}};
  auto part = value_or_die(store_->scan("users", range, 2));
  ASSERT_EQ(part.size(), 2u);
  EXPECT_EQ(part[0].key, Key{Value(int64_t{-3})});
  EXPECT_EQ(part[1].key, Key{Value(int64_t{0})});
  auto rest =
      value_or_die(store_->scan("users", KeyRange{Key{Value(int64_t{1})}, Key{Value(int64_t{7})}}, 10));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].key, Key{Value(int64_t{5})});
}

TEST_F(SqliteStoreTest, EveryValueTypeRoundTripsWithCompositeTextKeys) {
  ASSERT_OK(store_->ensure_collection(all_types_schema(), true));
  Record r;
  r.key = Key{Value("zürich-北京"), Value(int64_t{-1})};
  r.fields = {{"flag", Value(true)},
              {"count", Value(int64_t{-9223372036854775807 - 1})},
              {"ratio", Value(0.1)},
              {"amount", Value(Decimal::parse("-123456789012345678901234567890.12").value())},
              {"label", Value("naïve café ✓")},
              {"blob", Value(Bytes{std::string("\x00\xff\x01zero", 7)})},
              {"at", Value(Timestamp::parse("2024-02-29T23:59:59.123456+02:00").value())},
              {"doc", Value(Json::parse(R"({"b": [1, 2], "a": {"x": null}})").value())},
              {"uid", Value(Uuid::parse("123e4567-e89b-12d3-a456-426614174000").value())}};
  Record nulls;
  nulls.key = Key{Value(""), Value(int64_t{0})};
  for (const Column& c : all_types_schema().columns) nulls.fields[c.name] = Value();
  ASSERT_OK(store_->upsert("things", r));
  ASSERT_OK(store_->upsert("things", nulls));
  EXPECT_EQ(value_or_die(store_->get("things", r.key)).record, r);
  EXPECT_EQ(value_or_die(store_->get("things", nulls.key)).record, nulls);
  auto scanned = value_or_die(store_->scan("things", KeyRange::all(), 10));
  ASSERT_EQ(scanned.size(), 2u);
  EXPECT_EQ(scanned[0].key, nulls.key);  // "" sorts before any other text
}

TEST_F(SqliteStoreTest, DigestIsOrderIndependentAndSeesEveryChange) {
  auto other = value_or_die(open_store("other", dir_.file("other.db")));
  ASSERT_OK(other->ensure_collection(users_schema(), true));
  for (int64_t id = 1; id <= 50; ++id) ASSERT_OK(store_->upsert("users", user(id, "n")));
  for (int64_t id = 50; id >= 1; --id) ASSERT_OK(other->upsert("users", user(id, "n")));
  auto a = value_or_die(store_->digest("users", KeyRange::all()));
  EXPECT_EQ(a.count, 50u);
  EXPECT_EQ(a, value_or_die(other->digest("users", KeyRange::all())));
  ASSERT_OK(other->patch("users", Key{Value(int64_t{20})}, {{"age", Value(int64_t{31})}}));
  EXPECT_NE(a, value_or_die(other->digest("users", KeyRange::all())));
  KeyRange low{std::nullopt, Key{Value(int64_t{20})}};
  EXPECT_EQ(value_or_die(store_->digest("users", low)), value_or_die(other->digest("users", low)));
}

TEST_F(SqliteStoreTest, TryLockExcludesAnotherProcess) {
  const Key key{Value(int64_t{77})};
  auto held = value_or_die(store_->lock("users", key, std::chrono::milliseconds(100)));
  ASSERT_TRUE(held.held());
  std::string path = dir_.file("store.db");
  auto child_try = [&]() {
    pid_t pid = fork();
    if (pid == 0) {
      // Child: its own store on the same file. Exit 0 if the lock is held by the parent.
      auto s = open_store("child", path);
      if (!s.ok() || !(*s)->ensure_collection(users_schema(), true).ok()) _exit(2);
      auto l = (*s)->try_lock("users", key);
      _exit(l.ok() && !l->held() ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(child_try(), 0) << "the child got a lock the parent holds";
  held.release();
  EXPECT_EQ(child_try(), 1) << "the child could not lock a free record";
}

TEST_F(SqliteStoreTest, BlockingLockWaitsForReleaseAndTimesOut) {
  const Key key{Value(int64_t{5})};
  auto held = value_or_die(store_->lock("users", key, std::chrono::milliseconds(100)));
  auto timed_out = store_->lock("users", key, std::chrono::milliseconds(50));
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.status().code(), Code::kTimeout);
  EXPECT_TRUE(timed_out.status().is_retryable());
  EXPECT_NE(timed_out.status().message().find("record 5"), std::string::npos);
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    held.release();
  });
  auto got = store_->lock("users", key, std::chrono::seconds(5));
  releaser.join();
  ASSERT_OK(got);
  EXPECT_TRUE(got->held());
}

TEST_F(SqliteStoreTest, ExistingTableWithWrongColumnsIsRejectedNamingTheColumn) {
  CollectionSchema changed = users_schema();
  changed.columns.push_back({"nickname", Type::kText, true});
  Status s = store_->ensure_collection(changed, true);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("nickname"), std::string::npos) << s.message();
}

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
