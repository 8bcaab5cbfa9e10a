// The PostgreSQL batch copy in COPY's binary format (issue 17): every column
// type tandem writes in binary arrives as exactly what the text format gives
// (a twin table written by single-record upserts, in the text format, is
// compared row by row in the server's own output text), decimals arrive as
// their exact text, and a value without a binary form in its column falls
// back to the text format, whose refusal names the record. Needs the server
// scripts/test.sh starts.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <set>

#include "core/sync_point.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

constexpr char kColumns[] =
    "(id bigint PRIMARY KEY, i2 smallint, i4 integer, b boolean, f4 real, f8 double precision, n numeric, "
    "n2 numeric(20,6), t text, v varchar(20), c char(4), by bytea, ts timestamptz, ts3 timestamp(3), "
    "dt timestamp, d date, tm time, j json, jb jsonb, u uuid)";

CollectionSchema wide_schema(const std::string& name) {
  return CollectionSchema{name,
                          {{"id", Type::kInt, false}},
                          {{"i2", Type::kInt, true},
                           {"i4", Type::kInt, true},
                           {"b", Type::kBool, true},
                           {"f4", Type::kDouble, true},
                           {"f8", Type::kDouble, true},
                           {"n", Type::kDecimal, true},
                           {"n2", Type::kDecimal, true},
                           {"t", Type::kText, true},
                           {"v", Type::kText, true},
                           {"c", Type::kText, true},
                           {"by", Type::kBytes, true},
                           {"ts", Type::kTimestamp, true},
                           {"ts3", Type::kDateTime, true},
                           {"dt", Type::kDateTime, true},
                           {"d", Type::kDate, true},
                           {"tm", Type::kTime, true},
                           {"j", Type::kJson, true},
                           {"jb", Type::kJson, true},
                           {"u", Type::kUuid, true}}};
}

const std::vector<std::string> kDecimals = {
    "0",         "-0.0001", "12345678901234567890.123456789", "10000", "0.5", "-1", "99999999", "1.00000001",
    "100000000", "-0.5",    "0.00000000000000000001",         "9999",  "1"};

template <typename T>
const T& pick(const std::vector<T>& values, size_t i) {
  return values[i % values.size()];
}

// Record i of the batch: each column cycles through its edge values, with a
// NULL now and then.
Record wide_record(size_t i) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const std::vector<int64_t> ids = {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                                    0, -1};
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes += static_cast<char>(c);
  FieldMap f;
  auto maybe = [&](const char* name, Value v) { f.emplace(name, i % 7 == 6 ? Value() : std::move(v)); };
  maybe("i2", pick<int64_t>({-32768, 32767, 0, 12}, i));
  maybe("i4",
        pick<int64_t>({std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), 7}, i));
  maybe("b", i % 2 == 0);
  maybe("f4", pick<double>({1.5, -0.0, nan, inf, 3.4028234663852886e38, 1.401298464324817e-45, 0.1f}, i));
  maybe("f8", pick<double>({0.1, -0.0, nan, -inf, 5e-324, 1.7976931348623157e308, 1.0 / 3}, i));
  f.emplace("n", Value(Decimal::parse(pick(kDecimals, i)).value()));
  maybe(
      "n2",
      Value(
          Decimal::parse(pick<std::string>({"1.5", "-99999999999999.999999", "0", "0.000001"}, i)).value()));
  maybe("t",
        Value(pick<std::string>({"", "tab\there", "back\\slash", "new\nline\r", "ünïcödé 😀", "\\N"}, i)));
  maybe("v", Value(pick<std::string>({"abc", "", "twenty characters!!!"}, i)));
  maybe("c", Value(pick<std::string>({"ab", "abcd", ""}, i)));
  maybe("by", Value(Bytes{pick<std::string>({"", std::string("\0\xff\\\n", 4), all_bytes}, i)}));
  maybe("ts", Value(Timestamp{pick<int64_t>({Timestamp::kMinMicros, Timestamp::kMaxMicros, 0, -1,
                                             946684800000000, 946684799999999, 1700000000123456},
                                            i)}));
  maybe("ts3", Value(DateTime{pick<int64_t>({1234567, -1234567, 1700000000999999, 1700000000000500}, i)}));
  maybe("dt",
        Value(DateTime{pick<int64_t>({Timestamp::kMinMicros, Timestamp::kMaxMicros, 946684800000001}, i)}));
  maybe("d", Value(Date{pick<int32_t>({Date::kMinDays, Date::kMaxDays, 10957, 10956, -1, 0}, i)}));
  maybe("tm", Value(TimeOfDay{pick<int64_t>({0, TimeOfDay::kMaxMicros, 1, 45296789012}, i)}));
  maybe("j", Value(Json::parse(pick<std::string>({R"({"k":[1,2.50,"x"]})", "123456789012345678901234567890",
                                                  R"("tab\tq\"")", "[]"},
                                                 i))
                       .value()));
  maybe("jb",
        Value(Json::parse(pick<std::string>({R"({"b":1,"a":[true,null]})", "1e400", R"("ü\n")", "{}"}, i))
                  .value()));
  maybe("u", Value(Uuid::parse(pick<std::string>({"00000000-0000-0000-0000-000000000000",
                                                  "ffffffff-ffff-ffff-ffff-ffffffffffff",
                                                  "0123abcd-4567-89ef-0123-456789abcdef"},
                                                 i))
                       .value()));
  const int64_t id = i < ids.size() ? ids[i] : static_cast<int64_t>(i) * 1000003;
  return Record{Key{Value(id)}, std::move(f)};
}

