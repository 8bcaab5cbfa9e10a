// Step changes: picked up from another process within the refresh interval,
// and refused (with the reason) when a precondition fails.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "tandem/move_problem.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

TEST(StepChange, ChangeByAnotherProcessIsAppliedWithinTheInterval) {
  MigrationFixture f({}, std::chrono::milliseconds(200));
  std::string config = f.write_config_file();
  ASSERT_EQ(f.migration->applied_step().step_index, 0u);
  CliResult r = run_cli(f.dir, {"--config", config, "step", "next", "--reason", "test"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto moved_at = std::chrono::steady_clock::now();
  while (f.migration->applied_step().step_index != 1 &&
         std::chrono::steady_clock::now() - moved_at < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto took = std::chrono::steady_clock::now() - moved_at;
  ASSERT_EQ(f.migration->applied_step().step_index, 1u);
  // One interval plus the time of one refresh; generous for sanitizer builds.
  EXPECT_LT(took, f.config.refresh_interval + std::chrono::milliseconds(800));
  // The instance's heartbeat records the applied step version.
  std::this_thread::sleep_for(f.config.refresh_interval * 2);
  auto instances = value_or_die(f.control->instances());
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].applied_version, value_or_die(f.control->current_step()).version);
  // Writes are routed by the new step: new now receives them.
  ASSERT_OK(f.users->put(user(1, "one")));
  EXPECT_TRUE(value_or_die(f.raw(Side::kNew).get("users", Key{Value(int64_t{1})})).present());
}

// An instance acknowledges a step only when no operation still routes by the
// previous one: a write started at old-only and still running when dual-write
// is applied would otherwise miss new after every instance "applied" it.
TEST(StepChange, AcknowledgedOnlyOnceOperationsOfThePreviousStepHaveReturned) {
  MigrationFixture f({}, std::chrono::milliseconds(50));
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  f.old_faulty->on_write = [&] {
    if (first.exchange(false)) {
      entered.set_value();
      released.wait();
    }
  };
  std::thread writer([&] { EXPECT_OK(f.users->put(user(1, "in flight"))); });
  entered.get_future().wait();
  auto v1 = value_or_die(f.control->current_step()).version;
  ASSERT_OK(f.control->change_step(v1, 1, "test", false, "test", {}));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (f.migration->applied_step().step_index != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(f.migration->applied_step().step_index, 1u);
  std::this_thread::sleep_for(f.config.refresh_interval * 4);
  EXPECT_EQ(value_or_die(f.control->instances())[0].applied_version, v1)
      << "acknowledged with a write in flight";
  EXPECT_FALSE(value_or_die(f.migration->check_move(2)).empty());

  release.set_value();
  writer.join();
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (value_or_die(f.control->instances())[0].applied_version != v1 + 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(value_or_die(f.control->instances())[0].applied_version, v1 + 1);
  EXPECT_TRUE(value_or_die(f.migration->check_move(2)).empty());
  f.old_faulty->on_write = nullptr;
}

TEST(StepChange, RefusedWhileAnInstanceHasNotAppliedTheCurrentStep) {
  MigrationFixture f({}, std::chrono::milliseconds(100), /*register_instance=*/false);
  InstanceHeartbeat lagging{"web-7", "host-b", 4242, now_micros(), now_micros(), 0, 0};
  ASSERT_OK(f.control->heartbeat(lagging));
  auto r = f.migration->change_step(1, "", false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("instance web-7"), std::string::npos) << r.status().message();
  EXPECT_EQ(value_or_die(f.control->current_step()).step_index, 0u);

  // The CLI says the same, with exit code 3.
  std::string config = f.write_config_file();
  CliResult cli = run_cli(f.dir, {"--config", config, "step", "next"});
  EXPECT_EQ(cli.exit_code, 3) << cli.out;
  EXPECT_NE(cli.out.find("web-7"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("what to do"), std::string::npos) << cli.out;

  // An instance whose heartbeat is older than the timeout no longer counts.
  age_heartbeat(f.dir.file("control.db"), "web-7", std::chrono::seconds(60));
  EXPECT_OK(f.migration->change_step(1, "", false));
}

TEST(StepChange, RefusedWhileTheRepairQueueHoldsWritesForTheNextPrimary) {
  MigrationFixture f({}, std::chrono::milliseconds(100), false);
  f.jump_to_step(2);  // shadow-read: WS new
  ASSERT_OK(f.control->enqueue_repair(
      {0, "users", Key{Value(int64_t{3})}.encode(), "3", Side::kNew, "test", {}, 0}));
  auto r = f.migration->change_step(3, "", false);  // read-new makes new the read primary
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("repair queue"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("tandem repair"), std::string::npos) << r.status().message();
  ASSERT_OK(f.migration->drain_repair_queue(10));
  for (const MoveProblem& p : value_or_die(f.migration->check_move(3))) {
    EXPECT_EQ(p.what.find("repair queue"), std::string::npos) << p.what;
  }
}

TEST(StepChange, MovingBackRefusedWhereOldMissesWritesAllowedWhereItHasThem) {
  MigrationFixture f({}, std::chrono::milliseconds(100), false);
  f.jump_to_step(4);  // write-new: old still written (WS)
  EXPECT_OK(f.migration->change_step(3, "rollback test", false));
  f.jump_to_step(5);  // old-read-only: old frozen
  auto r = f.migration->change_step(4, "", false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("old is not written at the current step 6"), std::string::npos)
      << r.status().message();
  // Forcing needs a reason, and is recorded.
  EXPECT_EQ(f.migration->change_step(4, "", true).status().code(), Code::kInvalidArgument);
  EXPECT_OK(f.migration->change_step(4, "accepting the loss in a test", true));
  auto history = value_or_die(f.control->history(1));
  ASSERT_EQ(history.size(), 1u);
  EXPECT_TRUE(history[0].forced);
  EXPECT_EQ(history[0].from_index, 5u);
  EXPECT_EQ(history[0].to_index, 4u);
  EXPECT_NE(history[0].reason.find("accepting the loss"), std::string::npos);
}

TEST(StepChange, ForwardOneStepAtATime) {
  MigrationFixture f({}, std::chrono::milliseconds(100), false);
  auto r = f.migration->change_step(2, "", false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("one step at a time"), std::string::npos) << r.status().message();
}

TEST(Cli, PlanStatusAndHelpWork) {
  MigrationFixture f({}, std::chrono::milliseconds(100), false);
  std::string config = f.write_config_file();
  CliResult plan = run_cli(f.dir, {"--config", config, "plan"});
  EXPECT_EQ(plan.exit_code, 0) << plan.out;
  EXPECT_NE(plan.out.find("shadow-read"), std::string::npos) << plan.out;
  CliResult status = run_cli(f.dir, {"--config", config, "status", "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.out;
  EXPECT_NE(status.out.find("\"number\": 1"), std::string::npos) << status.out;
  CliResult help = run_cli(f.dir, {"step", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Exit codes"), std::string::npos) << help.out;
  CliResult bad = run_cli(f.dir, {"--config", f.dir.file("missing.toml"), "status"});
  EXPECT_EQ(bad.exit_code, 4) << bad.out;
  EXPECT_NE(bad.out.find("missing.toml"), std::string::npos) << bad.out;
}

// `tandem status` lists each backfill worker with its host, range and rate
// (rows read since it claimed the range, by the control store's clock).
TEST(Cli, StatusShowsEachBackfillWorkersRate) {
  MigrationFixture f({}, std::chrono::milliseconds(100), false);
  std::string config = f.write_config_file();
  ASSERT_OK(f.control->plan_backfill("users", {{std::nullopt, "m"}, {"m", std::nullopt}}, 200000));
  // Claims aged by 1000 s: the rate is 40 rows/s, and the seconds the test
  // itself takes (a slow, sanitized machine) change it by under 1 %.
  constexpr auto kAge = std::chrono::seconds(1000);
  auto a =
      value_or_die(f.control->claim_backfill_range("users", "host-a:11:0", std::chrono::minutes(5), nullptr));
  ASSERT_TRUE(a.has_value());
  ASSERT_OK(f.control->checkpoint_backfill("users", a->id, "host-a:11:0", "k1", {40000, 40000, 0, 0, 0, 0},
                                           false, std::chrono::minutes(5)));
  age_backfill_claim(f.dir.file("control.db"), "users", a->id, kAge);
  // A second worker takes over the other range after 60000 rows were read in it.
  auto b =
      value_or_die(f.control->claim_backfill_range("users", "host-b:12:0", std::chrono::minutes(5), nullptr));
  ASSERT_TRUE(b.has_value());
  ASSERT_OK(f.control->checkpoint_backfill("users", b->id, "host-b:12:0", "n1", {60000, 60000, 0, 0, 0, 0},
                                           false, std::chrono::minutes(5)));
  ASSERT_OK(f.control->release_backfill_range("users", b->id, "host-b:12:0"));
  auto c =
      value_or_die(f.control->claim_backfill_range("users", "host-c:13:0", std::chrono::minutes(5), nullptr));
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->id, b->id);
  ASSERT_OK(f.control->checkpoint_backfill("users", c->id, "host-c:13:0", "n2", {40000, 40000, 0, 0, 0, 0},
                                           false, std::chrono::minutes(5)));
  age_backfill_claim(f.dir.file("control.db"), "users", c->id, kAge);
  auto started = std::chrono::steady_clock::now();

  CliResult status = run_cli(f.dir, {"--config", config, "status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.out;
  auto json = nlohmann::json::parse(status.out);
  const auto& workers = json["collections"]["users"]["backfill"]["workers"];
  ASSERT_EQ(workers.size(), 2u) << status.out;
  // 40000 rows in 1000 s plus the time since the ageing (bounded from above
  // by the time until now plus a margin for the steps before `started`).
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() + 5;
  for (const auto& w : workers) {
    double rate = w["rows_per_second"].get<double>();
    if (w["worker"] == "host-a:11:0") {
      EXPECT_EQ(w["host"], "host-a");
    } else {
      EXPECT_EQ(w["worker"], "host-c:13:0");
      EXPECT_EQ(w["scanned"], 100000);  // its own 40000 rows, at its own rate
    }
    EXPECT_LE(rate, 40.0 + 1e-6) << w.dump();
    EXPECT_GE(rate, 40000.0 / (1000.0 + took)) << w.dump();
  }
  CliResult text = run_cli(f.dir, {"--config", config, "status"});
  ASSERT_EQ(text.exit_code, 0) << text.out;
  EXPECT_NE(
      text.out.find("backfill worker host-c:13:0 (host host-c): range 1, 100000 rows read in it, 40 rows/s"),
      std::string::npos)
      << text.out;
}

}  // namespace
}  // namespace tandem::testing
