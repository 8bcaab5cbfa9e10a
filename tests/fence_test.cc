// Fencing at new (tandem/store.h, FenceScope): an operation that passed its
// last lease check and then stalls, while its process goes on renewing the
// lease, can land after the step moved. New itself refuses its write: in
// new's fence table every write checks the step version it was routed by.
// The store's contract on every engine, then the router's outcomes.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "core/sync_point.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

using std::chrono::milliseconds;

thread_local bool t_hold_fenced_write = false;

// --- The store's contract, on SQLite, PostgreSQL and MariaDB ---

class StoreFence : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      pg_ = std::make_unique<PostgresDatabase>(
          fmt::format("tandem_fence_{}", ::getpid()));  // one per process: ctest -j
      url_ = pg_->url();
    } else if (GetParam() == "mariadb") {
      my_ = std::make_unique<MariaDbDatabase>(fmt::format("tandem_fence_{}", ::getpid()));
      url_ = my_->url();
    } else {
      url_ = "sqlite:" + dir_.file("new.db");
    }
    store_ = open_new();
  }
  void TearDown() override { store_.reset(); }

  std::unique_ptr<Store> open_new() {
    auto s = value_or_die(open_store("new", url_));
    EXPECT_OK(s->ensure_collection(users_schema(), true));
    return s;
  }
  std::optional<Record> stored(int64_t id) {
    Lookup l = value_or_die(store_->get("users", Key{Value(id)}));
    if (!l.present()) return std::nullopt;
    return l.record;
  }
  // The fence row as the server itself reads it, not through tandem.
  std::vector<std::string> fence_row() {
    const std::string sql = "SELECT version, role FROM tandem_fence WHERE id = 1";
    auto rows = GetParam() == "postgres"  ? postgres_rows(url_, sql)
                : GetParam() == "mariadb" ? mariadb_rows(url_, sql)
                                          : std::vector<std::vector<std::string>>{};
    return rows.empty() ? std::vector<std::string>{} : rows[0];
  }

  TempDir dir_;
  std::unique_ptr<PostgresDatabase> pg_;
  std::unique_ptr<MariaDbDatabase> my_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

void expect_fenced(const Status& s, const std::string& routed, const std::string& changed) {
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.is_fenced()) << s.to_string();
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.to_string();
  EXPECT_TRUE(s.is_retryable()) << s.to_string();
  EXPECT_FALSE(s.is_outcome_unknown()) << s.to_string();  // nothing was written, for sure
  EXPECT_NE(s.message().find("routed by step version " + routed), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("since step version " + changed), std::string::npos) << s.to_string();
}

