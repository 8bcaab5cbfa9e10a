// Issue 14: dates, times of day and wall-clock datetimes migrate as what they
// are, MariaDB -> PostgreSQL and PostgreSQL -> MariaDB, under a live write,
// checked with each server's own SQL (not tandem's codec): a DATE is never a
// timestamp at midnight UTC that a session in another time zone shows as the
// day before, and a value the type cannot hold is quarantined with its reason
// while the copy goes on. Needs the servers scripts/test.sh starts.
#include <functional>

#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

CollectionSchema employees_schema() {
  CollectionSchema s;
  s.name = "employees";
  s.key_columns = {{"emp_no", Type::kInt, false}};
  s.columns = {{"birth_date", Type::kDate, false},
               {"hire_date", Type::kDate, false},
               {"shift_start", Type::kTime, true},
               {"updated", Type::kDateTime, true}};
  return s;
}

// The rows as both servers print them alike, new's session in a time zone
// far from UTC (a timestamp at midnight UTC would show another day there).
const char* const kMariaDbRows =
    "SELECT emp_no, DATE_FORMAT(birth_date, '%Y-%m-%d'), DATE_FORMAT(hire_date, '%Y-%m-%d'), "
    "TIME_FORMAT(shift_start, '%H:%i:%s.%f'), DATE_FORMAT(updated, '%Y-%m-%d %H:%i:%s.%f') FROM employees "
    "ORDER BY emp_no";
const char* const kPostgresRows =
    "SET TimeZone = 'Pacific/Kiritimati'; SELECT emp_no::text, to_char(birth_date, 'YYYY-MM-DD'), "
    "to_char(hire_date, 'YYYY-MM-DD'), to_char(shift_start, 'HH24:MI:SS.US'), "
    "to_char(updated, 'YYYY-MM-DD HH24:MI:SS.US') FROM employees ORDER BY emp_no";

// The values of the sample schema's rows, and the edges of each type.
const char* const kRows[][5] = {
    {"10001", "1953-09-02", "1986-06-26", "09:00:00", "1986-06-26 00:00:00"},
    {"10002", "1964-06-02", "1985-11-21", "23:59:59.999999", "1969-12-31 23:59:59.999999"},
    {"10003", "0001-01-01", "9999-12-31", "00:00:00", "1970-01-01 00:00:00.000001"},
    {"10004", "1969-12-31", "1970-01-01", nullptr, nullptr},
    {"10005", "2024-02-29", "2000-02-29", "12:30:00.5", "9999-12-31 23:59:59.999999"},
};

std::string sql_value(const char* v) { return v == nullptr ? "NULL" : fmt::format("'{}'", v); }

std::string insert_rows() {
  std::vector<std::string> values;
  for (const auto& r : kRows) {
    values.push_back(fmt::format("({}, {}, {}, {}, {})", r[0], sql_value(r[1]), sql_value(r[2]),
                                 sql_value(r[3]), sql_value(r[4])));
  }
  return fmt::format("INSERT INTO employees VALUES {}", fmt::join(values, ", "));
}

std::unique_ptr<Migration> dual_write(const TempDir& dir, const std::string& old_url,
                                      const std::string& new_url) {
  Config config;
  config.migration_name = "calendar";
  config.control_url = "sqlite:" + dir.file("control.db");
  config.old_url = old_url;
  config.new_url = new_url;
  config.collections = {employees_schema()};
  auto new_store = value_or_die(open_store("new", config.new_url));
  EXPECT_OK(new_store->ensure_collection(employees_schema(), true));
  new_store.reset();
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(config, options));
  EXPECT_OK(m->change_step(1, "test", /*force=*/true));
  return m;
}

// Copies, writes one record live at dual-write, verifies; returns the
// quarantine's reasons.
std::vector<std::string> migrate(Migration& m) {
  Collection* employees = value_or_die(m.collection("employees"));
  EXPECT_TRUE(value_or_die(run_backfill(m, BackfillOptions{})).complete);
  Record live;
  live.key = Key{Value(int64_t{20001})};
  live.fields = {{"birth_date", Value(Date::parse("1990-01-01").value())},
                 {"hire_date", Value(Date::parse("2026-11-27").value())},
                 {"shift_start", Value(TimeOfDay::parse("07:15:00").value())},
                 {"updated", Value(DateTime::parse("2026-11-27 07:15:00.25").value())}};
  EXPECT_OK(employees->put(live));
  auto report = value_or_die(run_verify(m, VerifyOptions{}));
  EXPECT_TRUE(report.clean()) << "verify found differences";
  std::vector<std::string> reasons;
  for (const QuarantineEntry& e : value_or_die(OperatorTools(m).control().quarantine(100))) {
    reasons.push_back(fmt::format("{} {}: {}", e.key_display, e.field, e.reason));
  }
  return reasons;
}

