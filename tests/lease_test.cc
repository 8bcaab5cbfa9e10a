// Instances fenced by leases (migration.h, "The lease"): an instance stalled
// across step moves (a GC pause, a VM stall, SIGSTOP) must not write by the
// step it read before the stall, and one that cannot reach the control store
// stops routing within its lease and resumes by itself; with fence =
// "operator" it keeps routing and moves wait for an operator.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/sync_point.h"
#include "tandem/move_problem.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

using std::chrono::milliseconds;

thread_local bool t_stall_this_thread = false;

// Stalls every refresh that a thread other than the test's own starts (the
// instance's refresh thread), as a paused process would, until resumed.
class RefreshStall {
 public:
  explicit RefreshStall(const char* at = "refresh.start") : main_(std::this_thread::get_id()) {
    SyncPoints::set(at, [this] {
      if (std::this_thread::get_id() == main_) return;
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return !stalled_; });
    });
  }
  ~RefreshStall() {
    resume();
    SyncPoints::clear_all();
  }
  void stall() {
    std::lock_guard lock(mutex_);
    stalled_ = true;
  }
  void resume() {
    std::lock_guard lock(mutex_);
    stalled_ = false;
    cv_.notify_all();
  }

 private:
  std::thread::id main_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stalled_ = false;
};

constexpr milliseconds kLease{600};

// A second instance on the fixture's databases and control store, with a
// short lease.
std::unique_ptr<Migration> open_instance(MigrationFixture& f, const Config& config) {
  MigrationOptions options;
  options.instance_label = "stalled-instance";
  return value_or_die(
      Migration::open_with(config, f.old_faulty.get(), f.new_faulty.get(), f.control.get(), options));
}

Config short_lease(const Config& base) {
  Config c = base;
  c.instance_timeout = kLease;
  c.refresh_interval = milliseconds(50);
  return c;
}

// Waits until the control store's clock says the instance's heartbeat is
// older than its lease: a mover now counts it as gone.
void wait_until_gone(ControlStore& control, const std::string& id) {
  for (int i = 0; i < 500; ++i) {
    auto now = value_or_die(control.clock_now());
    bool gone = true;
    for (const InstanceHeartbeat& h : value_or_die(control.instances())) {
      if (h.instance_id == id && instance_is_live(h, now, kLease)) gone = false;
    }
    if (gone) return;
    std::this_thread::sleep_for(milliseconds(20));
  }
  FAIL() << "instance " << id << " never went silent";
}

std::optional<Record> stored(MigrationFixture& f, Side side, int64_t id) {
  Lookup l = value_or_die(f.raw(side).get("users", Key{Value(id)}));
  if (!l.present()) return std::nullopt;
  return l.record;
}

// Step 4 (read-new: old is the write primary, new the write secondary), the
// stalled instance's write held, the operator moves 4 -> 5 -> 6 once its lease
// has expired, and a live instance writes the record in new, now the write
// primary; then the stalled write is released.
struct StalledAcrossTwoMoves {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  RefreshStall refresh;
  Gate gate;
  std::unique_ptr<Migration> stalled;
  Status outcome;
  std::thread writer;

