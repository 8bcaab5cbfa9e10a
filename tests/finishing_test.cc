// Issue 14, items 4-6: commands that only read create nothing, only `tandem
// init` creates (and only what old has, or what is new-only), the library's
// messages never reach stdout, gone instances expire, `tandem finish`.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "stores/sqlite/sqlite_connection.h"
#include "tandem/backfill.h"
#include "tandem/logging.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

MigrationOptions operator_options() {
  MigrationOptions o;
  o.register_instance = false;
  return o;
}

// The tables of an SQLite file; empty if the file does not exist.
std::set<std::string> sqlite_tables(const std::string& path) {
  std::set<std::string> out;
  if (!std::filesystem::exists(path)) return out;
  auto conn = value_or_die(sqlite::Connection::open(path, false, false));
  auto raw = value_or_die(conn->prepare("SELECT name FROM sqlite_master WHERE type = 'table'"));
  sqlite::Statement st(*conn, raw);
  while (value_or_die(st.step("listing tables"))) out.insert(st.column_text(0));
  return out;
}

// A migration directory: old.db with users (3 records), a config naming
// `extra` collections too, new.db not created.
struct CliSetup {
  TempDir dir;
  std::string config_path;
  std::set<std::string> old_tables_before;

  explicit CliSetup(const std::string& extra = "") {
    create_old_database(dir.file("old.db"), users_schema(), {user(1, "a"), user(2, "b"), user(3, "c")});
    old_tables_before = sqlite_tables(dir.file("old.db"));
    config_path = dir.file("tandem.toml");
    std::ofstream(config_path) << fmt::format(R"toml(
[migration]
name = "issue14"
control = "sqlite:{0}"
refresh_interval_ms = 200
instance_timeout_ms = 1000

[databases]
old = "sqlite:{1}"
new = "sqlite:{2}"

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
{3}
)toml",
                                              dir.file("control.db"), dir.file("old.db"), dir.file("new.db"),
                                              extra);
  }
  CliResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--config", config_path});
    return run_cli(dir, args);
  }
  std::set<std::string> new_tables() const { return sqlite_tables(dir.file("new.db")); }
};

constexpr const char* kGhosts = R"toml(
[[collections]]
name = "ghosts"
key = "id"
columns = [ { name = "id", type = "int" }, { name = "seen", type = "text" } ]
)toml";

// Issue 14 item 4: `tandem status` and `tandem plan` created new's tables in
// an empty database.
TEST(Issue14, StatusAndPlanCreateNothingInNew) {
  CliSetup s;
  CliResult plan = s.cli({"plan"});
  EXPECT_EQ(plan.exit_code, 0) << plan.out;
  EXPECT_NE(plan.out.find("old-only"), std::string::npos) << plan.out;
  CliResult status = s.cli({"status"});
  EXPECT_EQ(status.exit_code, 0) << status.out;
  CliResult json = s.cli({"status", "--json"});
  EXPECT_EQ(json.exit_code, 0) << json.out;
  EXPECT_EQ(s.new_tables(), std::set<std::string>{}) << "a command that only reads created tables in new";
  EXPECT_EQ(sqlite_tables(s.dir.file("old.db")), s.old_tables_before);
}

// Issue 14 item 4: plan runs while old's schema does not fit the config (it is
// how a user finds out what the plan is).
TEST(Issue14, PlanRunsWhileOldDoesNotFit) {
  CliSetup s(kGhosts);
  CliResult plan = s.cli({"plan"});
  EXPECT_EQ(plan.exit_code, 0) << plan.out;
  EXPECT_NE(plan.out.find("new-only"), std::string::npos) << plan.out;
  EXPECT_EQ(s.new_tables(), std::set<std::string>{});
}