std::vector<std::vector<std::string>> expected_rows() {
  std::vector<std::vector<std::string>> rows;
  auto micros = [](const char* v) -> std::string {  // both servers print 6 fraction digits
    if (v == nullptr) return "<NULL>";
    std::string s(v);
    size_t dot = s.find('.');
    if (dot == std::string::npos) return s + ".000000";
    return s + std::string(6 - (s.size() - dot - 1), '0');
  };
  for (const auto& r : kRows) rows.push_back({r[0], r[1], r[2], micros(r[3]), micros(r[4])});
  rows.push_back({"20001", "1990-01-01", "2026-11-27", "07:15:00.000000", "2026-11-27 07:15:00.250000"});
  return rows;
}

using Rows = std::vector<std::vector<std::string>>;
using Query = std::function<Rows(const std::string& url, const std::string& sql)>;

// Migrates old (employees created, kRows and one row 10009 that its type
// cannot hold inserted) into new and checks both with their own SQL: the
// quarantine holds 10009 for `reason`, new holds the rows as old does, live
// write included, and new's columns have the types `new_columns`.
void expect_migrated_as_themselves(const std::string& old_url, const Query& old_rows, const char* old_select,
                                   const std::string& new_url, const Query& new_rows, const char* new_select,
                                   const std::string& reason, const std::string& columns_sql,
                                   const Rows& new_columns) {
  TempDir dir;
  auto m = dual_write(dir, old_url, new_url);
  std::vector<std::string> quarantined = migrate(*m);
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_NE(quarantined[0].find("10009"), std::string::npos) << quarantined[0];
  EXPECT_NE(quarantined[0].find(reason), std::string::npos) << quarantined[0];
  Rows in_new = new_rows(new_url, new_select);
  EXPECT_EQ(in_new, expected_rows());
  std::string old_sql = old_select;
  old_sql.insert(old_sql.find("ORDER"), "WHERE emp_no <> 10009 ");
  EXPECT_EQ(old_rows(old_url, old_sql), in_new) << "the live write reached both databases alike";
  // new's columns have the engine's own calendar types, not timestamptz.
  EXPECT_EQ(new_rows(new_url, columns_sql), new_columns);
}

TEST(Calendar, MariaDbDatesTimesAndDatetimesArriveInPostgresAsThemselves) {
  MariaDbDatabase old_db("tandem_calendar_old");
  PostgresDatabase new_db("tandem_calendar_new");
  mariadb_sql(old_db.url(),
              "CREATE TABLE employees (emp_no INT NOT NULL PRIMARY KEY, birth_date DATE NOT NULL, hire_date "
              "DATE NOT NULL, shift_start TIME(6), updated DATETIME(6))");
  mariadb_sql(old_db.url(), insert_rows());
  // A TIME beyond a day is a duration, not a time of day: quarantined, never wrapped.
  mariadb_sql(old_db.url(),
              "INSERT INTO employees VALUES (10009, '1960-01-01', '1990-01-01', '30:00:00', NULL)");
  expect_migrated_as_themselves(old_db.url(), mariadb_rows, kMariaDbRows, new_db.url(), postgres_rows,
                                kPostgresRows, "time of day",
                                "SELECT column_name::text, data_type::text FROM information_schema.columns "
                                "WHERE table_name = 'employees' ORDER BY column_name",
                                Rows{{"birth_date", "date"},
                                     {"emp_no", "bigint"},
                                     {"hire_date", "date"},
                                     {"shift_start", "time without time zone"},
                                     {"updated", "timestamp without time zone"}});
}