  // renew_first: the instance's refresh thread wakes first and renews its
  // lease on step 6 before the held operation goes on.
  explicit StalledAcrossTwoMoves(const char* hold_at, bool renew_first = false) {
    f.jump_to_step(3);
    stalled = open_instance(f, short_lease(f.config));
    Collection* users = value_or_die(stalled->collection("users"));
    EXPECT_OK(users->put(user(1, "v0")));
    SyncPoints::set(hold_at, [this] {
      if (t_stall_this_thread) gate.wait_here();
    });
    writer = std::thread([this, users] {
      t_stall_this_thread = true;
      outcome = users->put(user(1, "stale"));
    });
    gate.wait_reached();  // it read step 4 and is held
    refresh.stall();      // the whole process is paused
    wait_until_gone(*f.control, "stalled-instance");
    // The mover counts it as gone: no problem names it.
    for (const MoveProblem& p : value_or_die(f.migration->check_move(4))) {
      EXPECT_EQ(p.what.find("stalled-instance"), std::string::npos) << p.what;
    }
    EXPECT_OK(f.migration->change_step(4, "test: write-new", /*force=*/true));
    EXPECT_OK(f.migration->change_step(5, "test: old-read-only", /*force=*/true));
    EXPECT_OK(f.migration->refresh());
    EXPECT_OK(f.users->put(user(1, "fresh")));  // acknowledged, in new (the write primary)
    if (renew_first) {
      refresh.resume();
      // Renewed: a new operation of the instance routes again (by step 6).
      Collection* reader = value_or_die(stalled->collection("users"));
      bool renewed = false;
      for (int i = 0; i < 500 && !renewed; ++i) {
        renewed = reader->get(Key{Value(int64_t{1})}).ok();
        if (!renewed) std::this_thread::sleep_for(milliseconds(10));
      }
      EXPECT_TRUE(renewed);
      EXPECT_EQ(stalled->applied_step().step_index, 5u);
    }
    gate.release();
    writer.join();
  }
  ~StalledAcrossTwoMoves() {
    refresh.resume();
    stalled.reset();
  }

