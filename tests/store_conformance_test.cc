// Long file: one parameterised suite of the Store contract, every case run on every engine.
// The Store conformance suite: the same tests, unchanged, against every
// engine (SQLite files; PostgreSQL started by scripts/test.sh on loopback).
// A test whose server is missing fails, it does not skip.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "test_support.h"

namespace tandem::testing {
namespace {

CollectionSchema all_types_schema() {
  CollectionSchema s;
  s.name = "things";
  s.key_columns = {{"region", Type::kText, false}, {"id", Type::kInt, false}};
  s.columns = {
      {"flag", Type::kBool, true},      {"count", Type::kInt, true},  {"ratio", Type::kDouble, true},
      {"amount", Type::kDecimal, true}, {"label", Type::kText, true}, {"blob", Type::kBytes, true},
      {"at", Type::kTimestamp, true},   {"doc", Type::kJson, true},   {"uid", Type::kUuid, true},
      {"born", Type::kDate, true},      {"opens", Type::kTime, true}, {"local", Type::kDateTime, true}};
  return s;
}

// One engine under test: makes a fresh, empty database and returns its URL.
struct Engine {
  std::string name;
  std::function<std::string(const TempDir&)> fresh_url;
};

std::string postgres_admin_url() {
  const char* url = std::getenv("TANDEM_TEST_POSTGRES_URL");
  return url == nullptr ? "" : url;
}

// A fresh PostgreSQL database per test, dropped afterwards.
std::vector<std::string>& created_databases() {
  static std::vector<std::string> names;
  return names;
}

std::string fresh_postgres(const TempDir& dir) {
  std::string admin = postgres_admin_url();
  if (admin.empty()) {
    ADD_FAILURE()
        << "TANDEM_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh, which starts "
           "PostgreSQL on loopback";
    return "";
  }
  std::string db = "tandem_t_" + dir.path().filename().string().substr(12);
  for (char& c : db) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string cmd =
      fmt::format("psql '{}' -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE {}' >/dev/null", admin, db);
  if (std::system(cmd.c_str()) != 0) {
    ADD_FAILURE() << "cannot create database " << db << " on " << admin;
    return "";
  }
  created_databases().push_back(db);
  return admin.substr(0, admin.rfind('/') + 1) + db;
}

// A fresh MariaDB database per test, dropped afterwards.
std::vector<std::string>& created_mariadb_databases() {
  static std::vector<std::string> names;
  return names;
}

std::string fresh_mariadb(const TempDir& dir) {
  const char* admin = std::getenv("TANDEM_TEST_MARIADB_URL");
  if (admin == nullptr) {
    ADD_FAILURE()
        << "TANDEM_TEST_MARIADB_URL is not set: run the tests through scripts/test.sh, which starts "
           "MariaDB on loopback";
    return "";
  }
  std::string db = "tandem_t_" + dir.path().filename().string().substr(12);
  for (char& c : db) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Status s = run_mariadb_admin(admin, fmt::format("CREATE DATABASE {}", db));
  if (!s.ok()) {
    ADD_FAILURE() << "cannot create database " << db << ": " << s.message();
    return "";
  }
  created_mariadb_databases().push_back(db);
  std::string url(admin);
  return url.substr(0, url.rfind('/') + 1) + db;
}

void drop_server_databases() {
  if (const char* admin = std::getenv("TANDEM_TEST_MARIADB_URL")) {
    for (const std::string& db : created_mariadb_databases()) {
      (void)run_mariadb_admin(admin, fmt::format("DROP DATABASE IF EXISTS {}", db));
    }
  }
  created_mariadb_databases().clear();
  for (const std::string& db : created_databases()) {
    std::string cmd = fmt::format("psql '{}' -q -c 'DROP DATABASE IF EXISTS {} WITH (FORCE)' >/dev/null",
                                  postgres_admin_url(), db);
    (void)std::system(cmd.c_str());
  }
  created_databases().clear();
}

const std::vector<Engine>& engines() {
  static const std::vector<Engine> all = {
      {"sqlite", [](const TempDir& dir) { return "sqlite:" + dir.file("store.db"); }},
      {"postgres", fresh_postgres},
      {"mariadb", fresh_mariadb},
  };
  return all;
}

class StoreConformance : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    url_ = engines()[GetParam()].fresh_url(dir_);
    ASSERT_FALSE(url_.empty());
    store_ = value_or_die(open_store("new", url_));
    ASSERT_OK(store_->ensure_collection(users_schema(), true));
  }
  void TearDown() override {
    store_.reset();
    drop_server_databases();
  }
  std::unique_ptr<Store> open_again(const std::string& name) { return value_or_die(open_store(name, url_)); }
  TempDir dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, GetReportsAbsentPresentAndTombstoned) {
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

TEST_P(StoreConformance, GetManyReturnsOneLookupPerKeyInOrder) {
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

TEST_P(StoreConformance, InsertIfAbsentReportsEachOutcomeAndNeverOverwrites) {
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

TEST_P(StoreConformance, InvalidRecordInABatchFailsItNamingRecordAndField) {
  Record bad = user(5, "five");
  bad.fields["email"] = Value();
  auto r = store_->insert_if_absent("users", std::vector{user(4, "ok"), bad}, LockPolicy::kNone);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("record 5"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("'email'"), std::string::npos) << r.status().message();
  EXPECT_FALSE(value_or_die(store_->get("users", Key{Value(int64_t{4})})).present()) << "batch is atomic";
}

TEST_P(StoreConformance, PatchSetsOnlyTheGivenFields) {
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

TEST_P(StoreConformance, ScanIsOrderedWithNegativeKeysRangesAndLimit) {
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

TEST_P(StoreConformance, EveryValueTypeRoundTripsWithCompositeTextKeys) {
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
              {"uid", Value(Uuid::parse("123e4567-e89b-12d3-a456-426614174000").value())},
              {"born", Value(Date::parse("1969-12-31").value())},
              {"opens", Value(TimeOfDay::parse("24:00:00").value())},
              {"local", Value(DateTime::parse("9999-12-31 23:59:59.999999").value())}};
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

// Issue 14: dates, times of day and wall-clock datetimes as keys and values,
// at the ends of their ranges: each engine's own column type (not a
// timestamp at midnight), read back exactly, scanned in time order.
TEST_P(StoreConformance, CalendarValuesRoundTripAsKeysInTimeOrder) {
  CollectionSchema days;
  days.name = "days";
  days.key_columns = {{"day", Type::kDate, false}, {"slot", Type::kTime, false}};
  days.columns = {{"local", Type::kDateTime, true}, {"note", Type::kText, true}};
  ASSERT_OK(store_->ensure_collection(days, true));
  std::vector<Record> records;
  for (const char* day : {"0001-01-01", "1969-12-31", "1970-01-01", "2024-02-29", "9999-12-31"}) {
    for (const char* slot : {"00:00:00", "12:34:56.000001", "24:00:00"}) {
      Record r;
      r.key = Key{Value(Date::parse(day).value()), Value(TimeOfDay::parse(slot).value())};
      r.fields = {{"local",
                   Value(DateTime::parse(fmt::format("{} {}", day, slot[0] == '2' ? "23:59:59.999999" : slot))
                             .value())},
                  {"note", Value(fmt::format("{} {}", day, slot))}};
      records.push_back(std::move(r));
    }
  }
  std::vector<Record> half(records.begin(), records.begin() + 7);
  for (const Record& r : half) ASSERT_OK(store_->upsert("days", r));
  std::vector<Record> rest(records.begin() + 7, records.end());
  auto outcomes = value_or_die(store_->insert_if_absent("days", rest, LockPolicy::kTryLockEach));
  for (InsertOutcome o : outcomes) EXPECT_EQ(o, InsertOutcome::kInserted);
  for (const Record& r : records) {
    EXPECT_EQ(value_or_die(store_->get("days", r.key)).record, r) << r.key.to_display();
  }
  auto scanned = value_or_die(store_->scan("days", KeyRange::all(), 100));
  EXPECT_EQ(scanned, records) << "scanned in date, then time order";
  KeyRange around_epoch{Key{Value(Date::parse("1969-12-31").value()), Value(TimeOfDay{1})},
                        Key{Value(Date::parse("2024-02-29").value()), Value(TimeOfDay{0})}};
  auto part = value_or_die(store_->scan("days", around_epoch, 100));
  ASSERT_EQ(part.size(), 5u);
  EXPECT_EQ(part.front().key, records[4].key);
  EXPECT_EQ(value_or_die(store_->count("days", around_epoch)), 5u);
  // Outside the types' ranges: refused naming the field, nothing written.
  Record bad = records[0];
  bad.fields["local"] = Value(DateTime{Timestamp::kMaxMicros + 1});
  Status s = store_->upsert("days", bad);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find("'local'"), std::string::npos) << s.message();
  EXPECT_EQ(value_or_die(store_->get("days", bad.key)).record, records[0]);
}

// A batch large enough for the bulk path (PostgreSQL: COPY after a query for
// the present keys): keys and values with every character a text format
// escapes, bytes of every value, nulls, and the four outcomes in one batch.
TEST_P(StoreConformance, LargeBatchKeepsEveryCharacterAndReportsEachOutcome) {
  CollectionSchema notes = all_types_schema();
  notes.name = "notes";
  notes.key_columns = {{"name", Type::kText, false}};
  ASSERT_OK(store_->ensure_collection(notes, true));
  const std::string tricky = "tab\there\nnew line\r\\N back\\slash \"quote\" ' {a,b} naïve ✓";
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  auto note = [&](int i) {
    Record r;
    r.key = Key{Value(fmt::format("{:03} {}", i, i % 2 == 0 ? tricky : "plain"))};
    r.fields = {{"flag", Value(i % 3 == 0)},
                {"count", Value(int64_t{i} * -1000003)},
                {"ratio", Value(i * 0.25)},
                {"amount", Value(Decimal::parse(fmt::format("{}.05", i)).value())},
                {"label", i % 5 == 0 ? Value() : Value(tricky + std::to_string(i))},
                {"blob", Value(Bytes{every_byte})},
                {"at", Value(Timestamp{1700000000000000 + i})},
                {"doc", Value(Json::parse(R"({"s": "a\tb\\c\"d\n", "n": [1, 2]})").value())},
                {"uid", Value(Uuid::parse("123e4567-e89b-12d3-a456-426614174000").value())},
                {"born", Value(Date{Date::kMinDays + i * 40000})},
                {"opens", Value(TimeOfDay{i * 1000000007LL})},
                {"local", Value(DateTime{-62135596800000000 + i * 4000000000000007LL})}};
    return r;
  };
  std::vector<Record> batch;
  for (int i = 0; i < 60; ++i) batch.push_back(note(i));
  Record earlier = note(10);
  earlier.fields["label"] = Value("written earlier");
  ASSERT_OK(store_->upsert("notes", earlier));
  ASSERT_OK(store_->remove("notes", note(20).key));
  auto held = value_or_die(store_->lock("notes", note(30).key, std::chrono::milliseconds(100)));
  std::vector<InsertOutcome> outcomes;
  std::thread t(
      [&] { outcomes = value_or_die(store_->insert_if_absent("notes", batch, LockPolicy::kTryLockEach)); });
  t.join();
  held.release();
  ASSERT_EQ(outcomes.size(), batch.size());
  for (int i = 0; i < 60; ++i) {
    InsertOutcome want = i == 10   ? InsertOutcome::kAlreadyPresent
                         : i == 20 ? InsertOutcome::kTombstoned
                         : i == 30 ? InsertOutcome::kLocked
                                   : InsertOutcome::kInserted;
    EXPECT_EQ(outcomes[static_cast<size_t>(i)], want) << "record " << i;
    Lookup got = value_or_die(store_->get("notes", batch[static_cast<size_t>(i)].key));
    if (want == InsertOutcome::kInserted) {
      EXPECT_EQ(got.record, batch[static_cast<size_t>(i)]) << "record " << i;
    }
  }
  EXPECT_EQ(value_or_die(store_->get("notes", earlier.key)).record, earlier) << "never overwritten";
  EXPECT_EQ(value_or_die(store_->count("notes", KeyRange::all())), 58u);
}

// Split points make parts of roughly equal record counts, for dense integer
// keys and for skewed ones (most keys small, a few far away).
TEST_P(StoreConformance, SplitPointsBalanceDenseAndSkewedIntegerKeys) {
  std::vector<Record> batch;
  for (int64_t id = 1; id <= 2000; ++id) batch.push_back(user(id, "dense"));
  for (int64_t id = 1; id <= 40; ++id) batch.push_back(user(id * 1000000000000, "far"));
  for (int64_t id = 10000; id < 16000; id += 3) batch.push_back(user(id, "sparse"));  // a third dense
  ASSERT_OK(store_->insert_if_absent("users", batch, LockPolicy::kNone).status());
  // Dense keys (split without counting), evenly sparse ones (counted, even),
  // and skewed ones (counted, then split by row offsets).
  for (const KeyRange& range :
       {KeyRange{std::nullopt, Key{Value(int64_t{2001})}},
        KeyRange{Key{Value(int64_t{10000})}, Key{Value(int64_t{16000})}}, KeyRange::all()}) {
    uint64_t n = value_or_die(store_->count("users", range));
    std::vector<Key> splits = value_or_die(store_->split_points("users", range, 8));
    ASSERT_GE(splits.size(), 6u) << range.to_display();
    std::optional<Key> begin = range.begin;
    for (size_t i = 0; i <= splits.size(); ++i) {
      std::optional<Key> end = i < splits.size() ? std::optional<Key>(splits[i]) : range.end;
      uint64_t part = value_or_die(store_->count("users", KeyRange{begin, end}));
      EXPECT_LE(part, 2 * n / 8 + 1) << "part " << i << " of " << range.to_display();
      begin = end;
    }
  }
}

TEST_P(StoreConformance, DigestIsOrderIndependentAndSeesEveryChange) {
  // A second database of the same engine, filled in the opposite order.
  TempDir other_dir;
  auto other = value_or_die(open_store("other", engines()[GetParam()].fresh_url(other_dir)));
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

TEST_P(StoreConformance, TryLockExcludesAnotherProcess) {
  const Key key{Value(int64_t{77})};
  auto held = value_or_die(store_->lock("users", key, std::chrono::milliseconds(100)));
  ASSERT_TRUE(held.held());
  auto child_try = [&]() {
    pid_t pid = fork();
    if (pid == 0) {
      // Child: its own store on the same database. Exit 0 if the lock is held by the parent.
      auto s = open_store("child", url_);
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

TEST_P(StoreConformance, BlockingLockWaitsForReleaseAndTimesOut) {
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

TEST_P(StoreConformance, LocksFromTwoConnectionsExcludeEachOther) {
  auto second = open_again("second");
  ASSERT_OK(second->ensure_collection(users_schema(), true));
  const Key key{Value("shared")};
  CollectionSchema text_keys = users_schema();
  auto held = value_or_die(store_->try_lock("users", Key{Value(int64_t{9})}));
  ASSERT_TRUE(held.held());
  EXPECT_FALSE(value_or_die(second->try_lock("users", Key{Value(int64_t{9})})).held());
  EXPECT_TRUE(value_or_die(second->try_lock("users", Key{Value(int64_t{10})})).held());
  // A batch insert through the second connection skips the locked record.
  auto outcomes = value_or_die(second->insert_if_absent(
      "users", std::vector{user(9, "nine"), user(11, "eleven")}, LockPolicy::kTryLockEach));
  EXPECT_EQ(outcomes, (std::vector{InsertOutcome::kLocked, InsertOutcome::kInserted}));
  held.release();
  EXPECT_TRUE(value_or_die(second->try_lock("users", Key{Value(int64_t{9})})).held());
}

TEST_P(StoreConformance, LargeValuesRoundTrip) {
  ASSERT_OK(store_->ensure_collection(all_types_schema(), true));
  Record r;
  r.key = Key{Value("big"), Value(int64_t{1})};
  std::string text;
  for (int i = 0; i < 200000; ++i) text += static_cast<char>('a' + i % 26);
  std::string blob(1 << 20, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 7);
  r.fields = {{"label", Value(text + "€")}, {"blob", Value(Bytes{blob})}};
  for (const Column& c : all_types_schema().columns) r.fields.emplace(c.name, Value());
  ASSERT_OK(store_->upsert("things", r));
  EXPECT_EQ(value_or_die(store_->get("things", r.key)).record, r);
}

TEST_P(StoreConformance, SplitPointsCountAndTombstonesInRanges) {
  for (int64_t id = 1; id <= 100; ++id) ASSERT_OK(store_->upsert("users", user(id, "x")));
  EXPECT_EQ(value_or_die(store_->count("users", KeyRange::all())), 100u);
  EXPECT_EQ(value_or_die(store_->count("users", KeyRange{Key{Value(int64_t{11})}, Key{Value(int64_t{21})}})),
            10u);
  EXPECT_EQ(value_or_die(store_->count("users", KeyRange::after(Key{Value(int64_t{90})}, std::nullopt))),
            10u);
  auto splits = value_or_die(store_->split_points("users", KeyRange::all(), 4));
  ASSERT_EQ(splits.size(), 3u);
  EXPECT_EQ(splits[0], Key{Value(int64_t{26})});
  EXPECT_EQ(splits[2], Key{Value(int64_t{76})});
  for (int64_t id : {5, 50, 95}) ASSERT_OK(store_->remove("users", Key{Value(id)}));
  auto dead = value_or_die(store_->tombstones("users", KeyRange{Key{Value(int64_t{10})}, std::nullopt}, 10));
  EXPECT_EQ(dead, (std::vector{Key{Value(int64_t{50})}, Key{Value(int64_t{95})}}));
  auto batch =
      value_or_die(store_->scan_batch("users", KeyRange::after(Key{Value(int64_t{96})}, std::nullopt), 10));
  EXPECT_EQ(batch.records.size(), 4u);
  EXPECT_EQ(*batch.last_key, Key{Value(int64_t{100})});
}

TEST_P(StoreConformance, ExistingTableWithWrongColumnsIsRejectedNamingTheColumn) {
  CollectionSchema changed = users_schema();
  changed.columns.push_back({"nickname", Type::kText, true});
  Status s = store_->ensure_collection(changed, true);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("nickname"), std::string::npos) << s.message();
}

// Verify compares digests computed by different engines: equal records must
// hash equal whichever engine holds them, every value type included.
void expect_equal_digests_across(const std::function<std::string(const TempDir&)>& fresh_url) {
  TempDir a_dir, b_dir;
  std::string url = fresh_url(b_dir);
  ASSERT_FALSE(url.empty());
  auto a = value_or_die(open_store("sqlite", "sqlite:" + a_dir.file("a.db")));
  auto b = value_or_die(open_store("server", url));
  for (Store* s : {a.get(), b.get()}) ASSERT_OK(s->ensure_collection(all_types_schema(), true));
  for (int64_t i = -20; i < 30; ++i) {
    Record r;
    r.key = Key{Value(i % 3 == 0 ? "zürich" : "ab"), Value(i)};
    r.fields = {
        {"flag", i % 2 == 0 ? Value(true) : Value()},
        {"count", Value(i * 1000003)},
        {"ratio", Value(static_cast<double>(i) / 7.0)},
        {"amount", Value(Decimal::parse(fmt::format("{}.{}0", i * 12345678901234567, i % 10 + 10)).value())},
        {"label", Value(fmt::format("naïve {} ✓", i))},
        {"blob", Value(Bytes{std::string(static_cast<size_t>(i + 20), '\x01')})},
        {"at", Value(Timestamp{1700000000000000 + i * 1000001})},
        {"doc", Value(Json::parse(fmt::format(R"({{"b":[{},2.5,null],"a":{{"x":"é"}}}})", i)).value())},
        {"uid", Value(Uuid::parse(fmt::format("123e4567-e89b-12d3-a456-4266141740{:02}", i + 20)).value())},
        {"born", Value(Date{static_cast<int32_t>(i * 3001)})},
        {"opens", Value(TimeOfDay{(i + 20) * 1700000001LL})},
        {"local", Value(DateTime{1700000000000000 + i * 86400000001LL})}};
    ASSERT_OK(a->upsert("things", r));
    ASSERT_OK(b->upsert("things", r));
  }
  EXPECT_EQ(value_or_die(a->digest("things", KeyRange::all())),
            value_or_die(b->digest("things", KeyRange::all())));
  KeyRange part{Key{Value("ab"), Value(int64_t{0})}, Key{Value("zürich"), Value(int64_t{3})}};
  auto da = value_or_die(a->digest("things", part));
  EXPECT_EQ(da, value_or_die(b->digest("things", part)));
  EXPECT_GT(da.count, 0u);
  EXPECT_EQ(value_or_die(a->scan("things", KeyRange::all(), 100)),
            value_or_die(b->scan("things", KeyRange::all(), 100)));
  b.reset();
  drop_server_databases();
}

TEST(CrossEngine, DigestsAgreeBetweenSqliteAndPostgres) { expect_equal_digests_across(fresh_postgres); }
TEST(CrossEngine, DigestsAgreeBetweenSqliteAndMariaDb) { expect_equal_digests_across(fresh_mariadb); }

INSTANTIATE_TEST_SUITE_P(Engines, StoreConformance, ::testing::Range<size_t>(0, engines().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return engines()[info.param].name;
                         });

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// Found by tandem-stress (PostgreSQL, seed 7): get() read the row and the
// tombstone in two statements; a put committing in between (row in,
// tombstone out) made the record look absent, and the router's fallback read
// then returned old's stale copy. A key that is written and deleted in turn
// is always present or tombstoned, never absent.
TEST_P(StoreConformance, StressFoundGetNeverSeesAKeyAbsentBetweenRowAndTombstone) {
  const Key key{Value(int64_t{42})};
  ASSERT_OK(store_->upsert("users", user(42, "first")));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) {
      EXPECT_OK(store_->remove("users", key));
      EXPECT_OK(store_->upsert("users", user(42, fmt::format("v{}", i))));
    }
    done = true;
  });
  int64_t absent = 0, reads = 0;
  while (!done) {
    auto got = store_->get("users", key);
    if (!got.ok()) continue;  // SQLite may be busy
    ++reads;
    if (got->state == Lookup::State::kAbsent) ++absent;
  }
  writer.join();
  EXPECT_GT(reads, 0);
  EXPECT_EQ(absent, 0) << "of " << reads << " reads";
}

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// Verify moves digests, not rows, between PostgreSQL and MariaDB: both
// compute the portable digest in SQL, alike for equal data.
TEST(CrossEngine, PortableDigestsComputedInSqlAgreeBetweenPostgresAndMariaDb) {
  TempDir a_dir, b_dir;
  std::string postgres_url = fresh_postgres(a_dir);
  std::string mariadb_url = fresh_mariadb(b_dir);
  ASSERT_FALSE(postgres_url.empty() || mariadb_url.empty());
  auto postgres_store = value_or_die(open_store("postgres", postgres_url));
  auto mariadb_store = value_or_die(open_store("mariadb", mariadb_url));
  CollectionSchema s;
  s.name = "things";
  s.key_columns = {{"region", Type::kText, false}, {"id", Type::kInt, false}};
  s.columns = {{"flag", Type::kBool, true},  {"count", Type::kInt, true},  {"amount", Type::kDecimal, true},
               {"label", Type::kText, true}, {"blob", Type::kBytes, true}, {"at", Type::kTimestamp, true},
               {"uid", Type::kUuid, true}};
  for (Store* st : {postgres_store.get(), mariadb_store.get()}) ASSERT_OK(st->ensure_collection(s, true));
  for (int64_t i = -20; i < 30; ++i) {
    Record r;
    r.key = Key{Value(i % 3 == 0 ? "zürich" : "ab"), Value(i)};
    r.fields = {
        {"flag", i % 2 == 0 ? Value(true) : Value()},
        {"count", Value(i * 1000003)},
        {"amount", Value(Decimal::parse(fmt::format("{}.{}0", i * 12345678901234567, i % 10 + 10)).value())},
        {"label", i % 5 == 0 ? Value() : Value(fmt::format("naïve {} ✓", i))},
        {"blob", Value(Bytes{std::string(static_cast<size_t>(i + 20), '\x01')})},
        {"at", Value(Timestamp{1700000000000000 + i * 1000001})},
        {"uid", Value(Uuid::parse(fmt::format("123E4567-e89b-12d3-a456-4266141740{:02}", i + 20)).value())}};
    ASSERT_OK(postgres_store->upsert("things", r));
    ASSERT_OK(mariadb_store->upsert("things", r));
  }
  auto a = value_or_die(postgres_store->portable_digest("things", KeyRange::all()));
  auto b = value_or_die(mariadb_store->portable_digest("things", KeyRange::all()));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->count, 50u);
  EXPECT_EQ(*a, *b);
  KeyRange part{Key{Value("ab"), Value(int64_t{0})}, Key{Value("zürich"), Value(int64_t{3})}};
  EXPECT_EQ(*value_or_die(postgres_store->portable_digest("things", part)),
            *value_or_die(mariadb_store->portable_digest("things", part)));
  // A change on one side shows.
  ASSERT_OK(mariadb_store->patch("things", Key{Value("ab"), Value(int64_t{1})},
                                 {{"amount", Value(Decimal::parse("1.1").value())}}));
  EXPECT_NE(*a, *value_or_die(mariadb_store->portable_digest("things", KeyRange::all())));
  // Columns it does not cover (double, json), and SQLite, leave verify to the streamed digest.
  TempDir c_dir;
  auto sqlite = value_or_die(open_store("sqlite", "sqlite:" + c_dir.file("c.db")));
  ASSERT_OK(sqlite->ensure_collection(s, true));
  EXPECT_FALSE(value_or_die(sqlite->portable_digest("things", KeyRange::all())).has_value());
  CollectionSchema with_double = s;
  with_double.name = "measures";
  with_double.columns.push_back({"ratio", Type::kDouble, true});
  ASSERT_OK(postgres_store->ensure_collection(with_double, true));
  EXPECT_FALSE(value_or_die(postgres_store->portable_digest("measures", KeyRange::all())).has_value());
  postgres_store.reset();
  mariadb_store.reset();
  drop_server_databases();
}

}  // namespace
}  // namespace tandem::testing
