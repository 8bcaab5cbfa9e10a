// The backfill: preconditions, completeness with balanced counts, quarantine
// of malformed source rows, a live workload during the copy, and
// kill-and-resume of a separate `tandem backfill` process.
#include <signal.h>
#include <sys/resource.h>

#include <random>
#include <thread>

#include "core/sync_point.h"
#include "stores/sqlite/sqlite_connection.h"
#include "tandem/backfill.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

std::vector<Record> users(int64_t first, int64_t last) {
  std::vector<Record> out;
  for (int64_t id = first; id <= last; ++id) out.push_back(user(id, fmt::format("user {}", id)));
  return out;
}

BackfillOptions small_batches(size_t workers) {
  BackfillOptions o;
  o.workers = workers;
  o.initial_batch = 50;
  o.min_batch = 10;
  o.max_batch = 200;
  return o;
}

// Exactly one range is held, and its lease has not lapsed (the control
// store's clock): `whose` names the worker in the failure message.
void expect_one_range_held_under_lease(MigrationFixture& f, const std::string& whose) {
  int held = 0;
  WallTime now = value_or_die(f.control->clock_now());
  for (const BackfillRange& r : value_or_die(f.control->backfill_ranges("users"))) {
    if (r.done || r.lease_owner.empty()) continue;
    ++held;
    EXPECT_GT(r.lease_until, now) << "range " << r.id << " of " << whose << " lost its lease";
  }
  EXPECT_EQ(held, 1);
}

TEST(Backfill, RefusedWhereNewIsNotWrittenUnlessOldIsFrozen) {
  MigrationFixture f(users(1, 5));
  auto refused = run_backfill(*f.migration, small_batches(1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("new does not receive every write"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("--old-is-frozen"), std::string::npos);
  BackfillOptions frozen = small_batches(1);
  frozen.old_is_frozen = true;
  EXPECT_TRUE(value_or_die(run_backfill(*f.migration, frozen)).complete);
  EXPECT_EQ(value_or_die(f.raw(Side::kNew).count("users", KeyRange::all())), 5u);
}

TEST(Backfill, RefusedWhileAnInstanceStillRoutesByOldOnly) {
  MigrationFixture f(users(1, 5), std::chrono::milliseconds(100), /*register_instance=*/false);
  f.jump_to_step(1);
  ASSERT_OK(f.control->heartbeat({"api-3", "h", 1, now_micros(), now_micros(), 1, 0}));
  auto refused = run_backfill(*f.migration, small_batches(1));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("instance api-3"), std::string::npos)
      << refused.status().message();
}

TEST(Backfill, CopiesEverythingInParallelAndResumesAfterAStop) {
  auto records = users(-500, 1499);  // negative and zero keys too
  MigrationFixture f(records);
  f.jump_to_step(1);
  std::atomic<bool> stop{false};
  std::atomic<int> checkpoints{0};
  SyncPoints::set("backfill.after_checkpoint", [&] {
    if (++checkpoints == 5) stop = true;
  });
  BackfillOptions o = small_batches(3);
  o.stop = &stop;
  auto first = value_or_die(run_backfill(*f.migration, o));
  SyncPoints::clear_all();
  EXPECT_TRUE(first.stopped);
  EXPECT_FALSE(first.complete);
  EXPECT_LT(first.collections[0].this_run.scanned, 2000);

  stop = false;
  auto second = value_or_die(run_backfill(*f.migration, o));
  ASSERT_TRUE(second.complete);
  const BackfillState& state = second.collections[0].state;
  EXPECT_EQ(state.total_estimate, 2000);
  // Resumed from the checkpoints: every record read and copied exactly once.
  EXPECT_EQ(state.counts.scanned, 2000);
  EXPECT_EQ(state.counts.copied, 2000);
  EXPECT_EQ(state.counts.scanned, state.counts.copied + state.counts.present + state.counts.locked +
                                      state.counts.tombstoned + state.counts.quarantined);
  EXPECT_EQ(value_or_die(f.raw(Side::kNew).digest("users", KeyRange::all())),
            value_or_die(f.raw(Side::kOld).digest("users", KeyRange::all())));
}

// Old opened as an account that can only read it: the backfill and verify
// (and repair, which writes only new) work all the same.
TEST(Backfill, AndVerifyWorkWithReadOnlyAccessToOld) {
  MigrationFixture f(users(1, 300));
  f.jump_to_step(1);
  ASSERT_OK(f.users->remove(Key{Value(int64_t{7})}));  // the service's own write, before old goes read-only
  f.migration.reset();
  f.old_sqlite =
      value_or_die(open_store("old", f.dir.file("old.db"),
                              StoreOptions{.keep_tombstones = false, .configure = false, .read_only = true}));
  ASSERT_OK(f.old_sqlite->ensure_collection(users_schema(), false));
  f.old_counting = std::make_unique<CountingStore>(f.old_sqlite.get());
  f.old_faulty = std::make_unique<FaultyStore>(f.old_counting.get());
  f.reopen_migration();
  f.jump_to_step(1);
  // The option bites: a write to old is refused.
  Status refused = f.raw(Side::kOld).upsert("users", user(1, "x"));
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition) << refused.to_string();
  EXPECT_NE(refused.message().find("read-only"), std::string::npos) << refused.message();

  auto summary = value_or_die(run_backfill(*f.migration, small_batches(2)));
  EXPECT_TRUE(summary.complete);
  EXPECT_EQ(summary.collections[0].state.counts.copied,
            299);  // 300 less the one the service deleted
  ASSERT_OK(f.raw(Side::kNew).patch("users", Key{Value(int64_t{3})}, {{"name", Value("drift")}}));
  VerifyOptions repair;
  repair.repair = true;
  EXPECT_TRUE(value_or_die(run_verify(*f.migration, repair)).clean());
  EXPECT_EQ(f.old_counting->writes, 0) << "the backfill, verify and repair wrote to old";
}