  // Once it can reach the control store again, it routes by step 6 by itself.
  void expect_recovery() {
    refresh.resume();
    Collection* users = value_or_die(stalled->collection("users"));
    Status s;
    for (int i = 0; i < 200; ++i) {
      s = users->put(user(2, "after"));
      if (s.ok()) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    ASSERT_OK(s);
    EXPECT_EQ(stalled->applied_step().step_index, 5u);
    EXPECT_EQ(stored(f, Side::kNew, 2), user(2, "after"));
    EXPECT_FALSE(stored(f, Side::kOld, 2).has_value());  // old is frozen at step 6
  }
};

TEST(Lease, AWriteHeldAfterReadingItsStepIsRefusedOnceItsLeaseLapsed) {
  StalledAcrossTwoMoves run("write.before_primary");
  // Before the lease, it would have written old (the write primary of step
  // 4) and then copied old's record over new's acknowledged one.
  ASSERT_FALSE(run.outcome.ok());
  EXPECT_EQ(run.outcome.code(), Code::kUnavailable) << run.outcome.to_string();
  EXPECT_NE(run.outcome.message().find("cannot confirm the migration's step since"), std::string::npos)
      << run.outcome.to_string();
  EXPECT_NE(run.outcome.message().find("not routing"), std::string::npos) << run.outcome.to_string();
  EXPECT_EQ(stored(run.f, Side::kNew, 1), user(1, "fresh"));  // the acknowledged write stays
  EXPECT_EQ(stored(run.f, Side::kOld, 1), user(1, "v0"));     // nothing reached old either
  run.expect_recovery();
}

TEST(Lease, AWriteStalledAfterTheWritePrimaryIsOfUnknownOutcomeAndNotCopied) {
  StalledAcrossTwoMoves run("write.before_sync");
  // It wrote old (step 4's write primary) before the stall: old cannot be
  // fenced (no table of tandem's in old), but its copy into new, by a step
  // that moved twice since, is not made, and the call does not say success.
  ASSERT_FALSE(run.outcome.ok());
  EXPECT_EQ(run.outcome.code(), Code::kUnavailable) << run.outcome.to_string();
  EXPECT_TRUE(run.outcome.is_outcome_unknown()) << run.outcome.to_string();
  EXPECT_NE(run.outcome.message().find("lease lapsed"), std::string::npos) << run.outcome.to_string();
  EXPECT_EQ(stored(run.f, Side::kNew, 1), user(1, "fresh"));
  // The queued repair copies from the current write primary (new): it leaves
  // new's record as it is.
  ASSERT_OK(run.f.migration->drain_repair_queue(100));
  EXPECT_EQ(stored(run.f, Side::kNew, 1), user(1, "fresh"));
  EXPECT_EQ(value_or_die(run.f.control->repair_counts())[Side::kNew], 0);
  run.expect_recovery();
}

// Found by the model (model/protocol.pml, BROKEN_LEASE_AGE_ONLY): the lease is
// valid again once the instance's refresh renewed it on step 6, but the held
// operation entered at step 4; it must not go on by step 4.
TEST(Lease, AnOperationThatEnteredBeforeALapseIsRefusedEvenOnceTheLeaseIsRenewed) {
  StalledAcrossTwoMoves before_primary("write.before_primary", /*renew_first=*/true);
  ASSERT_FALSE(before_primary.outcome.ok());
  EXPECT_EQ(before_primary.outcome.code(), Code::kUnavailable) << before_primary.outcome.to_string();
  EXPECT_NE(before_primary.outcome.message().find("lapsed while the operation was in flight"),
            std::string::npos)
      << before_primary.outcome.to_string();
  EXPECT_EQ(stored(before_primary.f, Side::kNew, 1), user(1, "fresh"));
  EXPECT_EQ(stored(before_primary.f, Side::kOld, 1), user(1, "v0"));
  before_primary.expect_recovery();
}

TEST(Lease, ACopyThatEnteredBeforeALapseIsNotMadeEvenOnceTheLeaseIsRenewed) {
  StalledAcrossTwoMoves before_sync("write.before_sync", /*renew_first=*/true);
  ASSERT_FALSE(before_sync.outcome.ok());
  EXPECT_TRUE(before_sync.outcome.is_outcome_unknown()) << before_sync.outcome.to_string();
  EXPECT_EQ(stored(before_sync.f, Side::kNew, 1), user(1, "fresh"));
  before_sync.expect_recovery();
}

// Found by CI: a routed copy's wait for new's record lock was capped at 1/10
// of the lease, so that no copy checked before a long wait could land after a
// lapse; under load (6 writers on 5 keys, ASan, 2 cores) copies timed out and
// queued repairs. The wait is lock_timeout again, and the copy checks the
// lease once it holds the lock: here it waits across a lapse and two moves.
TEST(Lease, ACopyThatWaitedForTheRecordLockAcrossALapseIsNotMade) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  RefreshStall refresh;
  f.jump_to_step(3);
  Config config = short_lease(f.config);
  config.lock_timeout = milliseconds(60000);
  std::unique_ptr<Migration> stalled = open_instance(f, config);
  Collection* users = value_or_die(stalled->collection("users"));
  ASSERT_OK(users->put(user(1, "v0")));
  const Key key{Value(int64_t{1})};
  RecordLock held = value_or_die(f.raw(Side::kNew).lock("users", key, milliseconds(5000)));
  Status outcome;
  std::thread writer([&] { outcome = users->put(user(1, "stale")); });
  // It wrote old (step 4's write primary) and waits for new's record lock.
  for (int i = 0; i < 500 && stored(f, Side::kOld, 1) != user(1, "stale"); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(stored(f, Side::kOld, 1), user(1, "stale"));
  refresh.stall();
  wait_until_gone(*f.control, "stalled-instance");
  EXPECT_OK(f.migration->change_step(4, "test: write-new", /*force=*/true));
  EXPECT_OK(f.migration->change_step(5, "test: old-read-only", /*force=*/true));
  EXPECT_OK(f.migration->refresh());
  EXPECT_OK(f.users->put(user(1, "fresh")));  // acknowledged, in new (the write primary)
  held.release();
  writer.join();
  ASSERT_FALSE(outcome.ok());
  EXPECT_TRUE(outcome.is_outcome_unknown()) << outcome.to_string();
  EXPECT_NE(outcome.message().find("lease lapsed"), std::string::npos) << outcome.to_string();
  EXPECT_EQ(stored(f, Side::kNew, 1), user(1, "fresh"));
  refresh.resume();
  stalled.reset();
}

// Found by review: a refresh that read the step and then stalled (before, its
// heartbeat came after the read) renewed the lease on a step two moves old.
// The heartbeat now comes first, and a refresh that outlasts the lease renews
// nothing: the instance routes by step 6, and old (frozen) receives nothing.
TEST(Lease, ARefreshStalledAfterReadingTheStepDoesNotRenewTheLeaseOnIt) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  f.jump_to_step(3);
  const auto main_thread = std::this_thread::get_id();
  std::atomic<int> phase{0};
  Gate gate;
  // Refreshes fail for 2/3 of a lease (the refresh starts late), then one
  // reads the step and stalls before it completes.
  SyncPoints::set("refresh.start", [&] {
    int one = 1;
    if (std::this_thread::get_id() != main_thread && phase.compare_exchange_strong(one, 2)) {
      std::this_thread::sleep_for(kLease * 2 / 3);
    }
  });
  SyncPoints::set("refresh.after_step_read", [&] {
    int two = 2;
    if (std::this_thread::get_id() != main_thread && phase.compare_exchange_strong(two, 3)) gate.wait_here();
  });
  auto instance = open_instance(f, short_lease(f.config));
  Collection* users = value_or_die(instance->collection("users"));
  ASSERT_OK(users->put(user(1, "v0")));
  phase = 1;
  gate.wait_reached();  // that refresh read step 4
  wait_until_gone(*f.control, "stalled-instance");
  ASSERT_OK(f.migration->change_step(4, "test", /*force=*/true));
  ASSERT_OK(f.migration->change_step(5, "test", /*force=*/true));
  ASSERT_OK(f.migration->refresh());
  ASSERT_OK(f.users->put(user(1, "fresh")));
  gate.release();  // the stalled refresh completes with step 4
  Status s;
  for (int i = 0; i < 200; ++i) {
    s = users->put(user(2, "late"));
    if (s.ok()) break;
    EXPECT_EQ(s.code(), Code::kUnavailable) << s.to_string();
    std::this_thread::sleep_for(milliseconds(20));
  }
  SyncPoints::clear_all();
  ASSERT_OK(s);
  EXPECT_EQ(instance->applied_step().step_index, 5u);
  EXPECT_FALSE(stored(f, Side::kOld, 2).has_value()) << "written to old by step 4 after the moves to 6";
  EXPECT_EQ(stored(f, Side::kNew, 2), user(2, "late"));
  EXPECT_EQ(stored(f, Side::kNew, 1), user(1, "fresh"));
}