TEST(PostgresBinaryCopy, EveryTypeArrivesAsTheTextFormatWouldHaveIt) {
  PostgresDatabase db("tandem_binary_copy");
  psql(db.url(), fmt::format("CREATE TABLE wide {0}; CREATE TABLE wide_text {0}", kColumns));
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(wide_schema("wide"), false));
  ASSERT_OK(store->ensure_collection(wide_schema("wide_text"), false));
  int binary = 0, text = 0;
  SyncPoints::set("postgres.binary_copy", [&] { ++binary; });
  SyncPoints::set("postgres.text_copy", [&] { ++text; });
  std::vector<Record> batch;
  for (size_t i = 0; i < 60; ++i) batch.push_back(wide_record(i));
  auto outcomes = value_or_die(store->insert_if_absent("wide", batch, LockPolicy::kTryLockEach));
  SyncPoints::clear_all();
  for (InsertOutcome o : outcomes) EXPECT_EQ(o, InsertOutcome::kInserted);
  EXPECT_EQ(binary, 1) << "the batch is copied in the binary format";
  EXPECT_EQ(text, 0);
  for (const Record& r : batch) ASSERT_OK(store->upsert("wide_text", r));

  // Row by row in the server's output text (numeric scale, float digits,
  // bytea hex, char padding, timestamps in the session's zone): none differ.
  const std::string differ = "SELECT w::text FROM wide w EXCEPT ALL SELECT w::text FROM wide_text w";
  EXPECT_EQ(postgres_rows(db.url(), differ), std::vector<std::vector<std::string>>{});
  EXPECT_EQ(postgres_rows(db.url(), "SELECT count(*) FROM wide"),
            (std::vector<std::vector<std::string>>{{"60"}}));
  EXPECT_EQ(postgres_rows(db.url(), "SELECT count(*) FROM wide_text"),
            (std::vector<std::vector<std::string>>{{"60"}}));
  // The decimals, independently of the text path: exactly their text.
  auto ns = postgres_rows(db.url(), "SELECT n::text FROM wide");
  std::multiset<std::string> got, want;
  for (const auto& row : ns) got.insert(row.at(0));
  for (size_t i = 0; i < 60; ++i) want.insert(pick(kDecimals, i));
  EXPECT_EQ(got, want);
  // Record 2 (key 0): the instant 0, the day 10957 and 1 µs after midnight.
  EXPECT_EQ(
      postgres_rows(db.url(),
                    "SELECT (ts AT TIME ZONE 'UTC')::text, d::text, tm::text FROM wide WHERE id = 0"),
      (std::vector<std::vector<std::string>>{{"1970-01-01 00:00:00", "2000-01-01", "00:00:00.000001"}}));
}

TEST(PostgresBinaryCopy, AValueWithoutABinaryFormFallsBackToTextAndIsRefusedNamingTheRecord) {
  PostgresDatabase db("tandem_binary_copy_fallback");
  psql(db.url(), fmt::format("CREATE TABLE wide {}", kColumns));
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(wide_schema("wide"), false));
  int binary = 0, text = 0;
  SyncPoints::set("postgres.binary_copy", [&] { ++binary; });
  SyncPoints::set("postgres.text_copy", [&] { ++text; });
  std::vector<Record> batch;
  for (size_t i = 10; i < 30; ++i) batch.push_back(wide_record(i));
  batch[5].fields["i4"] = Value(int64_t{1} << 40);  // beyond INTEGER
  auto out = store->insert_if_absent("wide", batch, LockPolicy::kTryLockEach);
  SyncPoints::clear_all();
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kInvalidArgument) << out.status().to_string();
  EXPECT_NE(out.status().message().find("out of range"), std::string::npos) << out.status().to_string();
  EXPECT_EQ(binary, 0);
  EXPECT_GE(text, 1) << "the batch went in the text format";
  EXPECT_EQ(postgres_rows(db.url(), "SELECT count(*) FROM wide"),
            (std::vector<std::vector<std::string>>{{"0"}}));
}

}  // namespace
}  // namespace tandem::testing