TEST(Backfill, PausedWorkersKeepTheirPositionAndGoOnWhenResumed) {
  MigrationFixture f(users(1, 500));
  f.jump_to_step(1);
  BackfillOptions o = small_batches(2);
  // Plan the ranges, then pause before any worker starts.
  std::atomic<bool> stop{true};
  o.stop = &stop;
  ASSERT_OK(run_backfill(*f.migration, o));
  ASSERT_OK(f.control->set_backfill_paused("users", true));
  stop = false;
  std::thread runner([&] { EXPECT_TRUE(value_or_die(run_backfill(*f.migration, o)).complete); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(value_or_die(f.control->backfill_state("users")).counts.scanned, 0) << "copied while paused";
  ASSERT_OK(f.control->set_backfill_paused("users", false));
  runner.join();
  EXPECT_EQ(value_or_die(f.control->backfill_state("users")).counts.copied, 500);
}

// Found by review: a paused worker did not renew its range's lease, so a
// pause longer than the lease let any worker take the range over.
TEST(Backfill, APausedWorkerKeepsItsRangesLease) {
  MigrationFixture f(users(1, 500));
  f.jump_to_step(1);
  BackfillOptions o = small_batches(1);
  o.lease = std::chrono::milliseconds(300);
  std::atomic<bool> paused{false};
  SyncPoints::set("backfill.after_checkpoint", [&] {
    if (!paused.exchange(true)) EXPECT_OK(f.control->set_backfill_paused("users", true));
  });
  Result<BackfillSummary> summary = Status::Internal("not run");
  std::thread runner([&] { summary = run_backfill(*f.migration, o); });
  for (int i = 0; i < 500 && !paused; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // 5 leases
  expect_one_range_held_under_lease(f, "a paused worker");
  ASSERT_OK(f.control->set_backfill_paused("users", false));
  runner.join();
  SyncPoints::clear_all();
  ASSERT_OK(summary);
  EXPECT_TRUE(summary->complete);
  EXPECT_EQ(summary->collections[0].state.counts.scanned, 500);
  EXPECT_EQ(summary->collections[0].state.counts.copied, 500);
}

// A worker retrying a write that new fails (new down for longer than the
// lease) renews its range's lease meanwhile: the range stays with it rather
// than passing to a worker that would fail the same way, and the copy goes
// on from where it was once new answers again.
TEST(Backfill, AWorkerRetryingAFailingWriteKeepsItsRangesLease) {
  MigrationFixture f(users(1, 500));
  f.jump_to_step(1);
  BackfillOptions o = small_batches(1);
  o.lease = std::chrono::milliseconds(300);
  std::atomic<bool> failing{false};
  SyncPoints::set("backfill.after_checkpoint", [&] {
    if (!failing.exchange(true)) f.new_faulty->fail_writes = true;
  });
  Result<BackfillSummary> summary = Status::Internal("not run");
  std::thread runner([&] { summary = run_backfill(*f.migration, o); });
  for (int i = 0; i < 500 && !failing; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // 5 leases
  EXPECT_GT(f.new_faulty->injected, 1);                          // still retrying
  expect_one_range_held_under_lease(f, "a retrying worker");
  f.new_faulty->fail_writes = false;
  runner.join();
  SyncPoints::clear_all();
  ASSERT_OK(summary);
  EXPECT_TRUE(summary->complete);
  EXPECT_EQ(summary->collections[0].takeovers, 0);
  EXPECT_EQ(summary->collections[0].state.counts.scanned, 500);
  EXPECT_EQ(summary->collections[0].state.counts.copied, 500);
  EXPECT_EQ(value_or_die(f.raw(Side::kNew).digest("users", KeyRange::all())),
            value_or_die(f.raw(Side::kOld).digest("users", KeyRange::all())));
}

// Found by review: a worker whose range passed to another worker (it stalled
// past its lease) stopped the whole run with an error. It now leaves that
// range to its new owner and copies the others; the counts still balance.
TEST(Backfill, AWorkerWhoseRangePassedToAnotherGoesOnWithTheOthers) {
  MigrationFixture f(users(1, 500));
  f.jump_to_step(1);
  BackfillOptions o = small_batches(1);
  o.lease = std::chrono::milliseconds(200);
  std::atomic<bool> stolen{false};
  SyncPoints::set("backfill.after_insert", [&] {
    if (stolen.exchange(true)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // past the lease
    auto thief = f.control->claim_backfill_range("users", "thief:1:0", std::chrono::seconds(60), nullptr);
    ASSERT_OK(thief);
    ASSERT_TRUE(thief->has_value());
    EXPECT_EQ((*thief)->id, 0);
  });
  auto first = run_backfill(*f.migration, o);
  SyncPoints::clear_all();
  ASSERT_OK(first);
  EXPECT_FALSE(first->complete);  // range 0 is the thief's
  EXPECT_EQ(first->collections[0].state.ranges_done, first->collections[0].state.ranges - 1);
  ASSERT_OK(f.control->release_backfill_range("users", 0, "thief:1:0"));
  auto second = value_or_die(run_backfill(*f.migration, o));
  ASSERT_TRUE(second.complete);
  const BackfillCounts& c = second.collections[0].state.counts;
  EXPECT_EQ(c.scanned, 500);
  EXPECT_EQ(c.copied + c.present, 500);
  EXPECT_GT(c.present, 0);  // the batch copied before the lease passed, found present
  EXPECT_EQ(value_or_die(f.raw(Side::kNew).digest("users", KeyRange::all())),
            value_or_die(f.raw(Side::kOld).digest("users", KeyRange::all())));
}

// Regression: each record lock of a batch used to hold its own file
// descriptor, so a batch larger than the descriptor limit (1024 is common)
// made the backfill retry forever. A batch now locks on one descriptor.
TEST(Backfill, BatchesLargerThanTheFileDescriptorLimit) {
  MigrationFixture f(users(1, 12000));
  f.jump_to_step(1);
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  rlimit low = before;
  low.rlim_cur = 128;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  BackfillOptions o = small_batches(2);
  o.initial_batch = o.min_batch = o.max_batch = 5000;
  auto summary = run_backfill(*f.migration, o);
  setrlimit(RLIMIT_NOFILE, &before);
  ASSERT_OK(summary);
  EXPECT_TRUE(summary->complete);
  EXPECT_EQ(summary->collections[0].state.counts.copied, 12000);
}

// Malformed rows in old (as a service's own table may hold them) are
// quarantined with the field and reason; everything else is copied.
TEST(Backfill, MalformedSourceRecordsAreQuarantinedAndCountsBalance) {
  auto make_old = [](const std::string& path) {
    auto conn = value_or_die(sqlite::Connection::open(path, true, false));
    ASSERT_OK(conn->exec(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, age INTEGER, balance TEXT);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
        "INSERT INTO users SELECT i, 'u' || i || '@example.com', 'user ' || i, 30, '10.5' FROM n;"
        "INSERT INTO users VALUES (101, 'a@x', 'wrong type', 'abc', '1');"
        "INSERT INTO users VALUES (102, 'b@x', CAST(x'ff41' AS TEXT), 1, '1');"
        "INSERT INTO users VALUES (103, NULL, 'no email', 1, '1');"
        "INSERT INTO users VALUES (104, 'd@x', 'bad decimal', 1, '12,5');"));
  };
  MigrationFixture f({}, std::chrono::milliseconds(100), true, make_old);
  f.jump_to_step(1);
  auto summary = value_or_die(run_backfill(*f.migration, small_batches(2)));
  ASSERT_TRUE(summary.complete);
  const BackfillCounts& c = summary.collections[0].state.counts;
  EXPECT_EQ(summary.collections[0].state.total_estimate, 104);
  EXPECT_EQ(c.scanned, 104);
  EXPECT_EQ(c.copied, 100);
  EXPECT_EQ(c.quarantined, 4);
  EXPECT_EQ(c.scanned, c.copied + c.present + c.locked + c.tombstoned + c.quarantined);
  auto q = value_or_die(f.control->quarantine(10));
  ASSERT_EQ(q.size(), 4u);
  std::map<std::string, QuarantineEntry> by_key;
  for (auto& e : q) by_key[e.key_display] = e;
  EXPECT_EQ(by_key["101"].field, "age");
  EXPECT_EQ(by_key["102"].field, "name");
  EXPECT_NE(by_key["102"].reason.find("UTF-8"), std::string::npos) << by_key["102"].reason;
  EXPECT_EQ(by_key["103"].field, "email");
  EXPECT_NE(by_key["103"].reason.find("NULL"), std::string::npos) << by_key["103"].reason;
  EXPECT_EQ(by_key["104"].field, "balance");
  EXPECT_NE(by_key["101"].raw.find("age='abc'"), std::string::npos) << by_key["101"].raw;
  EXPECT_EQ(value_or_die(f.raw(Side::kNew).count("users", KeyRange::all())), 100u);
  // Verify compares what decodes: clean, and it says how many rows it could not read.
  auto report = value_or_die(run_verify(*f.migration, VerifyOptions{}));
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.collections[0].records, 100);
  EXPECT_EQ(report.collections[0].undecodable, 4);

  // The CLI lists them.
  std::string config = f.write_config_file();
  CliResult list = run_cli(f.dir, {"--config", config, "quarantine", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.out;
  EXPECT_NE(list.out.find("4 quarantined"), std::string::npos) << list.out;
  CliResult show = run_cli(f.dir, {"--config", config, "quarantine", "show", "104"});
  EXPECT_NE(show.out.find("balance"), std::string::npos) << show.out;
}

// The service keeps writing through the router during the copy; afterwards
// new equals old record for record.
TEST(Backfill, WithALiveWorkloadNewEndsEqualToOld) {
  MigrationFixture f(users(1, 3000));
  f.jump_to_step(1);
  std::atomic<bool> done{false};
  std::vector<std::thread> service;
  for (int t = 0; t < 3; ++t) {
    service.emplace_back([&, t] {
      std::mt19937_64 rng(77 + static_cast<uint64_t>(t));
      while (!done) {
        int64_t id = 1 + static_cast<int64_t>(rng() % 3300);
        Key key{Value(id)};
        switch (rng() % 4) {
          case 0:
            EXPECT_OK(f.users->put(user(id, fmt::format("live {}", rng() % 100))));
            break;
          case 1: {
            Status s = f.users->patch(key, {{"age", Value(static_cast<int64_t>(rng() % 90))}});
            EXPECT_TRUE(s.ok() || s.code() == Code::kNotFound) << s.to_string();
            break;
          }
          case 2:
            EXPECT_OK(f.users->remove(key));
            break;
          default:
            EXPECT_OK(f.users->get(key));
            break;
        }
      }
    });
  }
  auto summary = value_or_die(run_backfill(*f.migration, small_batches(3)));
  done = true;
  for (auto& t : service) t.join();
  ASSERT_TRUE(summary.complete);
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kNew], 0);
  auto report = value_or_die(run_verify(*f.migration, VerifyOptions{}));
  ASSERT_EQ(report.collections.size(), 1u);
  EXPECT_TRUE(report.clean()) << "missing " << report.collections[0].missing << " extra "
                              << report.collections[0].extra << " different "
                              << report.collections[0].different << " resurrected "
                              << report.collections[0].resurrected;
  EXPECT_EQ(value_or_die(f.raw(Side::kNew).digest("users", KeyRange::all())),
            value_or_die(f.raw(Side::kOld).digest("users", KeyRange::all())));
}

// `tandem backfill` killed with SIGKILL at random moments, then resumed:
// the result equals a clean run, and each kill costs at most one re-read
// batch per worker (re-read records are found present, never copied twice).
TEST(Backfill, KilledAtRandomMomentsAndResumedEqualsACleanRun) {
  constexpr int64_t kRecords = 20000;
  constexpr int kWorkers = 2;
  constexpr int kBatch = 200;
  MigrationFixture f(users(1, kRecords), std::chrono::milliseconds(100), /*register_instance=*/false);
  f.jump_to_step(1);
  std::string config = f.write_config_file();
  std::vector<std::string> args = {"--config",
                                   config,
                                   "--log-level",
                                   "warn",
                                   "backfill",
                                   "--workers",
                                   std::to_string(kWorkers),
                                   "--batch",
                                   std::to_string(kBatch),
                                   "--min-batch",
                                   std::to_string(kBatch),
                                   "--max-batch",
                                   std::to_string(kBatch),
                                   "--max-rows-per-second",
                                   "10000"};
  std::mt19937 rng(2026);
  int kills = 0;
  for (int i = 0; i < 3; ++i) {
    pid_t pid = spawn_cli(f.dir, args, fmt::format("backfill-{}", i));
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 250));
    ::kill(pid, SIGKILL);
    if (wait_cli(pid) == -SIGKILL) ++kills;
  }
  EXPECT_GT(kills, 0);
  auto before = value_or_die(f.control->backfill_state("users"));
  EXPECT_LT(before.counts.scanned, kRecords) << "the kills came too late to test anything";
  pid_t last = spawn_cli(f.dir, args, "backfill-final");
  ASSERT_EQ(wait_cli(last), 0);
  auto state = value_or_die(f.control->backfill_state("users"));
  EXPECT_TRUE(state.complete);
  // Every record read once in the checkpointed counts: inserted by the run
  // that checkpointed it, or inserted by a killed run before its checkpoint
  // and then found present by the re-read (insert-if-absent never copies twice).
  EXPECT_EQ(state.counts.scanned, kRecords);
  EXPECT_EQ(state.counts.copied + state.counts.present, kRecords);
  // The re-reads: at most one batch per worker per kill.
  EXPECT_LE(state.counts.present, int64_t{kills} * kWorkers * kBatch);
  EXPECT_EQ(value_or_die(f.raw(Side::kNew).digest("users", KeyRange::all())),
            value_or_die(f.raw(Side::kOld).digest("users", KeyRange::all())));
}

}  // namespace
}  // namespace tandem::testing
