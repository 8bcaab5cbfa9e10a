// Issue 14: `tandem init` gives each of new's columns the closest type of new's
// engine that holds every value of old's column (lengths, precisions,
// fraction digits, enumerated values kept; unsigned integers widened), and
// `init --dry-run` shows that mapping. Checked with each server's own SQL:
// new's catalog for the types, and the rows copied under a live write read
// back by both servers' clients, not by tandem's codec. Needs the servers
// scripts/test.sh starts.
#include <fstream>
#include <functional>

#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

using Rows = std::vector<std::vector<std::string>>;

Config two_databases(const TempDir& dir, const std::string& old_url, const std::string& new_url,
                     CollectionSchema schema) {
  Config config;
  config.migration_name = "init_types";
  config.control_url = "sqlite:" + dir.file("control.db");
  config.old_url = old_url;
  config.new_url = new_url;
  config.collections = {std::move(schema)};
  return config;
}

Result<std::vector<InitOutcome>> init(const Config& config, bool dry_run) {
  TANDEM_ASSIGN_OR_RETURN(
      auto old_store,
      open_store("old", config.old_url, StoreOptions{.keep_tombstones = false, .configure = false}));
  TANDEM_ASSIGN_OR_RETURN(auto new_store, open_store("new", config.new_url));
  return init_new_tables(config, *old_store, new_store.get(), dry_run);
}

const InitOutcome::ColumnMapping* find_mapping(const InitOutcome& o, const std::string& column) {
  for (const auto& m : o.columns) {
    if (m.column == column) return &m;
  }
  return nullptr;
}

// Backfills, writes `live` through tandem at dual-write, verifies clean with
// nothing quarantined.
void copy_with_a_live_write(const Config& config, const Record& live) {
  MigrationOptions options;
  options.register_instance = false;
  auto m = value_or_die(Migration::open(config, options));
  ASSERT_OK(m->change_step(1, "test", /*force=*/true));
  EXPECT_TRUE(value_or_die(run_backfill(*m, BackfillOptions{})).complete);
  ASSERT_OK(value_or_die(m->collection(config.collections[0].name))->put(live));
  auto report = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(report.clean()) << "verify found differences";
  EXPECT_TRUE(value_or_die(OperatorTools(*m).control().quarantine(10)).empty()) << "nothing quarantined";
}

CollectionSchema people_schema() {
  CollectionSchema s;
  s.name = "people";
  s.key_columns = {{"id", Type::kInt, false}};
  s.columns = {{"code", Type::kText, false}, {"name", Type::kText, false},  {"gender", Type::kText, false},
               {"flags", Type::kText, true}, {"tiny", Type::kInt, true},    {"small", Type::kInt, true},
               {"medium", Type::kInt, true}, {"big", Type::kDecimal, true}, {"price", Type::kDecimal, true},
               {"born", Type::kDate, true},  {"at", Type::kDateTime, true}, {"shift", Type::kTime, true},
               {"y", Type::kInt, true},      {"active", Type::kBool, true}, {"raw", Type::kBytes, true},
               {"notes", Type::kText, true}, {"ratio", Type::kDouble, true}};
  return s;
}