TEST_P(StoreFence, AWriteRoutedByAnOlderVersionThanNewsRoleChangeIsRefusedAndWritesNothing) {
  ASSERT_OK(store_->upsert("users", user(1, "unfenced")));  // no scope: a backfill, a test
  {
    FenceScope dual_write({4, FenceRole::kWriteSecondary});
    ASSERT_OK(store_->upsert("users", user(1, "copied at 4")));
  }
  {
    FenceScope write_new({6, FenceRole::kWritePrimary});  // raises the fence
    ASSERT_OK(store_->upsert("users", user(1, "written at 6")));
  }
  if (GetParam() != "sqlite") {
    EXPECT_EQ(fence_row(), (std::vector<std::string>{"6", "2"}));
  }
  {
    FenceScope stale({4, FenceRole::kWriteSecondary});
    expect_fenced(store_->upsert("users", user(1, "stale")), "4", "6");
    expect_fenced(store_->patch("users", Key{Value(int64_t{1})}, {{"name", Value("stale")}}).status(), "4",
                  "6");
    expect_fenced(store_->remove("users", Key{Value(int64_t{1})}), "4", "6");
    std::vector<Record> transfer{user(2, "stale")};
    expect_fenced(store_->insert_if_absent("users", transfer, LockPolicy::kCallerHoldsLock).status(), "4",
                  "6");
  }
  {
    // Older than the change, even with the same role.
    FenceScope stale({5, FenceRole::kWritePrimary});
    expect_fenced(store_->upsert("users", user(1, "stale")), "5", "6");
  }
  EXPECT_EQ(stored(1), user(1, "written at 6"));
  EXPECT_FALSE(stored(2).has_value());
  EXPECT_FALSE(value_or_die(store_->get("users", Key{Value(int64_t{1})})).tombstoned());
  {
    // Another process (its own connections) is refused alike: the fence is in new.
    auto other = open_new();
    FenceScope stale({4, FenceRole::kWriteSecondary});
    expect_fenced(other->upsert("users", user(1, "stale")), "4", "6");
  }
  {
    // A later version with the same role writes without moving the fence.
    FenceScope later({7, FenceRole::kWritePrimary});
    ASSERT_OK(store_->upsert("users", user(1, "written at 7")));
    ASSERT_OK(store_->remove("users", Key{Value(int64_t{3})}));
  }
  if (GetParam() != "sqlite") {
    EXPECT_EQ(fence_row(), (std::vector<std::string>{"6", "2"}));
  }
  FenceToken read = value_or_die(store_->read_fence());
  EXPECT_EQ(read.version, 6);
  EXPECT_EQ(read.role, FenceRole::kWritePrimary);
  EXPECT_EQ(stored(1), user(1, "written at 7"));
  // Writes outside any scope are not fenced (the backfill's insert-if-absent).
  std::vector<Record> backfill{user(4, "copied")};
  ASSERT_OK(store_->insert_if_absent("users", backfill, LockPolicy::kTryLockEach));
  EXPECT_EQ(stored(4), user(4, "copied"));
}

TEST_P(StoreFence, OldKeepsNoFenceAndIgnoresTheScope) {
  auto old =
      value_or_die(open_store("old", url_, StoreOptions{.keep_tombstones = false, .configure = false}));
  ASSERT_OK(old->ensure_collection(users_schema(), false));
  {
    FenceScope write_new({6, FenceRole::kWritePrimary});
    ASSERT_OK(store_->upsert("users", user(1, "new at 6")));
  }
  FenceScope stale({4, FenceRole::kWriteSecondary});
  // Old cannot be fenced: tandem keeps no table there (the lease covers it).
  ASSERT_OK(old->upsert("users", user(2, "old at 4")));
  expect_fenced(store_->upsert("users", user(2, "new at 4")), "4", "6");
  EXPECT_EQ(value_or_die(old->read_fence()).version, 0);  // none: a migration's open has nothing to compare
}