// Issue 14 item 4: `tandem init` created the table of a collection old does
// not have. Now it refuses, naming it and the fix, and creates nothing.
TEST(Issue14, InitCreatesNothingForACollectionOldDoesNotHave) {
  CliSetup s(kGhosts);
  CliResult dry = s.cli({"init", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 3) << dry.out;
  CliResult init = s.cli({"init"});
  EXPECT_EQ(init.exit_code, 3) << init.out;
  EXPECT_NE(init.out.find("'ghosts'"), std::string::npos) << init.out;
  EXPECT_NE(init.out.find("new_only = true"), std::string::npos) << init.out;
  for (const std::string& t : s.new_tables()) {
    EXPECT_TRUE(t != "users" && t != "ghosts") << "init created " << t << " although it refused";
  }
}

TEST(Issue14, InitCreatesANewOnlyCollectionAndWhatOldHas) {
  CliSetup s(std::string(kGhosts) + "new_only = true\n");
  CliResult init = s.cli({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.out;
  std::set<std::string> tables = s.new_tables();
  EXPECT_TRUE(tables.count("users") == 1 && tables.count("ghosts") == 1) << init.out;
  EXPECT_EQ(sqlite_tables(s.dir.file("old.db")), s.old_tables_before) << "old was touched";
  // The migration opens (old is not asked for ghosts) and new-only records live in new.
  Config config = value_or_die(Config::load_file(s.config_path));
  EXPECT_TRUE(config.is_new_only("ghosts"));
  auto m = value_or_die(Migration::open(config, operator_options()));
  EXPECT_OK(OperatorTools(*m)
                .store(Side::kNew)
                .upsert("ghosts", Record{Key{Value(int64_t{1})}, {{"seen", Value(std::string("x"))}}}));
}

// Issue 14 item 4: a Migration's open created new's tables; now it names the
// collection and says to run `tandem init`, and creates nothing.
TEST(Issue14, MigrationOpenCreatesNoTableAndSaysRunInit) {
  CliSetup s;
  Config config = value_or_die(Config::load_file(s.config_path));
  auto m = Migration::open(config, operator_options());
  ASSERT_FALSE(m.ok()) << "opened with no users table in new";
  EXPECT_EQ(m.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(m.status().message().find("'users'"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("tandem init"), std::string::npos) << m.status().message();
  EXPECT_EQ(s.new_tables().count("users"), 0u);
  CliResult step = s.cli({"step", "next"});
  EXPECT_NE(step.exit_code, 0);
  EXPECT_NE(step.out.find("tandem init"), std::string::npos) << step.out;
  EXPECT_EQ(s.new_tables().count("users"), 0u) << "`tandem step` created new's table";
}

// Issue 14 item 5: the library wrote to the service's stdout (spdlog's
// default logger) when a step was applied. Now nothing reaches stdout; a
// handler the service sets receives the messages at its level.
TEST(Issue14, TheLibraryNeverWritesToStdoutAndLogsThroughTheHandler) {
  MigrationFixture f({user(1, "a")}, std::chrono::milliseconds(50), /*register_instance=*/true);
  LogLevel before = log_level();
  set_log_level(LogLevel::kInfo);  // even at info, stdout stays quiet without a handler: stderr only
  ::testing::internal::CaptureStdout();
  f.jump_to_step(1);
  f.jump_to_step(2);
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "") << "the library wrote to stdout";

  std::vector<std::string> seen;
  Mutex m;
  set_log_handler([&](LogLevel level, std::string_view message) {
    MutexLock lock(m);
    seen.push_back(fmt::format("{} {}", log_level_name(level), message));
  });
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  f.jump_to_step(1);
  out = ::testing::internal::GetCapturedStdout();
  std::string err = ::testing::internal::GetCapturedStderr();
  set_log_handler(nullptr);
  set_log_level(before);
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "") << "with a handler, nothing goes to stderr either";
  MutexLock lock(m);
  bool applied = false;
  for (const std::string& line : seen) applied |= line.find("info applied step 2") != std::string::npos;
  EXPECT_TRUE(applied) << fmt::format("{}", fmt::join(seen, "\n"));
}

// Issue 14 item 6: a crashed instance stayed listed as gone for ever. Now
// `tandem status` shows it once as gone, then it is removed.
TEST(Issue14, AGoneInstanceIsShownOnceThenExpires) {
  MigrationFixture f({user(1, "a")});
  std::string config_path = f.write_config_file();
  WallTime long_ago = now_micros() - std::chrono::hours(1);
  ASSERT_OK(f.control->heartbeat(
      InstanceHeartbeat{"crashed-host:4242:beef", "crashed-host", 4242, long_ago, long_ago, 1, 0}));
  // Heartbeats are stamped by the control store's clock: age the crashed one.
  age_heartbeat(f.dir.file("control.db"), "crashed-host:4242:beef", std::chrono::hours(1));
  ASSERT_OK(f.control->heartbeat(
      InstanceHeartbeat{"live-host:7:cafe", "live-host", 7, now_micros(), now_micros(), 1, 0}));
  CliResult first = run_cli(f.dir, {"--config", config_path, "status"});
  ASSERT_EQ(first.exit_code, 0) << first.out;
  EXPECT_NE(first.out.find("crashed-host:4242:beef"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("gone"), std::string::npos) << first.out;
  CliResult second = run_cli(f.dir, {"--config", config_path, "status"});
  ASSERT_EQ(second.exit_code, 0) << second.out;
  EXPECT_EQ(second.out.find("crashed-host"), std::string::npos) << "still listed:\n" << second.out;
  EXPECT_NE(second.out.find("live-host:7:cafe"), std::string::npos) << "a live instance was removed";
}

// Issue 14 item 6: `tandem finish` refuses before the last step and before a
// clean verify there; then drops tandem's side table from new, keeps the
// data, and the migration refuses step moves and opens.
TEST(Issue14, FinishRefusesUntilACleanVerifyAtTheLastStepThenDropsSideTables) {
  std::vector<Record> records;
  for (int64_t id = 1; id <= 50; ++id) records.push_back(user(id, fmt::format("user {}", id)));
  MigrationFixture f(records, std::chrono::milliseconds(50), /*register_instance=*/false);
  std::string new_path = f.dir.file("new.db");
  std::set<std::string> old_tables = sqlite_tables(f.dir.file("old.db"));
  auto refused = finish_migration(f.config);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("not at the last step"), std::string::npos)
      << refused.status().message();

  f.jump_to_step(1);
  ASSERT_TRUE(value_or_die(run_backfill(*f.migration, BackfillOptions{})).complete);
  ASSERT_TRUE(value_or_die(run_verify(*f.migration, VerifyOptions{})).clean());
  ASSERT_OK(f.users->remove(Key{Value(int64_t{50})}));  // leaves a tombstone in new
  ASSERT_OK(f.users->remove(Key{Value(int64_t{50})}));
  f.jump_to_step(6);
  refused = finish_migration(f.config);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("before the last step was entered"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(sqlite_tables(new_path).count("tandem_tombstones"), 1u);

  ASSERT_TRUE(value_or_die(run_verify(*f.migration, VerifyOptions{})).clean());
  f.migration.reset();
  auto done = value_or_die(finish_migration(f.config));
  EXPECT_FALSE(done.already_finished);
  EXPECT_EQ(done.record.step_index, 6u);
  EXPECT_EQ(sqlite_tables(new_path), std::set<std::string>{"users"}) << "a side table is left in new";
  EXPECT_EQ(value_or_die(f.new_sqlite->count("users", KeyRange::all())), 49u) << "finish changed the data";
  EXPECT_EQ(sqlite_tables(f.dir.file("old.db")), old_tables) << "finish touched old";

  // Finished: no step move, no open; a second finish is harmless.
  auto current = value_or_die(f.control->current_step());
  auto moved = f.control->change_step(current.version, 5, "back", true, "test", {});
  ASSERT_FALSE(moved.ok());
  EXPECT_NE(moved.status().message().find("finished"), std::string::npos) << moved.status().message();
  auto reopened = Migration::open(f.config, operator_options());
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.status().message().find("finished"), std::string::npos) << reopened.status().message();
  EXPECT_TRUE(value_or_die(finish_migration(f.config)).already_finished);
  std::string config_path = f.write_config_file();
  CliResult step = run_cli(f.dir, {"--config", config_path, "step", "back"});
  EXPECT_EQ(step.exit_code, 3) << step.out;
  EXPECT_NE(step.out.find("finished"), std::string::npos) << step.out;
  CliResult status = run_cli(f.dir, {"--config", config_path, "status"});
  EXPECT_EQ(status.exit_code, 0) << status.out;
  EXPECT_NE(status.out.find("FINISHED"), std::string::npos) << status.out;
}

// Issue 14 item 6: finish refuses while an instance still routes through tandem.
TEST(Issue14, FinishRefusesWhileAnInstanceIsLive) {
  MigrationFixture f({user(1, "a")}, std::chrono::milliseconds(50), /*register_instance=*/true);
  f.jump_to_step(1);
  ASSERT_TRUE(value_or_die(run_backfill(*f.migration, BackfillOptions{})).complete);
  f.jump_to_step(6);
  ASSERT_TRUE(value_or_die(run_verify(*f.migration, VerifyOptions{})).clean());
  auto refused = finish_migration(f.config);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message().find("verify"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("still routes through tandem"), std::string::npos)
      << refused.status().message();
}

}  // namespace
}  // namespace tandem::testing
