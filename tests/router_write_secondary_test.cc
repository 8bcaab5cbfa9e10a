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

namespace tandem::testing {
namespace {

// Found by tandem-stress (MariaDB and SQLite, seed 7): a write in flight at
// write-new (WP new, WS old) failed on old after the move back to read-new
// had checked the repair queue and committed. Old became the write primary
// without the acknowledged write. Now the write sees that the step moved to
// one that relies on old and reports an unknown outcome; the repair makes the
// other database equal to the new write primary.
TEST(WriteSecondary, StressFoundRepairQueuedAfterTheMoveCheck) {
  MigrationFixture f({user(1, "one")});
  f.jump_to_step(4);  // write-new: WP new, WS old
  std::atomic<bool> entered{false}, release{false};
  f.old_faulty->on_write = [&] {
    entered = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  f.old_faulty->fail_writes = true;
  Status write;
  std::thread writer([&] { write = f.users->put(user(1, "in flight")); });
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The move back is decided while the write is in flight: nothing is queued yet.
  Result<StepState> moved = Status::Internal("not moved");
  std::thread mover([&] { moved = f.migration->change_step(3, "roll back", false); });
  while (value_or_die(f.control->current_step()).step_index != 3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  release = true;
  writer.join();
  mover.join();
  f.old_faulty->on_write = nullptr;
  f.old_faulty->fail_writes = false;
  ASSERT_OK(moved);
  ASSERT_FALSE(write.ok()) << "acknowledged, but old, now the write primary, does not have it";
  EXPECT_TRUE(write.is_outcome_unknown()) << write.to_string();
  EXPECT_NE(write.message().find("step changed"), std::string::npos) << write.message();
  // Draining makes new equal to old, the write primary now: the write of unknown outcome is undone.
  // The entry for old is turned into one for new (so that a move that would make new a primary waits
  // for it), which the next drain copies.
  EXPECT_EQ(value_or_die(f.migration->drain_repair_queue(10)), 1u);
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kNew], 1);
  EXPECT_EQ(value_or_die(f.migration->drain_repair_queue(10)), 1u);
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kNew], 0);
  EXPECT_EQ(value_or_die(f.raw(Side::kOld).get("users", Key{Value(int64_t{1})})).record, user(1, "one"));
  EXPECT_EQ(value_or_die(f.raw(Side::kNew).get("users", Key{Value(int64_t{1})})).record, user(1, "one"));
}