// The core of the design: a raise waits for a write that passed the fence
// under an older version (it holds the fence's shared lock until it
// commits), so the write lands before the raise and none after it; and the
// wait is bounded, so a stalled writer cannot stop the new role for long.
TEST_P(StoreFence, ARaiseWaitsForAWriteThatPassedTheFenceAndTheWaitIsBounded) {
  // SQLite: one write transaction at a time (BEGIN IMMEDIATE) serializes the
  // fence read, a raise and the write by construction.
  if (GetParam() == "sqlite") GTEST_SKIP() << "serialized by SQLite's write lock";
  auto other = open_new();  // before the writer holds the fence (SQLite: the write lock)
  Gate gate;
  SyncPoints::set("fence.passed", [&] {
    if (t_hold_fenced_write) gate.wait_here();
  });
  Status in_flight;
  std::thread writer([&] {
    t_hold_fenced_write = true;
    FenceScope dual_write({4, FenceRole::kWriteSecondary});
    in_flight = store_->upsert("users", user(1, "copied at 4"));
  });
  gate.wait_reached();  // it passed the fence and has not written yet
  Status raised;
  std::atomic<bool> done{false};
  std::thread raiser([&] {
    raised = other->raise_fence({6, FenceRole::kWritePrimary});
    done = true;
  });
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE(done) << "the raise did not wait for the write that passed the fence";
  gate.release();
  writer.join();
  raiser.join();
  SyncPoints::clear_all();
  ASSERT_OK(in_flight);  // landed before the raise
  ASSERT_OK(raised);
  EXPECT_EQ(stored(1), user(1, "copied at 4"));
  {
    FenceScope stale({4, FenceRole::kWriteSecondary});
    expect_fenced(store_->upsert("users", user(1, "stale")), "4", "6");
  }
  // A writer that stalls holding the fence: the raise gives up after its
  // bounded wait, retryable, and nothing changes.
  Gate stalled;
  SyncPoints::set("fence.passed", [&] {
    if (t_hold_fenced_write) stalled.wait_here();
  });
  std::thread staller([&] {
    t_hold_fenced_write = true;
    FenceScope write_new({6, FenceRole::kWritePrimary});
    in_flight = store_->upsert("users", user(1, "written at 6"));
  });
  stalled.wait_reached();
  Status timed_out = other->raise_fence({7, FenceRole::kWriteSecondary});
  stalled.release();
  staller.join();
  SyncPoints::clear_all();
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.code(), Code::kBusy) << timed_out.to_string();
  EXPECT_TRUE(timed_out.is_retryable()) << timed_out.to_string();
  EXPECT_NE(timed_out.message().find("could not raise its fence"), std::string::npos)
      << timed_out.to_string();
  ASSERT_OK(in_flight);
  EXPECT_EQ(fence_row(), (std::vector<std::string>{"6", "2"}));  // unchanged
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreFence, ::testing::Values("sqlite", "postgres", "mariadb"),
                         [](const auto& info) { return info.param; });

// --- The router's outcomes ---

thread_local bool t_held_thread = false;

std::optional<Record> stored_in(MigrationFixture& f, Side side, int64_t id) {
  Lookup l = value_or_die(f.raw(side).get("users", Key{Value(id)}));
  if (!l.present()) return std::nullopt;
  return l.record;
}

// A second instance on the fixture's databases and control store, whose
// refresh thread keeps renewing its lease while one of its operations is held.
std::unique_ptr<Migration> open_held_instance(MigrationFixture& f) {
  MigrationOptions options;
  options.instance_label = "held-instance";
  Config c = f.config;
  c.refresh_interval = milliseconds(50);
  return value_or_die(
      Migration::open_with(c, f.old_faulty.get(), f.new_faulty.get(), f.control.get(), options));
}

// Runs users->put(record) on a thread of its own, held at sync point `point`
// (its first passage there) while meanwhile() runs; the put's outcome.
Status put_held_at(const char* point, Collection* users, const Record& record,
                   const std::function<void()>& meanwhile) {
  Gate gate;
  std::atomic<bool> once{false};
  SyncPoints::set(point, [&] {
    if (t_held_thread && !once.exchange(true)) gate.wait_here();
  });
  Status outcome;
  std::thread writer([&] {
    t_held_thread = true;
    outcome = users->put(record);
  });
  gate.wait_reached();
  meanwhile();
  gate.release();
  writer.join();
  SyncPoints::clear_all();
  return outcome;
}

