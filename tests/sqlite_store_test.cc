// Long file: the SQLite store's own cases (files, locks across processes, WAL), one fixture.
// What is particular to the SQLite store (the rest is in the conformance suite).
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "stores/sqlite/sqlite_connection.h"
#include "stores/sqlite/sqlite_store.h"
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

// Runs SQL on the file as the service would, without tandem.
void exec_sql(const std::string& path, const std::string& sql) {
  auto conn = value_or_die(sqlite::Connection::open(path, true, false));
  ASSERT_OK(conn->exec(sql));
}

std::unique_ptr<Store> open_old(const std::string& path) {
  return value_or_die(open_store("old", path, StoreOptions{.keep_tombstones = false, .configure = false}));
}

// pairs(a text, n int) keyed by both, one text value.
CollectionSchema pairs_schema() {
  CollectionSchema s;
  s.name = "pairs";
  s.key_columns = {{"a", Type::kText, false}, {"n", Type::kInt, false}};
  s.columns = {{"v", Type::kText, true}};
  return s;
}

// A range read as the backfill reads it: batches of limit, each after the
// last key of the one before, until end_of_range.
struct Drained {
  std::vector<Record> records;
  std::vector<BadRecord> bad;
};
Drained drain(Store& store, std::string_view collection, KeyRange range, size_t limit) {
  Drained out;
  for (int i = 0; i < 1000; ++i) {
    ScanBatch batch = value_or_die(store.scan_batch(collection, range, limit));
    for (Record& r : batch.records) out.records.push_back(std::move(r));
    for (BadRecord& b : batch.bad) out.bad.push_back(std::move(b));
    if (batch.end_of_range) return out;
    // Never right after a row whose key does not decode.
    EXPECT_TRUE(batch.last_key.has_value());
    if (!batch.last_key) return out;
    range = KeyRange::after(*batch.last_key, range.end);
  }
  ADD_FAILURE() << "the scan does not end";
  return out;
}

// The raw value of field v in a bad row's raw text ("a=NULL, n=1, v='x'").
std::string raw_v(const BadRecord& b) { return b.raw.substr(b.raw.find("v=")); }