TEST(InitTypes, MariaDbColumnsGetTheirClosestPostgresTypes) {
  MariaDbDatabase old_db("tandem_init_types_old");
  PostgresDatabase new_db("tandem_init_types_new");
  mariadb_sql(
      old_db.url(),
      "CREATE TABLE people (id INT UNSIGNED NOT NULL PRIMARY KEY, code CHAR(4) NOT NULL, name "
      "VARCHAR(14) NOT NULL, gender ENUM('M','F') NOT NULL, flags SET('a','b'), tiny TINYINT UNSIGNED, "
      "small SMALLINT UNSIGNED, medium MEDIUMINT, big BIGINT UNSIGNED, price DECIMAL(10,2), born DATE, "
      "at DATETIME(3), shift TIME(0), y YEAR, active BIT(1), raw VARBINARY(16), notes TEXT, ratio "
      "FLOAT)");
  mariadb_sql(old_db.url(),
              "INSERT INTO people VALUES (4294967295, 'ab', 'Georgi', 'M', 'a,b', 255, 65535, -8388608, "
              "18446744073709551615, 12345678.90, '1953-09-02', '1986-06-26 10:00:00.123', '09:00:00', 2155, "
              "b'1', x'00ff', 'x', 0.1), (1, 'd005', 'Bezalel', 'F', NULL, 0, 0, 8388607, 0, -0.01, NULL, "
              "NULL, NULL, 1901, b'0', '', NULL, NULL)");
  TempDir dir;
  Config config = two_databases(dir, old_db.url(), new_db.url(), people_schema());

  // The dry run shows the mapping and creates nothing.
  auto planned = value_or_die(init(config, /*dry_run=*/true));
  ASSERT_EQ(planned.size(), 1u);
  EXPECT_EQ(planned[0].action, InitOutcome::Action::kWouldCreate);
  const auto* big = find_mapping(planned[0], "big");
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->old_type, "bigint(20) unsigned");
  EXPECT_EQ(big->tandem_type, "decimal");
  EXPECT_EQ(big->new_type, "NUMERIC(20,0)");
  const auto* gender = find_mapping(planned[0], "gender");
  ASSERT_NE(gender, nullptr);
  EXPECT_NE(gender->note.find("CHECK"), std::string::npos) << gender->note;
  EXPECT_TRUE(postgres_rows(new_db.url(), "SELECT 1 FROM pg_class WHERE relname = 'people'").empty())
      << "a dry run creates nothing";

  // The CLI prints the same mapping, column by column, before the statement.
  std::ofstream(dir.file("tandem.toml")) << fmt::format(
      R"toml(
[migration]
control = "sqlite:{}"
[databases]
old = "{}"
new = "{}"
[[collections]]
name = "people"
key = ["id"]
columns = [ {{ name = "id", type = "int" }}, {{ name = "big", type = "decimal" }},
            {{ name = "gender", type = "text", nullable = false }} ]
)toml",
      dir.file("cli-control.db"), old_db.url(), new_db.url());
  CliResult dry = run_cli(dir, {"--config", dir.file("tandem.toml"), "init", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.out;
  for (const char* expected : {"bigint(20) unsigned", "NUMERIC(20,0)", "enum('M','F')", "note: enum('M','F')",
                               "CREATE TABLE IF NOT EXISTS \"people\""}) {
    EXPECT_NE(dry.out.find(expected), std::string::npos) << expected << " in:\n" << dry.out;
  }

  ASSERT_OK(init(config, /*dry_run=*/false).status());
  EXPECT_EQ(postgres_rows(new_db.url(),
                          "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                          "WHERE a.attrelid = 'people'::regclass AND a.attnum > 0 ORDER BY a.attnum"),
            (Rows{{"id", "bigint"},
                  {"code", "character varying(4)"},
                  {"name", "character varying(14)"},
                  {"gender", "character varying(1)"},
                  {"flags", "character varying(3)"},
                  {"tiny", "smallint"},
                  {"small", "integer"},
                  {"medium", "integer"},
                  {"big", "numeric(20,0)"},
                  {"price", "numeric(10,2)"},
                  {"born", "date"},
                  {"at", "timestamp(3) without time zone"},
                  {"shift", "time(0) without time zone"},
                  {"y", "smallint"},
                  {"active", "boolean"},
                  {"raw", "bytea"},
                  {"notes", "text"},
                  {"ratio", "real"}}));
  // The ENUM's members are a CHECK in new: a value old could not hold, new refuses too.
  EXPECT_EQ(postgres_rows(new_db.url(),
                          "SELECT count(*)::text FROM pg_constraint WHERE conrelid = 'people'::regclass AND "
                          "contype = 'c' AND pg_get_constraintdef(oid) LIKE '%gender%'"),
            (Rows{{"1"}}));

  Record live;
  live.key = Key{Value(int64_t{7})};
  live.fields = {{"code", Value("e")},
                 {"name", Value("Live")},
                 {"gender", Value("F")},
                 {"flags", Value("b")},
                 {"tiny", Value(int64_t{7})},
                 {"big", Value(Decimal::parse("9223372036854775808").value())},
                 {"price", Value(Decimal::parse("0.10").value())},
                 {"at", Value(DateTime::parse("2026-11-27 12:00:00.5").value())}};
  copy_with_a_live_write(config, live);
  // Both servers print the rows alike.
  Rows in_old = mariadb_rows(old_db.url(),
                             "SELECT id, code, name, gender, flags, tiny, small, medium, big, price, "
                             "DATE_FORMAT(born, '%Y-%m-%d'), DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f'), "
                             "TIME_FORMAT(shift, '%H:%i:%s'), y, IF(active IS NULL, NULL, IF(active, 'true', "
                             "'false')), HEX(raw), notes, "
                             "ratio FROM people ORDER BY id");
  Rows in_new =
      postgres_rows(new_db.url(),
                    "SELECT id::text, code, name, gender, flags, tiny::text, small::text, "
                    "medium::text, big::text, price::text, born::text, to_char(at, 'YYYY-MM-DD "
                    "HH24:MI:SS.US'), shift::text, y::text, active::text, upper(encode(raw, 'hex')), "
                    "notes, ratio::text FROM people ORDER BY people.id");
  ASSERT_EQ(in_old.size(), 3u);
  EXPECT_EQ(in_new, in_old);
}

CollectionSchema visits_schema() {
  CollectionSchema s;
  s.name = "visits";
  s.key_columns = {{"id", Type::kInt, false}};
  s.columns = {{"who", Type::kText, false},      {"code", Type::kText, true}, {"mood", Type::kText, true},
               {"amount", Type::kDecimal, true}, {"small", Type::kInt, true}, {"ratio", Type::kDouble, true},
               {"at", Type::kDateTime, true},    {"took", Type::kText, true}, {"doc", Type::kJson, true}};
  return s;
}

TEST(InitTypes, PostgresColumnsGetTheirClosestMariaDbTypes) {
  PostgresDatabase old_db("tandem_init_types_pg_old");
  MariaDbDatabase new_db("tandem_init_types_maria_new");
  postgres_rows(
      old_db.url(),
      "CREATE TYPE feeling AS ENUM ('sad', 'ok', 'it''s fine'); CREATE TABLE visits (id integer "
      "PRIMARY KEY, who varchar(20) NOT NULL, code char(3), mood feeling, amount numeric(12,3), small "
      "smallint, ratio real, at timestamp(3), took interval, doc json)");
  postgres_rows(old_db.url(),
                "INSERT INTO visits VALUES (1, 'Georgi', 'ab', 'it''s fine', 123456789.125, -32768, 0.1, "
                "'2026-11-27 10:00:00.123', '1 day 02:00:00', '{\"b\": 1, \"a\": [1.50]}'), (2, 'Bezalel', "
                "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  TempDir dir;
  Config config = two_databases(dir, old_db.url(), new_db.url(), visits_schema());
  ASSERT_OK(init(config, /*dry_run=*/false).status());
  EXPECT_EQ(
      mariadb_rows(new_db.url(),
                   "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                   "DATABASE() AND TABLE_NAME = 'visits' ORDER BY ORDINAL_POSITION"),
      (Rows{{"id", "int(11)"},
            {"who", "varchar(20)"},
            {"code", "varchar(3)"},
            {"mood", "enum('sad','ok','it''s fine')"},
            {"amount", "decimal(12,3)"},
            {"small", "smallint(6)"},
            {"ratio", "float"},
            {"at", "datetime(3)"},
            {"took", "longtext"},
            {"doc", "longtext"}}));

  Record live;
  live.key = Key{Value(int64_t{3})};
  live.fields = {{"who", Value("Live")}, {"mood", Value("ok")}, {"took", Value("00:00:01")}};
  copy_with_a_live_write(config, live);
  Rows in_old = postgres_rows(old_db.url(),
                              "SELECT id::text, who, code, mood::text, "
                              "amount::text, small::text, ratio::text, to_char(at, 'YYYY-MM-DD "
                              "HH24:MI:SS.US'), took::text, doc::text FROM visits ORDER BY visits.id");
  Rows in_new = mariadb_rows(new_db.url(),
                             "SELECT id, who, code, mood, amount, small, ratio, DATE_FORMAT(at, '%Y-%m-%d "
                             "%H:%i:%s.%f'), took, doc FROM visits ORDER BY id");
  ASSERT_EQ(in_old.size(), 3u);
  ASSERT_EQ(in_new.size(), 3u);
  // char(3) keeps its padding as PostgreSQL returns it.
  EXPECT_EQ(in_new[0][2], "ab ");
  // json keeps the text as written; tandem carries the JSON value (keys
  // sorted, spaces and number spellings normalised): the same value.
  EXPECT_EQ(in_new[0][9], R"({"a":[1.5],"b":1})");
  EXPECT_EQ(
      postgres_rows(old_db.url(),
                    R"(SELECT (doc::jsonb = '{"a":[1.5],"b":1}'::jsonb)::text FROM visits WHERE id = 1)"),
      (Rows{{"true"}}));
  for (auto* rows : {&in_old, &in_new}) {
    (*rows)[0][9] = "";
    for (auto& row : *rows) {
      row[2] = row[2] == "<NULL>" ? row[2] : row[2].substr(0, row[2].find_last_not_of(' ') + 1);
    }
  }
  EXPECT_EQ(in_new, in_old);
}

// A type no tandem type reads is refused at open, naming the column and
// saying so, never copied as something else.
TEST(InitTypes, APostgresArrayIsRefusedWithItsReason) {
  PostgresDatabase db("tandem_init_types_array");
  postgres_rows(db.url(), "CREATE TABLE tagged (id bigint PRIMARY KEY, tags text[])");
  CollectionSchema tagged;
  tagged.name = "tagged";
  tagged.key_columns = {{"id", Type::kInt, false}};
  tagged.columns = {{"tags", Type::kText, true}};
  auto store =
      value_or_die(open_store("old", db.url(), StoreOptions{.keep_tombstones = false, .configure = false}));
  Status s = store->ensure_collection(tagged, false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("'tagged.tags' is ARRAY"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("no tandem type reads ARRAY"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tandem::testing
