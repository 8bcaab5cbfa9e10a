// Deterministic race tests: named sync points pause the backfill or a
// transfer at an exact place while the other side acts, and each test asserts
// the final state of both databases.
#include <future>
#include <thread>

#include "core/sync_point.h"
#include "tandem/backfill.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

// Which test thread this is, set by the thread itself before it can reach a
// sync point (a std::thread::id stored by the spawner would race with it).
thread_local bool t_is_a = false;

struct ClearSyncPoints {
  ~ClearSyncPoints() { SyncPoints::clear_all(); }
};

BackfillOptions one_worker() {
  BackfillOptions o;
  o.workers = 1;
  o.ranges_per_worker = 1;
  o.initial_batch = o.min_batch = o.max_batch = 100;
  return o;
}

Lookup get(Store& s, int64_t id) { return value_or_die(s.get("users", Key{Value(id)})); }

std::vector<Record> users(int64_t n) {
  std::vector<Record> out;
  for (int64_t id = 1; id <= n; ++id) out.push_back(user(id, fmt::format("user {}", id)));
  return out;
}

// Backfill reads v1, the service writes v2 (old, then new under the lock),
// the backfill's insert of v1 finds the record present and skips it.
TEST(BackfillRace, LiveUpdateBetweenReadAndInsertIsNotOverwritten) {
  ClearSyncPoints clear;
  MigrationFixture f(users(10));
  f.jump_to_step(1);  // dual-write
  std::atomic<bool> once{false};
  SyncPoints::set("backfill.after_read", [&] {
    if (!once.exchange(true)) EXPECT_OK(f.users->put(user(3, "live v2")));
  });
  auto summary = value_or_die(run_backfill(*f.migration, one_worker()));
  ASSERT_TRUE(summary.complete);
  EXPECT_EQ(get(f.raw(Side::kNew), 3).record, user(3, "live v2"));
  EXPECT_EQ(get(f.raw(Side::kOld), 3).record, user(3, "live v2"));
  const BackfillCounts& c = summary.collections[0].this_run;
  EXPECT_EQ(c.present, 1);
  EXPECT_EQ(c.copied, 9);
}

// Backfill reads the record, the service deletes it (tombstone in new), the
// backfill's insert is refused by the tombstone: no zombie.
TEST(BackfillRace, LiveDeleteBetweenReadAndInsertLeavesNoZombie) {
  ClearSyncPoints clear;
  MigrationFixture f(users(10));
  f.jump_to_step(1);
  std::atomic<bool> once{false};
  SyncPoints::set("backfill.after_read", [&] {
    if (!once.exchange(true)) EXPECT_OK(f.users->remove(Key{Value(int64_t{4})}));
  });
  auto summary = value_or_die(run_backfill(*f.migration, one_worker()));
  EXPECT_FALSE(get(f.raw(Side::kNew), 4).present());
  EXPECT_TRUE(get(f.raw(Side::kNew), 4).tombstoned());
  EXPECT_FALSE(get(f.raw(Side::kOld), 4).present());
  EXPECT_EQ(summary.collections[0].this_run.tombstoned, 1);
  f.jump_to_step(3);  // read-new: the fallback must not bring it back either
  EXPECT_FALSE(value_or_die(f.users->get(Key{Value(int64_t{4})})).has_value());
}

// Two patches on a record missing in new: A transfers it under the lock; B
// arrives while A holds it, waits, then finds it present. One copy, both patches.
TEST(BackfillRace, TwoLivePatchesOnTheSameMissingRecord) {
  ClearSyncPoints clear;
  MigrationFixture f(users(3));
  f.jump_to_step(4);  // write-new: WP new, old still written and read as fallback
  std::promise<void> a_inside, b_arrived;
  std::shared_future<void> b_arrived_f = b_arrived.get_future().share();
  std::atomic<bool> a_seen{false}, b_seen{false};
  SyncPoints::set("transfer.after_read_source", [&] {
    if (t_is_a && !a_seen.exchange(true)) {
      a_inside.set_value();
      b_arrived_f.wait();  // hold the lock until B is at the lock
    }
  });
  SyncPoints::set("transfer.before_lock", [&] {
    if (!t_is_a && !b_seen.exchange(true)) b_arrived.set_value();
  });
  std::thread a([&] {
    t_is_a = true;
    EXPECT_OK(f.users->patch(Key{Value(int64_t{2})}, {{"name", Value("from A")}}));
  });
  a_inside.get_future().wait();
  std::thread b([&] { EXPECT_OK(f.users->patch(Key{Value(int64_t{2})}, {{"age", Value(int64_t{77})}})); });
  a.join();
  b.join();
  Record expected = user(2, "from A", 77);
  EXPECT_EQ(get(f.raw(Side::kNew), 2).record, expected);
  EXPECT_EQ(get(f.raw(Side::kOld), 2).record, expected);
  EXPECT_EQ(f.migration->stats()[4].transfers, 1);
}

// A transfer holds a record's lock while the backfill reaches it: the
// backfill skips it as locked (not an error), and the transfer's copy wins.
TEST(BackfillRace, BackfillAndTransferOnTheSameKey) {
  ClearSyncPoints clear;
  MigrationFixture f(users(20));
  f.jump_to_step(4);
  std::atomic<bool> once{false};
  BackfillSummary during;
  SyncPoints::set("transfer.after_read_source", [&] {
    if (once.exchange(true)) return;
    during = value_or_die(run_backfill(*f.migration, one_worker()));
  });
  ASSERT_OK(f.users->patch(Key{Value(int64_t{5})}, {{"name", Value("patched")}}));
  ASSERT_EQ(during.collections.size(), 1u);
  EXPECT_EQ(during.collections[0].this_run.locked, 1);
  EXPECT_EQ(during.collections[0].this_run.copied, 19);
  EXPECT_EQ(get(f.raw(Side::kNew), 5).record.fields.at("name"), Value("patched"));
  auto report = value_or_die(run_verify(*f.migration, VerifyOptions{}));
  EXPECT_TRUE(report.clean()) << report.collections[0].differences.size();
}

// The write secondary (new) fails for a live write in the middle of a batch:
// the backfill then inserts the version it read, which is stale, but the key
// is in the repair queue and draining it makes new equal old.
TEST(BackfillRace, WriteSecondaryFailureInTheMiddleOfABatch) {
  ClearSyncPoints clear;
  MigrationFixture f(users(10));
  f.jump_to_step(1);
  std::atomic<bool> once{false};
  SyncPoints::set("backfill.after_read", [&] {
    if (once.exchange(true)) return;
    f.new_faulty->fail_writes = true;
    EXPECT_OK(f.users->put(user(6, "live v2")));  // succeeds: old is the write primary
    f.new_faulty->fail_writes = false;
  });
  ASSERT_TRUE(value_or_die(run_backfill(*f.migration, one_worker())).complete);
  EXPECT_EQ(get(f.raw(Side::kNew), 6).record, user(6, "user 6")) << "the backfill copied what it had read";
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kNew], 1);
  EXPECT_FALSE(value_or_die(run_verify(*f.migration, VerifyOptions{})).clean());
  EXPECT_EQ(value_or_die(f.migration->drain_repair_queue(10)), 1u);
  EXPECT_EQ(get(f.raw(Side::kNew), 6).record, user(6, "live v2"));
  EXPECT_TRUE(value_or_die(run_verify(*f.migration, VerifyOptions{})).clean());
}

}  // namespace
}  // namespace tandem::testing
