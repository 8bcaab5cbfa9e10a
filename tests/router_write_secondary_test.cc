// Write-secondary failures never fail the call and are never forgotten; the
// write secondary converges to the write primary under concurrent writers.
#include <random>
#include <thread>

#include "test_support.h"

namespace tandem::testing {
namespace {

TEST(WriteSecondary, FailureLeavesCallSuccessfulAndKeyInDurableRepairQueue) {
  MigrationFixture f({user(1, "one")});
  f.jump_to_step(1);  // dual-write: WP old, WS new
  f.new_faulty->fail_writes = true;
  ASSERT_OK(f.users->put(user(2, "two")));
  ASSERT_OK(f.users->patch(Key{Value(int64_t{1})}, {{"name", Value("patched")}}));
  ASSERT_OK(f.users->remove(Key{Value(int64_t{1})}));
  EXPECT_GT(f.new_faulty->injected, 0);
  EXPECT_EQ(f.migration->stats()[1].write_secondary_failures, 3);
  // The write primary has every write.
  EXPECT_TRUE(value_or_die(f.raw(Side::kOld).get("users", Key{Value(int64_t{2})})).present());
  EXPECT_FALSE(value_or_die(f.raw(Side::kOld).get("users", Key{Value(int64_t{1})})).present());

  // The queue survives a restart: a fresh control store on the same file sees it.
  f.migration.reset();
  f.control = value_or_die(open_control_store(f.config.control_url));
  auto counts = value_or_die(f.control->repair_counts());
  EXPECT_EQ(counts[Side::kNew], 3);
  EXPECT_EQ(counts[Side::kOld], 0);
  auto entries = value_or_die(f.control->repair_batch(10));
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].key_display, "2");
  EXPECT_NE(entries[0].reason.find("injected fault"), std::string::npos) << entries[0].reason;

  // Draining it once the fault is gone brings new up to date.
  f.new_faulty->fail_writes = false;
  f.reopen_migration();
  EXPECT_EQ(value_or_die(f.migration->drain_repair_queue(100)), 3u);
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kNew], 0);
  EXPECT_EQ(value_or_die(f.raw(Side::kNew).get("users", Key{Value(int64_t{2})})).record, user(2, "two"));
  EXPECT_TRUE(value_or_die(f.raw(Side::kNew).get("users", Key{Value(int64_t{1})})).tombstoned());
}

TEST(WriteSecondary, WritePrimaryFailureFailsTheCallAndQueuesNothing) {
  MigrationFixture f;
  f.jump_to_step(1);
  f.old_faulty->fail_writes = true;
  Status s = f.users->put(user(2, "two"));
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_TRUE(s.is_retryable());
  EXPECT_FALSE(value_or_die(f.raw(Side::kNew).get("users", Key{Value(int64_t{2})})).present());
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kNew], 0);
}

TEST(WriteSecondary, InvalidRecordIsRejectedBeforeAnyWriteNamingTheField) {
  MigrationFixture f;
  f.jump_to_step(1);
  Record bad = user(9, "nine");
  bad.fields["age"] = Value("not a number");
  Status s = f.users->put(bad);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("record 9"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'age'"), std::string::npos) << s.message();
  EXPECT_EQ(f.old_counting->writes + f.new_counting->writes, 0);
  Status unknown = f.users->patch(Key{Value(int64_t{9})}, {{"nickname", Value("x")}});
  EXPECT_NE(unknown.message().find("unknown field 'nickname'"), std::string::npos) << unknown.message();
}

// Concurrent writers to the same keys leave WP and WS equal once quiet,
// because WS is brought up to date by a locked copy of WP's current record.
void concurrent_writers_converge(size_t step_index) {
  std::vector<Record> seed;
  for (int64_t id = 1; id <= 5; ++id) seed.push_back(user(id, "seed"));
  MigrationFixture f(seed);
  for (const Record& r : seed) ASSERT_OK(f.raw(Side::kNew).upsert("users", r));
  f.jump_to_step(step_index);
  const Step& step = f.config.plan.at(step_index);
  std::vector<std::thread> threads;
  std::atomic<int64_t> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + static_cast<uint64_t>(t));
      for (int i = 0; i < 150; ++i) {
        Key key{Value(static_cast<int64_t>(1 + rng() % 5))};
        int dice = static_cast<int>(rng() % 10);
        Status s;
        if (dice < 4) {
          s = f.users->put(user(key[0].as<int64_t>(), fmt::format("t{}-{}", t, i)));
        } else if (dice < 8) {
          s = f.users->patch(key, {{"age", Value(static_cast<int64_t>(t * 1000 + i))}});
          if (s.code() == Code::kNotFound) s = Status::Ok();
        } else {
          s = f.users->remove(key);
        }
        if (!s.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(value_or_die(f.control->repair_counts())[*step.write_secondary], 0);
  for (int64_t id = 1; id <= 5; ++id) {
    Key key{Value(id)};
    auto wp = value_or_die(f.raw(step.write_primary).get("users", key));
    auto ws = value_or_die(f.raw(*step.write_secondary).get("users", key));
    EXPECT_EQ(wp.present(), ws.present()) << "key " << id;
    if (wp.present() && ws.present()) {
      EXPECT_EQ(wp.record, ws.record) << "key " << id;
    }
  }
}

TEST(WriteSecondary, ConcurrentWritersConvergeWhenNewIsWriteSecondary) { concurrent_writers_converge(1); }
TEST(WriteSecondary, ConcurrentWritersConvergeWhenOldIsWriteSecondary) { concurrent_writers_converge(4); }

}  // namespace
}  // namespace tandem::testing