TEST(Calendar, PostgresDatesTimesAndTimestampsArriveInMariaDbAsThemselves) {
  PostgresDatabase old_db("tandem_calendar_pg_old");
  MariaDbDatabase new_db("tandem_calendar_maria_new");
  postgres_rows(
      old_db.url(),
      "CREATE TABLE employees (emp_no INT NOT NULL PRIMARY KEY, birth_date DATE NOT NULL, hire_date "
      "DATE NOT NULL, shift_start TIME, updated TIMESTAMP)");
  postgres_rows(old_db.url(), insert_rows());
  // 'infinity' is no datetime of the calendar: quarantined with its reason.
  postgres_rows(old_db.url(),
                "INSERT INTO employees VALUES (10009, '1960-01-01', '1990-01-01', NULL, 'infinity')");
  expect_migrated_as_themselves(old_db.url(), postgres_rows, kPostgresRows, new_db.url(), mariadb_rows,
                                kMariaDbRows, "infinity",
                                "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE "
                                "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'employees' ORDER BY COLUMN_NAME",
                                Rows{{"birth_date", "date"},
                                     {"emp_no", "bigint(20)"},
                                     {"hire_date", "date"},
                                     {"shift_start", "time(6)"},
                                     {"updated", "datetime(6)"}});
}

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// Issue 14: a PostgreSQL timestamp without time zone is a wall-clock time.
// Configured as a timestamp (an instant) it used to be read as UTC, and
// `tandem init` then made new's column timestamptz: refused now, naming the
// type that keeps it as it is.
TEST(Calendar, AZonelessPostgresTimestampIsNotReadAsAnInstant) {
  PostgresDatabase db("tandem_calendar_zoneless");
  postgres_rows(db.url(), "CREATE TABLE events (id BIGINT PRIMARY KEY, at TIMESTAMP)");
  CollectionSchema events;
  events.name = "events";
  events.key_columns = {{"id", Type::kInt, false}};
  events.columns = {{"at", Type::kTimestamp, true}};
  auto store =
      value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
  Status s = store->ensure_collection(events, false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("timestamp without time zone"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("type = \"datetime\""), std::string::npos) << s.message();
  events.columns = {{"at", Type::kDateTime, true}};
  EXPECT_OK(store->ensure_collection(events, false));
}

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// Issue 14: new's narrower columns (a user's own DDL) take what they can hold
// exactly and refuse the rest per record, naming the record, never clipping:
// small and unsigned integers, YEAR, VARCHAR(n), ENUM, SET on MariaDB.
TEST(NarrowColumns, MariaDbRefusesPerRecordWhatAColumnCannotHold) {
  MariaDbDatabase db("tandem_narrow");
  mariadb_sql(db.url(),
              "CREATE TABLE narrow (id BIGINT PRIMARY KEY, tiny TINYINT UNSIGNED, small SMALLINT, y YEAR, "
              "code VARCHAR(3), kind ENUM('a','b'), flags SET('x','y'))");
  CollectionSchema narrow;
  narrow.name = "narrow";
  narrow.key_columns = {{"id", Type::kInt, false}};
  narrow.columns = {{"tiny", Type::kInt, true},  {"small", Type::kInt, true}, {"y", Type::kInt, true},
                    {"code", Type::kText, true}, {"kind", Type::kText, true}, {"flags", Type::kText, true}};
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(narrow, false));
  Record fits;
  fits.key = Key{Value(int64_t{1})};
  fits.fields = {{"tiny", Value(int64_t{255})}, {"small", Value(int64_t{-32768})},
                 {"y", Value(int64_t{2155})},   {"code", Value("abc")},
                 {"kind", Value("b")},          {"flags", Value("x,y")}};
  ASSERT_OK(store->upsert("narrow", fits));
  EXPECT_EQ(value_or_die(store->get("narrow", fits.key)).record, fits);
  struct Case {
    const char* field;
    Value value;
  };
  for (const Case& c : {Case{"tiny", Value(int64_t{256})}, Case{"tiny", Value(int64_t{-1})},
                        Case{"small", Value(int64_t{40000})}, Case{"y", Value(int64_t{1800})},
                        Case{"code", Value("abcd")}, Case{"kind", Value("c")}, Case{"flags", Value("z")}}) {
    Record r = fits;
    r.key = Key{Value(int64_t{2})};
    r.fields[c.field] = c.value;
    Status s = store->upsert("narrow", r);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.field << ": " << s.to_string();
    EXPECT_FALSE(s.is_retryable()) << c.field;
    EXPECT_FALSE(value_or_die(store->get("narrow", r.key)).present()) << c.field << ": nothing written";
    std::vector<Record> one{r};
    auto outcomes = store->insert_if_absent("narrow", one, LockPolicy::kTryLockEach);
    EXPECT_FALSE(outcomes.ok()) << c.field << ": the copy path refuses it too";
  }
}