// The other half of the same fix: a repair queued before the move commits
// refuses the move, even when it arrives after the move's own checks.
TEST(WriteSecondary, StressFoundMoveChecksTheRepairQueueInItsOwnTransaction) {
  TempDir dir;
  auto control = value_or_die(open_control_store("sqlite:" + dir.file("control.db")));
  ASSERT_OK(control->initialize("fingerprint", 7));
  ASSERT_OK(control->enqueue_repair(
      RepairEntry{0, "users", Key{Value(int64_t{1})}.encode(), "1", Side::kNew, "test", now_micros(), 0}));
  auto refused = control->change_step(1, 3, "to read-new", false, "test", {Side::kNew});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("tandem repair"), std::string::npos)
      << refused.status().message();
  EXPECT_OK(control->change_step(1, 1, "to dual-write", false, "test", {Side::kOld}));
}

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// Found by tandem-stress (PostgreSQL, seed 7, two client processes): the
// repair of a write of unknown outcome copied the write primary into the
// other database using the step read at the start of the drain; a move back
// had meanwhile made that other database the write primary, and the copy
// deleted an acknowledged write there. The copy is now queued as a repair of
// the other database, so that such a move waits for it.
TEST(WriteSecondary, StressFoundDrainCopiedIntoADatabaseAMoveHadMadeWritePrimary) {
  MigrationFixture f({user(1, "one")});
  f.jump_to_step(4);  // write-new: WP new, WS old
  ASSERT_OK(f.users->put(user(1, "two")));
  const Key key{Value(int64_t{1})};
  ASSERT_OK(f.control->enqueue_repair(
      RepairEntry{0, "users", key.encode(), "1", Side::kNew, "test", now_micros(), 0}));
  ASSERT_OK(f.raw(Side::kOld).upsert("users", user(1, "stale")));
  EXPECT_EQ(value_or_die(f.migration->drain_repair_queue(10)), 1u);
  // Nothing was copied yet: the copy into old is a repair of old now...
  EXPECT_EQ(value_or_die(f.raw(Side::kOld).get("users", key)).record, user(1, "stale"));
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kOld], 1);
  // ...so a move that makes old the write primary waits for it.
  EXPECT_FALSE(f.migration->change_step(3, "back", false).ok());
  EXPECT_EQ(value_or_die(f.migration->drain_repair_queue(10)), 1u);
  EXPECT_EQ(value_or_die(f.raw(Side::kOld).get("users", key)).record, user(1, "two"));
  EXPECT_OK(f.migration->change_step(3, "back", false));
}

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// Found by tandem-stress (SQLite, seed 7, two client processes): around a
// move between read-new (WP old) and write-new (WP new), or a move back over
// several steps, instances with different write primaries write one key at
// once. A put at write-new copied new -> old under old's record lock while a
// delete at read-new copied old -> new under new's: each read its source
// before the other's write landed, and the databases ended different with
// nothing queued (old had the put, new the delete). Every copy now holds
// new's record lock, whichever way it copies.
TEST(WriteSecondary, StressFoundCopiesOfBothDirectionsSerializeOnOneLock) {
  MigrationFixture f({user(1, "one")});
  ASSERT_OK(f.raw(Side::kNew).upsert("users", user(1, "one")));
  f.jump_to_step(3);  // read-new: WP old, WS new
  MigrationOptions stale;
  stale.register_instance = false;  // no refresh thread: stays at read-new
  auto behind = value_or_die(
      Migration::open_with(f.config, f.old_faulty.get(), f.new_faulty.get(), f.control.get(), stale));
  Collection* behind_users = value_or_die(behind->collection("users"));
  f.jump_to_step(4);  // this instance: write-new, WP new, WS old

  // Hold the put's copy into old after it has read new's version.
  std::atomic<int> old_writes{0};
  std::atomic<bool> held{false}, release{false};
  f.old_faulty->on_write = [&] {
    if (old_writes.fetch_add(1) != 0) return;  // only the put's copy waits
    held = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  Status put;
  std::thread putter([&] { put = f.users->put(user(1, "put at write-new")); });
  while (!held) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The delete at read-new: it must wait for the put's copy, not copy old's
  // state (the put has not reached old yet) into new meanwhile.
  std::atomic<bool> removed{false};
  Status remove;
  std::thread remover([&] {
    remove = behind_users->remove(Key{Value(int64_t{1})});
    removed = true;
  });
  for (int i = 0; i < 500 && !removed; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_FALSE(removed) << "the delete's copy into new did not wait for the put's copy into old";
  release = true;
  putter.join();
  remover.join();
  ASSERT_OK(put);
  // The put made new the write primary (it raised new's fence, issue 15):
  // the delete, routed by the older read-new, is in old, but new refuses
  // its copy; the key is queued for repair and the delete's outcome is
  // unknown. The repair copies the current write primary (new) into old.
  ASSERT_FALSE(remove.ok());
  EXPECT_TRUE(remove.is_outcome_unknown()) << remove.to_string();
  EXPECT_NE(remove.message().find("(fenced)"), std::string::npos) << remove.to_string();
  ASSERT_OK(f.migration->drain_repair_queue(100));  // new's entry: queued again for old
  ASSERT_OK(f.migration->drain_repair_queue(100));
  auto in_old = value_or_die(f.raw(Side::kOld).get("users", Key{Value(int64_t{1})}));
  auto in_new = value_or_die(f.raw(Side::kNew).get("users", Key{Value(int64_t{1})}));
  EXPECT_EQ(in_old.present(), in_new.present());
  if (in_old.present() && in_new.present()) {
    EXPECT_EQ(in_old.record, in_new.record);
  }
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kOld], 0);
  EXPECT_EQ(value_or_die(f.control->repair_counts())[Side::kNew], 0);
}

}  // namespace
}  // namespace tandem::testing
