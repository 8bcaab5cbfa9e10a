// Issue 12, "exact or refused", on MariaDB: the configured key is a key of
// the table, keys that do not decode are bad records and the scan goes on,
// uuids are read by their column's type, writes the column would alter are
// refused, statements stay under max_allowed_packet, and the portable digest
// leaves undecodable rows out. Needs the servers scripts/test.sh starts
// (fails without them).
#include <cstdlib>
#include <map>

#include "stores/mariadb/mariadb_connection.h"
#include "tandem/backfill.h"
#include "tandem/verify.h"
#include "test_support.h"

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
  auto conn = value_or_die(mariadb::Connection::open(value_or_die(mariadb::ConnectionSpec::parse(url))));
  ASSERT_OK(conn->exec_simple("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'", "relaxing the session"));
  for (const std::string& statement : statements) ASSERT_OK(conn->exec_simple(statement, "writing rows"));
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

TEST(MariaDbStore, TheConfiguredKeyMustBeAKeyOfTheTable) {
  MariaDbDatabase db("tandem_keys");
  mariadb_sql(db.url(), "CREATE TABLE nokey (id BIGINT NOT NULL, name VARCHAR(20))");
  mariadb_sql(
      db.url(),
      "CREATE TABLE pair (a BIGINT NOT NULL, b BIGINT NOT NULL, name VARCHAR(20), PRIMARY KEY (a, b))");
  mariadb_sql(db.url(), "CREATE TABLE loose (id BIGINT NULL, name VARCHAR(20), UNIQUE KEY by_id (id))");
  mariadb_sql(
      db.url(),
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
  mariadb_sql(db.url(), "CREATE TABLE dated (at DATETIME(6) PRIMARY KEY, n INT)");
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
  mariadb_sql(db.url(), "CREATE TABLE names (k VARBINARY(20) PRIMARY KEY, n INT)");
  mariadb_sql(db.url(), "INSERT INTO names VALUES ('a', 1), (x'6869FF', 2), ('zz', 3)");
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
  mariadb_sql(db.url(), "CREATE TABLE twice (id BIGINT PRIMARY KEY, n INT)");
  auto store =
      value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
  ASSERT_OK(store->ensure_collection(
      schema_of("twice", {{"id", Type::kInt, false}}, {{"n", Type::kInt, true}}), false));
  mariadb_sql(db.url(), "ALTER TABLE twice DROP PRIMARY KEY");
  mariadb_sql(db.url(), "INSERT INTO twice VALUES (1, 1), (1, 2), (2, 3)");
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
  mariadb_sql(db.url(),
              "CREATE TABLE ids (id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY, n INT)");
  mariadb_sql(
      db.url(),
      "CREATE TABLE ids_ci (id CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci PRIMARY KEY, n INT)");
  mariadb_sql(db.url(),
              "INSERT INTO ids VALUES ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1), "
              "('B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 2), ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 3)");
  mariadb_sql(db.url(), "INSERT INTO ids_ci VALUES ('B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 2)");
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
  mariadb_sql(db.url(), "CREATE TABLE refs (id BIGINT PRIMARY KEY, c CHAR(36), b BINARY(16))");
  mariadb_sql(db.url(),
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
  auto conn = value_or_die(mariadb::Connection::open(value_or_die(mariadb::ConnectionSpec::parse(db.url()))));
  std::string stored;
  ASSERT_OK(conn->run("SELECT CONCAT(c, ' ', HEX(b)) FROM refs WHERE id = 5", {}, "reading",
                      [&](const mariadb::Row& r) {
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
  mariadb_sql(
      db.url(),
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
  auto conn = value_or_die(mariadb::Connection::open(value_or_die(mariadb::ConnectionSpec::parse(db.url()))));
  size_t packet = 0;
  ASSERT_OK(
      conn->run("SELECT @@max_allowed_packet", {}, "reading max_allowed_packet", [&](const mariadb::Row& r) {
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
  mariadb_sql(
      db.url(),
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

// The portable digest over MariaDB's own column types (latin1 text, DATETIME
// of years 0001 to 9999, DECIMAL(10,3), uuids in BINARY(16) and CHAR(36))
// equals PostgreSQL's for equal data, and leaves out, as undecodable, rows
// tandem cannot read (a zero date, a day the month lacks, a uuid column
// holding no UUID, NULL in a NOT NULL field) instead of failing or counting
// them.
TEST(MariaDbStore, PortableDigestEqualsPostgresAndLeavesOutRowsThatDoNotDecode) {
  MariaDbDatabase mariadb_db("tandem_portable");
  PostgresDatabase postgres_db("tandem_portable_mariadb");
  mariadb_sql(
      mariadb_db.url(),
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
  auto mariadb_store = value_or_die(open_store("new", mariadb_db.url()));
  auto postgres_store = value_or_die(open_store("new", postgres_db.url()));
  ASSERT_OK(mariadb_store->ensure_collection(things, false));
  ASSERT_OK(postgres_store->ensure_collection(things, true));
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
    ASSERT_OK(mariadb_store->upsert("things", r));
    ASSERT_OK(postgres_store->upsert("things", r));
  }
  lax_sql(mariadb_db.url(), {std::string("INSERT INTO things (id, name, at) VALUES (10, 'zero', '0000-00-00 "
                                         "00:00:00'), (11, 'no day', '2024-02-30 00:00:00'), ") +
                                 "(12, 'year 0', '0000-06-15 00:00:00')",
                             "INSERT INTO things (id, name, ref2) VALUES (13, 'short', '0123456789abcdef')",
                             "INSERT INTO things (id, name, flag) VALUES (15, 'flag', 7)",
                             "INSERT INTO things (id, name, raw) VALUES (16, 'raw', x'FF00')",
                             "INSERT INTO things (id, name) VALUES (17, NULL)"});
  auto a = value_or_die(postgres_store->portable_digest("things", KeyRange::all()));
  auto b = value_or_die(mariadb_store->portable_digest("things", KeyRange::all()));
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(b->count, 4u);
  EXPECT_EQ(b->undecodable, 7u);
  EXPECT_EQ(*a, *b) << a->hash << " " << b->hash;
  // The tandem digest agrees on what decodes.
  Digest d = value_or_die(mariadb_store->digest("things", KeyRange::all()));
  EXPECT_EQ(d.count, 4u);
  EXPECT_EQ(d.undecodable, 7u);
  // And a difference shows.
  ASSERT_OK(mariadb_store->patch("things", Key{Value(int64_t{2})}, {{"name", Value("cafe 2")}}));
  EXPECT_NE(*a, *value_or_die(mariadb_store->portable_digest("things", KeyRange::all())));
}

}  // namespace
}  // namespace tandem::testing