// MySQL schemas keep booleans in BIT(1) and flags in BIT(n): read as bool and
// int (the bytes MariaDB sends, most significant first), written back as
// numbers, a value wider than the column refused per record.
TEST(NarrowColumns, MariaDbBitColumnsAreBoolsAndInts) {
  MariaDbDatabase db("tandem_bits");
  mariadb_sql(db.url(), "CREATE TABLE bits (id BIGINT PRIMARY KEY, flag BIT(1) NOT NULL, mask BIT(12))");
  mariadb_sql(db.url(), "INSERT INTO bits VALUES (1, b'1', b'101010101010'), (2, b'0', NULL)");
  CollectionSchema bits;
  bits.name = "bits";
  bits.key_columns = {{"id", Type::kInt, false}};
  bits.columns = {{"flag", Type::kBool, false}, {"mask", Type::kInt, true}};
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(bits, false));
  Record one = value_or_die(store->get("bits", Key{Value(int64_t{1})})).record;
  EXPECT_EQ(one.fields.at("flag"), Value(true));
  EXPECT_EQ(one.fields.at("mask"), Value(int64_t{0xAAA}));
  EXPECT_EQ(value_or_die(store->get("bits", Key{Value(int64_t{2})})).record.fields.at("flag"), Value(false));
  Record three;
  three.key = Key{Value(int64_t{3})};
  three.fields = {{"flag", Value(true)}, {"mask", Value(int64_t{4095})}};
  ASSERT_OK(store->upsert("bits", three));
  EXPECT_EQ(
      mariadb_rows(db.url(), "SELECT id, flag + 0, mask + 0 FROM bits ORDER BY id"),
      (std::vector<std::vector<std::string>>{{"1", "1", "2730"}, {"2", "0", "<NULL>"}, {"3", "1", "4095"}}));
  three.fields["mask"] = Value(int64_t{4096});
  Status s = store->upsert("bits", three);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  // A BIT wider than one bit is no bool.
  bits.columns = {{"flag", Type::kBool, false}, {"mask", Type::kBool, true}};
  s = store->ensure_collection(bits, false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("bit(12)"), std::string::npos) << s.message();
}

// The same on PostgreSQL: smallint, integer, varchar(n), real.
TEST(NarrowColumns, PostgresRefusesPerRecordWhatAColumnCannotHold) {
  PostgresDatabase db("tandem_narrow_pg");
  postgres_rows(db.url(),
                "CREATE TABLE narrow (id BIGINT PRIMARY KEY, small SMALLINT, mid INTEGER, code VARCHAR(3), "
                "ratio REAL)");
  CollectionSchema narrow;
  narrow.name = "narrow";
  narrow.key_columns = {{"id", Type::kInt, false}};
  narrow.columns = {{"small", Type::kInt, true},
                    {"mid", Type::kInt, true},
                    {"code", Type::kText, true},
                    {"ratio", Type::kDouble, true}};
  auto store = value_or_die(open_store("new", db.url()));
  ASSERT_OK(store->ensure_collection(narrow, false));
  Record fits;
  fits.key = Key{Value(int64_t{1})};
  fits.fields = {{"small", Value(int64_t{-32768})},
                 {"mid", Value(int64_t{2147483647})},
                 {"code", Value("abc")},
                 {"ratio", Value(0.5)}};
  ASSERT_OK(store->upsert("narrow", fits));
  EXPECT_EQ(value_or_die(store->get("narrow", fits.key)).record, fits);
  struct Case {
    const char* field;
    Value value;
  };
  for (const Case& c : {Case{"small", Value(int64_t{40000})}, Case{"mid", Value(int64_t{2147483648})},
                        Case{"code", Value("abcd")}, Case{"ratio", Value(0.1)}}) {
    Record r = fits;
    r.key = Key{Value(int64_t{2})};
    r.fields[c.field] = c.value;
    Status s = store->upsert("narrow", r);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.field << ": " << s.to_string();
    EXPECT_FALSE(s.is_retryable()) << c.field;
    EXPECT_FALSE(value_or_die(store->get("narrow", r.key)).present()) << c.field << ": nothing written";
    std::vector<Record> one{r};
    EXPECT_FALSE(store->insert_if_absent("narrow", one, LockPolicy::kTryLockEach).ok())
        << c.field << ": the copy path refuses it too";
  }
}

}  // namespace
}  // namespace tandem::testing