TEST(SqliteOldStore, TableWithoutKeyIsRefusedNamingTheConfiguredKeyAndTheTables) {
  TempDir dir;
  std::string path = dir.file("old.db");
  exec_sql(path,
           "CREATE TABLE users (id INTEGER, email TEXT NOT NULL, name TEXT, age INTEGER, balance TEXT);"
           "INSERT INTO users VALUES (1, 'a@x', 'one', 1, '1'), (1, 'b@x', 'one again', 1, '1')");
  auto old = open_old(path);
  Status s = old->ensure_collection(users_schema(), false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("(id)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("none"), std::string::npos) << s.message();

  // Unique indexes that do not make id a key: nullable, partial, on an expression.
  struct Case {
    std::string sql, expect;
  };
  for (const Case& c : {
           Case{"CREATE TABLE users (id INTEGER, email TEXT NOT NULL, name TEXT, age INTEGER, balance TEXT);"
                "CREATE UNIQUE INDEX users_id ON users (id)",
                "users_id (id) with a nullable column"},
           Case{"CREATE TABLE users (id INTEGER NOT NULL, email TEXT NOT NULL, name TEXT, age INTEGER, "
                "balance TEXT); CREATE UNIQUE INDEX users_id ON users (id) WHERE age > 0",
                "none"},
           Case{"CREATE TABLE users (id INTEGER NOT NULL, email TEXT NOT NULL, name TEXT, age INTEGER, "
                "balance TEXT); CREATE UNIQUE INDEX users_id ON users (id + 0)",
                "none"},
           Case{
               "CREATE TABLE users (id INTEGER NOT NULL, email TEXT NOT NULL UNIQUE, name TEXT, age INTEGER, "
               "balance TEXT)",
               "(email)"},
       }) {
    TempDir d;
    exec_sql(d.file("old.db"), c.sql);
    Status refused = open_old(d.file("old.db"))->ensure_collection(users_schema(), false);
    EXPECT_EQ(refused.code(), Code::kFailedPrecondition) << c.sql;
    EXPECT_NE(refused.message().find(c.expect), std::string::npos) << refused.message();
  }
  // A unique index of NOT NULL columns is a key; so is the rowid (INTEGER PRIMARY KEY).
  for (const std::string sql : {
           "CREATE TABLE users (id INTEGER NOT NULL, email TEXT NOT NULL, name TEXT, age INTEGER, balance "
           "TEXT);"
           "CREATE UNIQUE INDEX users_id ON users (id)",
           "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, age INTEGER, "
           "balance TEXT)",
           "CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, email TEXT NOT NULL, name TEXT, age "
           "INTEGER, "
           "balance TEXT) WITHOUT ROWID",
       }) {
    TempDir d;
    exec_sql(d.file("old.db"), sql);
    EXPECT_OK(open_old(d.file("old.db"))->ensure_collection(users_schema(), false));
  }
}

TEST(SqliteOldStore, ConfiguredKeyNarrowerThanThePrimaryKeyIsRefused) {
  TempDir dir;
  std::string path = dir.file("old.db");
  exec_sql(path,
           "CREATE TABLE pairs (a TEXT, n INTEGER, v TEXT, PRIMARY KEY (a, n));"
           "INSERT INTO pairs VALUES ('x', 1, 'one'), ('x', 2, 'two'), ('y', 1, 'three')");
  auto old = open_old(path);
  CollectionSchema narrow;
  narrow.name = "pairs";
  narrow.key_columns = {{"a", Type::kText, false}};
  narrow.columns = {{"n", Type::kInt, true}, {"v", Type::kText, true}};
  Status s = old->ensure_collection(narrow, false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("configured key (a)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("primary key (a, n)"), std::string::npos) << s.message();
  ASSERT_OK(old->ensure_collection(pairs_schema(), false));
  EXPECT_EQ(value_or_die(old->count("pairs", KeyRange::all())), 3u);

  // A configured key wider than the table's key would be unique too, but
  // writes name the key in ON CONFLICT, which needs exactly its columns.
  TempDir d;
  exec_sql(d.file("old.db"), "CREATE TABLE pairs (a TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL, v TEXT)");
  EXPECT_EQ(open_old(d.file("old.db"))->ensure_collection(pairs_schema(), false).code(),
            Code::kFailedPrecondition);
}

// SQLite lets a rowid table's primary key hold NULL, and any column hold any
// type: each such row is a bad row of its own (named, with its raw key), the
// scan goes on, and every row falls in exactly one range however the
// collection is split (NULL parts order first).
TEST(SqliteOldStore, RowsWhoseKeysDoNotDecodeAreQuarantinedOnceEach) {
  TempDir dir;
  std::string path = dir.file("old.db");
  exec_sql(path,
           "CREATE TABLE pairs (a TEXT, n INTEGER, v TEXT, PRIMARY KEY (a, n));"
           "INSERT INTO pairs VALUES ('a', 1, 'ok a1'), ('a', NULL, 'null n'), (NULL, 1, 'null a'),"
           " (NULL, NULL, 'both null'), ('a', NULL, 'null n again'), ('b', 'abc', 'text in int'),"
           " ('b', 2.5, 'real in int'), ('b', 3, 'ok b3'), (CAST(x'ff41' AS TEXT), 1, 'not utf8'),"
           " ('c', 1, 'ok c1'), ('c', NULL, 'null n in c'), ('d', 1, 'ok d1'), (x'00', 1, 'blob in text')");
  auto old = open_old(path);
  ASSERT_OK(old->ensure_collection(pairs_schema(), false));
  const std::vector<Key> good = {Key{Value("a"), Value(int64_t{1})}, Key{Value("b"), Value(int64_t{3})},
                                 Key{Value("c"), Value(int64_t{1})}, Key{Value("d"), Value(int64_t{1})}};
  EXPECT_EQ(value_or_die(old->count("pairs", KeyRange::all())), 13u);
  // (NULL, 1), (NULL, NULL), ('a', NULL) twice and ('a', 1) are below ('a', 5).
  Key a5{Value("a"), Value(int64_t{5})};
  EXPECT_EQ(value_or_die(old->count("pairs", KeyRange{std::nullopt, a5})), 5u);
  EXPECT_EQ(value_or_die(old->count("pairs", KeyRange{a5, std::nullopt})), 8u);
  EXPECT_EQ(value_or_die(old->count("pairs", KeyRange{std::nullopt, Key{Value("c"), Value(int64_t{0})}})),
            9u);

  for (size_t limit : {1, 2, 3, 100}) {
    Drained all = drain(*old, "pairs", KeyRange::all(), limit);
    std::vector<Key> keys;
    for (const Record& r : all.records) keys.push_back(r.key);
    EXPECT_EQ(keys, good) << "limit " << limit;
    ASSERT_EQ(all.bad.size(), 9u) << "limit " << limit;
    std::set<std::string> values;
    for (const BadRecord& b : all.bad) {
      values.insert(raw_v(b));
      EXPECT_FALSE(b.key.has_value()) << b.key_display;
      EXPECT_TRUE(b.field == "a" || b.field == "n") << b.field;
      EXPECT_NE(b.reason.find("'pairs'"), std::string::npos) << b.reason;
      EXPECT_NE(b.reason.find(b.key_display), std::string::npos) << b.reason;
      EXPECT_NE(b.reason.find("'" + b.field + "'"), std::string::npos) << b.reason;
    }
    EXPECT_EQ(values.size(), 9u) << "each bad row once, limit " << limit;
    if (limit == 100) {
      std::map<std::string, BadRecord> by_v;
      for (const BadRecord& b : all.bad) by_v[raw_v(b)] = b;
      EXPECT_EQ(by_v["v='null n'"].key_display, "('a', NULL)");
      EXPECT_EQ(by_v["v='null n'"].field, "n");
      EXPECT_NE(by_v["v='null n'"].reason.find("NULL"), std::string::npos);
      EXPECT_EQ(by_v["v='both null'"].field, "a");
      EXPECT_EQ(by_v["v='text in int'"].key_display, "('b', 'abc')");
      EXPECT_EQ(by_v["v='text in int'"].field, "n");
      EXPECT_EQ(by_v["v='real in int'"].key_display, "('b', 2.5)");
      EXPECT_EQ(by_v["v='not utf8'"].key_display, "(x'ff41', 1)");
      EXPECT_NE(by_v["v='not utf8'"].reason.find("UTF-8"), std::string::npos);
      EXPECT_EQ(by_v["v='blob in text'"].field, "a");
    }
  }
  // However the collection is split, the ranges hold every row once.
  for (size_t parts : {2, 3, 5, 13}) {
    auto splits = value_or_die(old->split_points("pairs", KeyRange::all(), parts));
    std::vector<KeyRange> ranges;
    std::optional<Key> begin;
    for (const Key& k : splits) {
      ranges.push_back(KeyRange{begin, k});
      begin = k;
    }
    ranges.push_back(KeyRange{begin, std::nullopt});
    uint64_t counted = 0;
    size_t records = 0, bad = 0;
    for (const KeyRange& r : ranges) {
      counted += value_or_die(old->count("pairs", r));
      Drained d = drain(*old, "pairs", r, 2);
      records += d.records.size();
      bad += d.bad.size();
      Digest digest = value_or_die(old->digest("pairs", r));
      EXPECT_EQ(digest.count + digest.undecodable, d.records.size() + d.bad.size());
    }
    EXPECT_EQ(counted, 13u) << parts << " parts";
    EXPECT_EQ(records, 4u) << parts << " parts";
    EXPECT_EQ(bad, 9u) << parts << " parts";
  }
  // A plain scan fails on the first such row, naming it.
  auto scan = old->scan("pairs", KeyRange::all(), 100);
  ASSERT_FALSE(scan.ok());
  EXPECT_NE(scan.status().message().find("'pairs'"), std::string::npos) << scan.status().message();
  EXPECT_NE(scan.status().message().find("key column 'a'"), std::string::npos) << scan.status().message();
}

TEST(SqliteOldStore, BatchReadsOnPastRowsWhoseKeysDoNotDecodeAndSaysWhereTheRangeEnds) {
  TempDir dir;
  std::string path = dir.file("old.db");
  // NULL keys order first, text that is not UTF-8 ('b' then 0xff) between 'b' and 'c'.
  exec_sql(path,
           "CREATE TABLE items (k TEXT PRIMARY KEY, v TEXT);"
           "INSERT INTO items VALUES (NULL, 'null 1'), (NULL, 'null 2'), ('a', 'a'), ('b', 'b'),"
           " (CAST(x'62ff01' AS TEXT), 'bad 1'), (CAST(x'62ff02' AS TEXT), 'bad 2'),"
           " (CAST(x'62ff03' AS TEXT), 'bad 3'), (CAST(x'62ff04' AS TEXT), 'bad 4'),"
           " (CAST(x'62ff05' AS TEXT), 'bad 5'), ('c', 'c'), ('d', 'd')");
  auto old = open_old(path);
  CollectionSchema items;
  items.name = "items";
  items.key_columns = {{"k", Type::kText, false}};
  items.columns = {{"v", Type::kText, true}};
  ASSERT_OK(old->ensure_collection(items, false));
  auto keys_of = [](const ScanBatch& b) {
    std::string out;
    for (const Record& r : b.records) out += r.key[0].as<std::string>();
    return out;
  };

  ScanBatch b = value_or_die(old->scan_batch("items", KeyRange::all(), 1));
  EXPECT_EQ(b.bad.size(), 2u);
  EXPECT_EQ(keys_of(b), "a");
  EXPECT_EQ(*b.last_key, Key{Value("a")});
  EXPECT_FALSE(b.end_of_range);

  b = value_or_die(old->scan_batch("items", KeyRange::after(Key{Value("a")}, std::nullopt), 2));
  EXPECT_EQ(keys_of(b), "bc");  // 'b', its five bad neighbours, and 'c'
  EXPECT_EQ(b.bad.size(), 5u);
  EXPECT_EQ(*b.last_key, Key{Value("c")});
  EXPECT_FALSE(b.end_of_range);
  b = value_or_die(old->scan_batch("items", KeyRange::after(Key{Value("c")}, std::nullopt), 2));
  EXPECT_EQ(keys_of(b), "d");
  EXPECT_TRUE(b.end_of_range);
  b = value_or_die(old->scan_batch("items", KeyRange::after(Key{Value("d")}, std::nullopt), 2));
  EXPECT_EQ(b.rows(), 0u);
  EXPECT_FALSE(b.last_key.has_value());
  EXPECT_TRUE(b.end_of_range);

  // end_of_range says whether a row follows, however many were asked for. The
  // 5th row is the first bad one after 'b': a batch that gets to it reads on to 'c', the 10th.
  for (auto [limit, rows, end] :
       {std::tuple{3, 3, false}, std::tuple{4, 4, false}, std::tuple{5, 10, false}, std::tuple{9, 10, false},
        std::tuple{10, 10, false}, std::tuple{11, 11, true}, std::tuple{12, 11, true},
        std::tuple{100, 11, true}}) {
    b = value_or_die(old->scan_batch("items", KeyRange::all(), static_cast<size_t>(limit)));
    EXPECT_EQ(b.rows(), static_cast<size_t>(rows)) << limit;
    EXPECT_EQ(b.end_of_range, end) << limit;
  }
  b = value_or_die(old->scan_batch("items", KeyRange{Key{Value("a")}, Key{Value("c")}}, 2));
  EXPECT_EQ(keys_of(b), "ab");
  EXPECT_FALSE(b.end_of_range);
  b = value_or_die(old->scan_batch("items", KeyRange::after(Key{Value("b")}, Key{Value("c")}), 2));
  EXPECT_EQ(b.bad.size(), 5u);
  EXPECT_FALSE(b.last_key.has_value());
  EXPECT_TRUE(b.end_of_range);
  b = value_or_die(old->scan_batch("items", KeyRange{std::nullopt, Key{Value("a")}}, 1));
  EXPECT_EQ(b.bad.size(), 2u);
  EXPECT_TRUE(b.end_of_range);

  for (size_t limit : {1, 2, 3, 4, 7}) {
    Drained d = drain(*old, "items", KeyRange::all(), limit);
    EXPECT_EQ(d.records.size(), 4u) << limit;
    std::set<std::string> bad;
    for (const BadRecord& r : d.bad) bad.insert(raw_v(r));
    EXPECT_EQ(d.bad.size(), 7u) << limit;
    EXPECT_EQ(bad.size(), 7u) << limit;
  }
}

// A table whose key was unique when tandem checked it and is not any more.
TEST(SqliteOldStore, TheSameKeyTwiceIsAnErrorNamingTheKey) {
  TempDir dir;
  std::string path = dir.file("old.db");
  exec_sql(
      path,
      "CREATE TABLE users (id INTEGER NOT NULL, email TEXT NOT NULL, name TEXT, age INTEGER, balance TEXT);"
      "CREATE UNIQUE INDEX users_id ON users (id);"
      "INSERT INTO users VALUES (1, 'a@x', 'one', 1, '1'), (2, 'b@x', 'two', 1, '1'), "
      "(3, 'c@x', 'three', 1, '1')");
  auto old = open_old(path);
  ASSERT_OK(old->ensure_collection(users_schema(), false));
  exec_sql(path, "DROP INDEX users_id; INSERT INTO users VALUES (2, 'dup@x', 'two again', 1, '1')");
  for (auto [range, limit] : {std::pair{KeyRange::all(), size_t{10}}, std::pair{KeyRange::all(), size_t{2}},
                              std::pair{KeyRange::after(Key{Value(int64_t{1})}, std::nullopt), size_t{1}}}) {
    auto b = old->scan_batch("users", range, limit);
    ASSERT_FALSE(b.ok()) << "limit " << limit;
    EXPECT_EQ(b.status().code(), Code::kCorruption);
    EXPECT_NE(b.status().message().find("'users' holds key 2 twice"), std::string::npos)
        << b.status().message();
  }
}

// Values a SQLite column holds but whose type does not express them exactly.
TEST(SqliteOldStore, StoredValuesTheTypeCannotExpressAreBadRows) {
  TempDir dir;
  std::string path = dir.file("old.db");
  exec_sql(path,
           "CREATE TABLE events (id INTEGER PRIMARY KEY, flag INTEGER, at INTEGER, ratio REAL);"
           "INSERT INTO events VALUES (1, 1, 0, 0.5), (2, 2, 0, 0.5), (3, 0, 9223372036854775807, 0.5),"
           " (4, 0, -62135596800000001, 0.5), (5, 0, 253402300799999999, -1e308)");
  auto old = open_old(path);
  CollectionSchema events;
  events.name = "events";
  events.key_columns = {{"id", Type::kInt, false}};
  events.columns = {
      {"flag", Type::kBool, true}, {"at", Type::kTimestamp, true}, {"ratio", Type::kDouble, true}};
  ASSERT_OK(old->ensure_collection(events, false));
  ScanBatch b = value_or_die(old->scan_batch("events", KeyRange::all(), 10));
  ASSERT_EQ(b.records.size(), 2u);
  EXPECT_EQ(b.records[1].fields["at"], Value(Timestamp{Timestamp::kMaxMicros}));
  ASSERT_EQ(b.bad.size(), 3u);
  EXPECT_EQ(b.bad[0].field, "flag");
  EXPECT_EQ(b.bad[0].key_display, "2");
  for (const BadRecord& bad : b.bad) {
    EXPECT_NE(bad.reason.find("'events', record " + bad.key_display + ", field '" + bad.field + "'"),
              std::string::npos)
        << bad.reason;
  }
  EXPECT_EQ(b.bad[1].field, "at");
  EXPECT_EQ(b.bad[2].field, "at");
  Digest d = value_or_die(old->digest("events", KeyRange::all()));
  EXPECT_EQ(d.count, 2u);
  EXPECT_EQ(d.undecodable, 3u);
}

// A key column declared COLLATE NOCASE makes 'a' and 'A' one record, which
// tandem identifies only from MariaDB/MySQL: refused at open, naming the
// column and the collation (issue 14; accepted before, a record per spelling).
TEST(SqliteOldStore, SqliteNocaseOldRefused) {
  TempDir dir;
  std::string path = dir.file("old.db");
  exec_sql(
      path,
      "CREATE TABLE items (k TEXT PRIMARY KEY COLLATE NOCASE, v TEXT); INSERT INTO items VALUES ('a', '1')");
  auto old = open_old(path);
  CollectionSchema items;
  items.name = "items";
  items.key_columns = {{"k", Type::kText, false}};
  items.columns = {{"v", Type::kText, true}};
  Status st = old->ensure_collection(items, false);
  ASSERT_EQ(st.code(), Code::kFailedPrecondition) << st.message();
  EXPECT_NE(st.message().find("'items.k'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("NOCASE"), std::string::npos) << st.message();
}

// A key column with a BINARY collation scans in tandem's order (bytes), so
// that ranges agree with every other engine's.
TEST(SqliteOldStore, KeysOrderByBytesWhateverTheColumnsCollation) {
  TempDir dir;
  std::string path = dir.file("old.db");
  exec_sql(path,
           "CREATE TABLE items (k TEXT PRIMARY KEY COLLATE BINARY, v TEXT);"
           "INSERT INTO items VALUES ('a', '1'), ('B', '2'), ('C', '3')");
  auto old = open_old(path);
  CollectionSchema items;
  items.name = "items";
  items.key_columns = {{"k", Type::kText, false}};
  items.columns = {{"v", Type::kText, true}};
  ASSERT_OK(old->ensure_collection(items, false));
  Drained d = drain(*old, "items", KeyRange::all(), 1);
  ASSERT_EQ(d.records.size(), 3u);
  EXPECT_EQ(d.records[0].key, Key{Value("B")});
  EXPECT_EQ(d.records[1].key, Key{Value("C")});
  EXPECT_EQ(d.records[2].key, Key{Value("a")});
  EXPECT_EQ(value_or_die(old->count("items", KeyRange{std::nullopt, Key{Value("C")}})), 1u);
  EXPECT_EQ(value_or_die(old->count("items", KeyRange{Key{Value("C")}, std::nullopt})), 2u);
}

CollectionSchema values_schema() {
  CollectionSchema s;
  s.name = "vals";
  s.key_columns = {{"k", Type::kText, false}};
  s.columns = {{"flag", Type::kBool, true},      {"count", Type::kInt, true},  {"ratio", Type::kDouble, true},
               {"amount", Type::kDecimal, true}, {"label", Type::kText, true}, {"blob", Type::kBytes, true},
               {"at", Type::kTimestamp, true},   {"doc", Type::kJson, true},   {"uid", Type::kUuid, true}};
  return s;
}

Record val(std::string key, std::string field, Value v) {
  Record r;
  r.key = Key{Value(std::move(key))};
  r.fields.emplace(std::move(field), std::move(v));
  return r;
}

// Writes are exact or refused: a value SQLite would store as another (NaN as
// NULL, -0.0 as 0.0) or tandem could not read back is kInvalidArgument naming
// the collection, the record and the field, and nothing of the batch is written.
TEST(SqliteStoreExact, ValuesSqliteCannotHoldExactlyAreRefusedNamingTheField) {
  TempDir dir;
  auto store = value_or_die(open_store("new", "sqlite:" + dir.file("new.db")));
  ASSERT_OK(store->ensure_collection(values_schema(), true));
  struct Case {
    Record record;
    std::string field;
  };
  std::vector<Case> cases = {
      {val("t1", "at", Value(Timestamp{Timestamp::kMaxMicros + 1})), "at"},
      {val("t2", "at", Value(Timestamp{Timestamp::kMinMicros - 1})), "at"},
      {val("t3", "at", Value(Timestamp{std::numeric_limits<int64_t>::max()})), "at"},
      {val("nan", "ratio", Value(std::nan(""))), "ratio"},
      {val("minus zero", "ratio", Value(-0.0)), "ratio"},
      {val("utf8", "label", Value(std::string("a\xff"))), "label"},
      {val("k\xff", "label", Value("fine")), "k"},
      {val("decimal", "amount", Value(Decimal{"1.50"})), "amount"},
  };
  for (const Case& c : cases) {
    Status s = store->upsert("vals", c.record);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.record.to_display() << ": " << s.to_string();
    EXPECT_FALSE(s.is_retryable());
    EXPECT_NE(s.message().find("collection 'vals'"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.record.key.to_display()), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("field '" + c.field + "'"), std::string::npos) << s.message();
    std::vector<Record> batch = {val("good", "label", Value("good")), c.record};
    auto inserted = store->insert_if_absent("vals", batch, LockPolicy::kNone);
    EXPECT_EQ(inserted.status().code(), Code::kInvalidArgument) << c.record.to_display();
    EXPECT_FALSE(value_or_die(store->get("vals", Key{Value("good")})).present());
  }
  ASSERT_OK(store->upsert("vals", val("p", "ratio", Value(1.5))));
  FieldMap nan{{"ratio", Value(std::nan(""))}};
  auto patched = store->patch("vals", Key{Value("p")}, nan);
  EXPECT_EQ(patched.status().code(), Code::kInvalidArgument);
  EXPECT_NE(patched.status().message().find("field 'ratio'"), std::string::npos)
      << patched.status().message();
  EXPECT_EQ(value_or_die(store->get("vals", Key{Value("p")})).record.fields["ratio"], Value(1.5));
  EXPECT_EQ(value_or_die(store->count("vals", KeyRange::all())), 1u);
}

// ... and everything else comes back exactly as written.
TEST(SqliteStoreExact, HostileValuesRoundTripExactly) {
  TempDir dir;
  auto store = value_or_die(open_store("new", "sqlite:" + dir.file("new.db")));
  ASSERT_OK(store->ensure_collection(values_schema(), true));
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
  std::string huge(5 << 20, 'x');
  for (size_t i = 0; i < huge.size(); i += 4096) huge[i] = '\0';
  std::vector<Record> records = {
      val(std::string("k\0x", 3), "label", Value(std::string("a\0b\0", 4))),
      val(std::string("k\0y", 3), "label", Value(std::string("\0", 1))),
      val("", "label", Value("")),
      val("empty blob", "blob", Value(Bytes{""})),
      val("all bytes", "blob", Value(Bytes{all_bytes})),
      val("huge", "label", Value(huge)),
      val("int max", "count", Value(std::numeric_limits<int64_t>::max())),
      val("int min", "count", Value(std::numeric_limits<int64_t>::min())),
      val("double max", "ratio", Value(std::numeric_limits<double>::max())),
      val("1e308", "ratio", Value(-1e308)),
      val("denormal", "ratio", Value(std::numeric_limits<double>::denorm_min())),
      val("inf", "ratio", Value(std::numeric_limits<double>::infinity())),
      val("-inf", "ratio", Value(-std::numeric_limits<double>::infinity())),
      val("whole double", "ratio", Value(9007199254740992.0)),
      val("zero", "ratio", Value(0.0)),
      val("tenth", "ratio", Value(0.1)),
      val("decimal 80", "amount",
          Value(value_or_die(Decimal::parse("-1234567890123456789012345678901234567890."
                                            "1234567890123456789012345678901234567891")))),
      val("decimal tiny", "amount",
          Value(value_or_die(Decimal::parse("0.0000000000000000000000000000000000000001")))),
      val("ts min", "at", Value(Timestamp{Timestamp::kMinMicros})),
      val("ts max", "at", Value(Timestamp{Timestamp::kMaxMicros})),
      val("bool", "flag", Value(false)),
      val("uuid", "uid", Value(value_or_die(Uuid::parse("00000000-0000-0000-0000-0000000000ff")))),
  };
  for (std::string_view text : {R"({"pi":3.141592653589793238462643383279,"big":18446744073709551616})",
                                R"({"tiny":1e-400,"s":"\u0000 nul","z":-0,"e":[],"n":-1.5e+300})"}) {
    auto json = Json::parse(text);
    ASSERT_OK(json);
    records.push_back(val(std::string(text.substr(0, 8)), "doc", Value(*json)));
  }
  ASSERT_OK(store->insert_if_absent("vals", records, LockPolicy::kNone));
  for (const Record& r : records) {
    Lookup l = value_or_die(store->get("vals", r.key));
    ASSERT_TRUE(l.present()) << r.key.to_display();
    for (const auto& [field, value] : r.fields) {
      EXPECT_EQ(l.record.fields[field], value) << r.key.to_display() << " " << field;
    }
  }
  EXPECT_EQ(value_or_die(store->count("vals", KeyRange::all())), records.size());
  ScanBatch all = value_or_die(store->scan_batch("vals", KeyRange::all(), 1000));
  EXPECT_EQ(all.records.size(), records.size());
  EXPECT_TRUE(all.bad.empty());
  EXPECT_TRUE(all.end_of_range);
  // NUL bytes in keys do not merge keys.
  EXPECT_EQ(value_or_die(store->get("vals", Key{Value(std::string("k\0x", 3))})).record.fields["label"],
            Value(std::string("a\0b\0", 4)));
}

// A value or row over SQLite's length limit is refused naming it: bound
// anyway, SQLite would store NULL in its place.
TEST(SqliteStoreExact, ValuesOverTheLengthLimitAreRefused) {
  TempDir dir;
  auto store = value_or_die(sqlite::SqliteStore::open("new", dir.file("new.db")));
  store->set_length_limit_for_testing(1000);
  ASSERT_OK(store->ensure_collection(values_schema(), true));
  Status s = store->upsert("vals", val("big", "label", Value(std::string(1001, 'x'))));
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find("field 'label'"), std::string::npos) << s.message();
  Record two = val("two", "label", Value(std::string(600, 'x')));
  two.fields["blob"] = Value(Bytes{std::string(600, 'y')});
  s = store->upsert("vals", two);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find("record 'two'"), std::string::npos) << s.message();
  EXPECT_EQ(value_or_die(store->count("vals", KeyRange::all())), 0u);
  ASSERT_OK(store->upsert("vals", val("fits", "label", Value(std::string(900, 'x')))));
  EXPECT_EQ(value_or_die(store->get("vals", Key{Value("fits")})).record.fields["label"],
            Value(std::string(900, 'x')));
}

}  // namespace
}  // namespace tandem::testing