TEST(Lease, AnInstanceThatCannotRenewStopsRoutingWithinItsLeaseAndResumesByItself) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  RefreshStall refresh;
  auto instance = open_instance(f, short_lease(f.config));
  Collection* users = value_or_die(instance->collection("users"));
  ASSERT_OK(users->put(user(1, "a")));
  refresh.stall();                                // the control store no longer answers its refreshes
  ASSERT_OK(users->get(Key{Value(int64_t{1})}));  // still within the lease
  // A whole lease later it has stopped routing (it stops at 4/5 of it), so
  // that a mover, which waits for the whole lease, never sees it route.
  std::this_thread::sleep_for(kLease);
  auto read = users->get(Key{Value(int64_t{1})});
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), Code::kUnavailable);
  Status write = users->put(user(2, "b"));
  EXPECT_EQ(write.code(), Code::kUnavailable) << write.to_string();
  EXPECT_FALSE(stored(f, Side::kOld, 2).has_value());
  refresh.resume();
  Status again;
  for (int i = 0; i < 200; ++i) {
    again = users->put(user(2, "b"));
    if (again.ok()) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_OK(again);
  EXPECT_EQ(stored(f, Side::kOld, 2), user(2, "b"));
}

TEST(Lease, OperatorFenceKeepsRoutingAndBlocksMovesUntilTheSilentInstanceIsForgotten) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  RefreshStall refresh;
  Config config = short_lease(f.config);
  config.fence = FencePolicy::kOperator;
  config.control_url = "sqlite:" + f.dir.file("control-operator.db");
  auto control = value_or_die(open_control_store(config.control_url));
  MigrationOptions op;
  op.register_instance = false;
  auto mover =
      value_or_die(Migration::open_with(config, f.old_faulty.get(), f.new_faulty.get(), control.get(), op));
  MigrationOptions silent_options;
  silent_options.instance_label = "silent-one";
  auto silent = value_or_die(
      Migration::open_with(config, f.old_faulty.get(), f.new_faulty.get(), control.get(), silent_options));
  Collection* users = value_or_die(silent->collection("users"));

  refresh.stall();
  wait_until_gone(*control, "silent-one");
  std::this_thread::sleep_for(kLease);
  ASSERT_OK(users->put(user(1, "still routing")));  // availability over progress

  auto refused = mover->change_step(1, "test", /*force=*/false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("silent-one"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("tandem instances forget"), std::string::npos)
      << refused.status().message();

  // Forgetting needs a reason; a live instance is not forgotten.
  EXPECT_EQ(forget_instance(config, *control, "silent-one", "").status().code(), Code::kInvalidArgument);
  MigrationOptions live_options;
  live_options.instance_label = "live-one";
  auto live = value_or_die(
      Migration::open_with(config, f.old_faulty.get(), f.new_faulty.get(), control.get(), live_options));
  auto not_live = forget_instance(config, *control, "live-one", "wrong one");
  EXPECT_EQ(not_live.status().code(), Code::kFailedPrecondition) << not_live.status().to_string();
  EXPECT_EQ(forget_instance(config, *control, "no-such", "typo").status().code(), Code::kNotFound);

  auto forgotten = value_or_die(forget_instance(config, *control, "silent-one", "host powered off"));
  EXPECT_EQ(forgotten.instance_id, "silent-one");
  auto recorded = value_or_die(control->forgotten_instances(10));
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0].reason, "host powered off");
  EXPECT_FALSE(recorded[0].actor.empty());
  ASSERT_OK(mover->change_step(1, "test", /*force=*/false));
  refresh.resume();
}