// The lost write, with a lease that stays valid: at step 4 an
// instance wrote old and passed its last lease check for the copy into new;
// it stalls there while the operator moves 4 -> 5 -> 6 and a live instance
// writes the record in new, now the write primary. The held copy of old's
// stale record must not land over it.
TEST(Fence, ACopyHeldPastItsLastLeaseCheckIsRefusedByNewOnceNewIsTheWritePrimary) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  f.jump_to_step(3);
  std::unique_ptr<Migration> held = open_held_instance(f);
  Collection* users = value_or_die(held->collection("users"));
  ASSERT_OK(users->put(user(1, "v0")));
  Status outcome = put_held_at("copy.after_lease_check", users, user(1, "stale"), [&] {
    // Old has "stale"; the copy holds new's record lock.
    EXPECT_EQ(stored_in(f, Side::kOld, 1), user(1, "stale"));
    // Forced: the held operation keeps its instance from acknowledging.
    EXPECT_OK(f.migration->change_step(4, "test: write-new", /*force=*/true));
    EXPECT_OK(f.migration->change_step(5, "test: old-read-only", /*force=*/true));
    EXPECT_OK(f.migration->refresh());
    EXPECT_OK(f.users->put(user(1, "fresh")));  // acknowledged, in new (the write primary)
  });
  // Without the fence the copy wrote old's "stale" over new's acknowledged "fresh".
  EXPECT_EQ(stored_in(f, Side::kNew, 1), user(1, "fresh"));
  ASSERT_FALSE(outcome.ok());
  EXPECT_TRUE(outcome.is_outcome_unknown()) << outcome.to_string();
  EXPECT_NE(outcome.message().find("new refused the copy"), std::string::npos) << outcome.to_string();
  EXPECT_NE(outcome.message().find("(fenced)"), std::string::npos) << outcome.to_string();
  // Its repair copies from the current write primary: new keeps "fresh".
  ASSERT_OK(f.migration->drain_repair_queue(100));
  EXPECT_EQ(stored_in(f, Side::kNew, 1), user(1, "fresh"));
  // The instance refreshed at once and routes by step 6.
  for (int i = 0; i < 500 && held->applied_step().step_index != 5u; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(held->applied_step().step_index, 5u);
  ASSERT_OK(users->put(user(2, "after")));
  EXPECT_EQ(stored_in(f, Side::kNew, 2), user(2, "after"));
  EXPECT_FALSE(stored_in(f, Side::kOld, 2).has_value());
  held.reset();
}

// New as write primary: at step 5 a write passed its last lease check and is
// held; the operator moves back to 4 (old the write primary again) and a
// live instance's write is copied into new. The held write is refused by new,
// nothing of it is written anywhere, and the caller is told to retry.
TEST(Fence, AWriteToNewAsWritePrimaryHeldAcrossAMoveBackIsRefusedAndWritesNothing) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  f.jump_to_step(4);
  std::unique_ptr<Migration> held = open_held_instance(f);
  Collection* users = value_or_die(held->collection("users"));
  ASSERT_OK(users->put(user(1, "v0")));
  Status outcome = put_held_at("write.before_primary", users, user(1, "stale"), [&] {
    EXPECT_OK(f.migration->change_step(3, "test: back to read-new", /*force=*/true));
    EXPECT_OK(f.migration->refresh());
    EXPECT_OK(f.users->put(user(1, "fresh")));  // old, then copied into new
  });
  ASSERT_FALSE(outcome.ok());
  EXPECT_TRUE(outcome.is_fenced()) << outcome.to_string();
  EXPECT_TRUE(outcome.is_retryable()) << outcome.to_string();
  EXPECT_FALSE(outcome.is_outcome_unknown()) << outcome.to_string();
  EXPECT_EQ(stored_in(f, Side::kNew, 1), user(1, "fresh"));
  EXPECT_EQ(stored_in(f, Side::kOld, 1), user(1, "fresh"));
  held.reset();
}

// Found by review: new's role going write primary -> write secondary ->
// write primary with nothing written in between. A write held at step 5
// (version v) would match the fence (v, write primary) again after the
// moves 5 -> 4 -> 5 had the mover not raised the fence at each move.
TEST(Fence, AWriteHeldAcrossAMoveThereAndBackWithNothingWrittenMeanwhileIsRefused) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  f.jump_to_step(4);
  std::unique_ptr<Migration> held = open_held_instance(f);
  Collection* users = value_or_die(held->collection("users"));
  ASSERT_OK(users->put(user(1, "v0")));  // raises the fence at step 5
  Status outcome = put_held_at("write.before_primary", users, user(1, "stale"), [&] {
    EXPECT_OK(f.migration->change_step(3, "test: back to read-new", /*force=*/true));
    EXPECT_OK(f.migration->change_step(4, "test: write-new again", /*force=*/true));
    EXPECT_OK(f.migration->refresh());
    EXPECT_OK(f.users->put(user(1, "fresh")));  // in new, the write primary again
  });
  ASSERT_FALSE(outcome.ok());
  EXPECT_TRUE(outcome.is_fenced()) << outcome.to_string();
  EXPECT_NE(outcome.message().find("collection 'users' record 1: not written"), std::string::npos)
      << outcome.to_string();
  EXPECT_EQ(stored_in(f, Side::kNew, 1), user(1, "fresh"));
  held.reset();
}