TEST(Lease, CliListsAndForgetsInstances) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  std::string config = f.write_config_file();
  InstanceHeartbeat h{"web-9", "host-z", 99, now_micros(), now_micros(), 1, 0};
  ASSERT_OK(f.control->heartbeat(h));
  CliResult live = run_cli(f.dir, {"--config", config, "instances", "forget", "web-9", "--reason", "x"});
  EXPECT_EQ(live.exit_code, 3) << live.out;
  EXPECT_NE(live.out.find("renewed its lease"), std::string::npos) << live.out;
  CliResult no_reason = run_cli(f.dir, {"--config", config, "instances", "forget", "web-9"});
  EXPECT_EQ(no_reason.exit_code, 2) << no_reason.out;

  age_heartbeat(f.dir.file("control.db"), "web-9", std::chrono::seconds(60));
  CliResult forgot =
      run_cli(f.dir, {"--config", config, "instances", "forget", "web-9", "--reason", "host-z replaced"});
  EXPECT_EQ(forgot.exit_code, 0) << forgot.out;
  CliResult list = run_cli(f.dir, {"--config", config, "instances", "list", "--json"});
  EXPECT_EQ(list.exit_code, 0) << list.out;
  EXPECT_NE(list.out.find("host-z replaced"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("\"fence\": \"lease\""), std::string::npos) << list.out;
  EXPECT_TRUE(value_or_die(f.control->instances()).empty());
}

}  // namespace
}  // namespace tandem::testing