// A team starts over on the same new database with a fresh control store (a
// new control file): the earlier migration left new's fence at its step
// version. Without continuing after it, every write of the new migration to
// new would be refused as older; with it, they land, and the earlier
// migration's instances are refused.
TEST(Fence, AFreshControlStoreContinuesAfterTheFenceAnEarlierMigrationLeftInNew) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  f.jump_to_step(4);
  ASSERT_OK(f.users->put(user(1, "first")));  // raises the fence at step 5
  const int64_t fence = value_or_die(f.raw(Side::kNew).read_fence()).version;
  ASSERT_GT(fence, 1);
  // Its own control store is at the fence's version: it reopens as it was.
  f.reopen_migration(/*register_instance=*/false);
  EXPECT_EQ(value_or_die(f.control->current_step()).version, fence);
  auto control = value_or_die(open_control_store("sqlite:" + f.dir.file("control-2.db")));
  MigrationOptions options;
  options.register_instance = false;
  auto second = value_or_die(
      Migration::open_with(f.config, f.old_faulty.get(), f.new_faulty.get(), control.get(), options));
  StepState at = value_or_die(control->current_step());
  EXPECT_EQ(at.version, fence + 1);
  EXPECT_EQ(at.step_index, 0u);
  auto history = value_or_die(control->history(10));
  ASSERT_EQ(history.size(), 1u);
  EXPECT_NE(history[0].reason.find("continues after new's fence"), std::string::npos) << history[0].reason;
  ASSERT_OK(second->change_step(1, "test: dual-write", /*force=*/true));
  ASSERT_OK(second->refresh());
  Collection* users = value_or_die(second->collection("users"));
  ASSERT_OK(users->put(user(2, "second")));  // old, then copied into new
  EXPECT_EQ(stored_in(f, Side::kNew, 2), user(2, "second"));
  Status stale = f.users->put(user(3, "stale"));  // the earlier migration, at its step 5
  EXPECT_TRUE(stale.is_fenced()) << stale.to_string();
  EXPECT_FALSE(stored_in(f, Side::kNew, 3).has_value());
  second.reset();
}

// Two control stores steering one new database: one whose steps have moved
// and are behind new's fence is refused at open, naming both.
TEST(Fence, AMigrationWhoseControlStoreIsBehindNewsFenceIsRefusedAtOpen) {
  MigrationFixture f{{}, milliseconds(100), /*register_instance=*/false};
  f.jump_to_step(4);
  ASSERT_OK(f.migration->change_step(3, "test: back", /*force=*/true));
  ASSERT_OK(f.migration->change_step(4, "test: forward", /*force=*/true));
  ASSERT_EQ(value_or_die(f.raw(Side::kNew).read_fence()).version, 4);  // raised by the mover
  auto control = value_or_die(open_control_store("sqlite:" + f.dir.file("control-2.db")));
  ASSERT_OK(control->initialize(f.config.fingerprint(), f.config.plan.size()));
  ASSERT_OK(control->change_step(1, 1, "test", false, "test", {}));
  MigrationOptions options;
  options.register_instance = false;
  auto second =
      Migration::open_with(f.config, f.old_faulty.get(), f.new_faulty.get(), control.get(), options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition) << second.status().to_string();
  EXPECT_NE(second.status().message().find("two control stores steer one new database"), std::string::npos)
      << second.status().to_string();
  EXPECT_EQ(value_or_die(control->current_step()).version, 2);
}

}  // namespace
}  // namespace tandem::testing
