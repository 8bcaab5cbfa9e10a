// The SQLite control store: step state with versions and history, heartbeats,
// and durable repair queue, quarantine and shadow reports.
#include <sqlite3.h>

#include <thread>
#include <vector>

#include "test_support.h"

namespace tandem::testing {
namespace {

TEST(ControlStore, StepChangesAreVersionedAndRecorded) {
  TempDir dir;
  auto c = value_or_die(open_control_store(dir.file("control.db")));
  ASSERT_OK(c->initialize("fp1", 7));
  auto s = value_or_die(c->current_step());
  EXPECT_EQ(s.step_index, 0u);
  EXPECT_EQ(s.version, 1);
  auto next = value_or_die(c->change_step(1, 1, "go", false, "tester", {}));
  EXPECT_EQ(next.version, 2);
  // A change based on a stale version is refused: someone else moved first.
  auto stale = c->change_step(1, 2, "late", false, "other", {});
  EXPECT_EQ(stale.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("changed meanwhile"), std::string::npos);
  ASSERT_OK(c->change_step(2, 0, "back", true, "tester", {}));
  auto history = value_or_die(c->history(10));
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].version, 3);
  EXPECT_EQ(history[0].from_index, 1u);
  EXPECT_EQ(history[0].to_index, 0u);
  EXPECT_TRUE(history[0].forced);
  EXPECT_EQ(history[1].reason, "go");
  EXPECT_EQ(history[1].actor, "tester");
}

TEST(ControlStore, StateSurvivesReopenAndTheFingerprintIsChecked) {
  TempDir dir;
  {
    auto c = value_or_die(open_control_store(dir.file("control.db")));
    ASSERT_OK(c->initialize("fp1", 7));
    ASSERT_OK(c->change_step(1, 1, "", false, "t", {}));
    ASSERT_OK(
        c->enqueue_repair({0, "users", Key{Value(int64_t{4})}.encode(), "4", Side::kOld, "why", {}, 0}));
    ASSERT_OK(
        c->add_quarantine({0, "users", Key{Value(int64_t{9})}.encode(), "9", "age", "abc", "bad int", {}}));
  }
  auto c = value_or_die(open_control_store(dir.file("control.db")));
  ASSERT_OK(c->initialize("fp1", 7));
  EXPECT_EQ(value_or_die(c->current_step()).step_index, 1u);
  auto repairs = value_or_die(c->repair_batch(10));
  ASSERT_EQ(repairs.size(), 1u);
  EXPECT_EQ(repairs[0].target, Side::kOld);
  EXPECT_EQ(value_or_die(Key::decode(repairs[0].key)), Key{Value(int64_t{4})});
  ASSERT_OK(c->fail_repair(repairs[0].id, "still down"));
  EXPECT_EQ(value_or_die(c->repair_batch(10))[0].attempts, 1);
  ASSERT_OK(c->complete_repair(repairs[0].id));
  EXPECT_EQ(value_or_die(c->repair_counts())[Side::kOld], 0);
  EXPECT_EQ(value_or_die(c->quarantine_size()), 1);
  EXPECT_EQ(value_or_die(c->quarantine(10))[0].reason, "bad int");

  Status changed = c->initialize("fp2", 7);
  EXPECT_EQ(changed.code(), Code::kConfig);
  EXPECT_NE(changed.message().find("fp2"), std::string::npos);
  EXPECT_NE(changed.message().find("fp1"), std::string::npos);
  Status shorter = c->initialize("fp1", 1);
  EXPECT_FALSE(shorter.ok());
}

// Two processes of one host starting at once (a backfill on each of two
// workers, a service and its operator) open a fresh SQLite control store
// together: each must get it, not a "database is locked".
TEST(ControlStore, ProcessesOpeningAFreshStoreAtOnceAllGetIt) {
  for (int round = 0; round < 20; ++round) {
    TempDir dir;
    const std::string path = dir.file("control.db");
    std::vector<Status> results(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < results.size(); ++t) {
      threads.emplace_back([&, t] { results[t] = open_control_store(path).status(); });
    }
    for (auto& t : threads) t.join();
    SCOPED_TRACE(round);
    for (const Status& s : results) ASSERT_OK(s);
  }
}

TEST(ControlStore, HeartbeatsUpsertAndInstancesDeregister) {
  TempDir dir;
  auto c = value_or_die(open_control_store(dir.file("control.db")));
  ASSERT_OK(c->initialize("fp", 7));
  InstanceHeartbeat h{"a", "host", 1, now_micros(), now_micros(), 1, 0};
  ASSERT_OK(c->heartbeat(h));
  h.applied_version = 2;
  h.applied_step_index = 1;
  ASSERT_OK(c->heartbeat(h));
  auto all = value_or_die(c->instances());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].applied_version, 2);
  ASSERT_OK(c->remove_instance("a"));
  EXPECT_TRUE(value_or_die(c->instances()).empty());
}

TEST(ControlStore, ShadowSamplesAreCapped) {
  TempDir dir;
  auto c = value_or_die(open_control_store(dir.file("control.db")));
  ASSERT_OK(c->initialize("fp", 7));
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(c->add_shadow_sample({"users", std::to_string(i), MismatchKind::kDifferent, "a", "b", {}}, 3));
  }
  EXPECT_EQ(value_or_die(c->shadow_samples(10)).size(), 3u);
  ASSERT_OK(c->add_shadow_mismatches("users", MismatchKind::kDifferent, 2));
  ASSERT_OK(c->add_shadow_mismatches("users", MismatchKind::kDifferent, 5));
  EXPECT_EQ((value_or_die(c->shadow_counters())[{"users", MismatchKind::kDifferent}]), 7);
}

TEST(ControlStore, UnsupportedUrlIsAConfigErrorWithoutThePassword) {
  auto r = open_control_store("postgres://admin:s3cret@db.internal/tandem");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kConfig);
  EXPECT_EQ(r.status().message().find("s3cret"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("admin:***@"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace tandem::testing

namespace tandem::testing {
namespace {

// A control file made before heartbeats recorded their lease (no lease_ms
// column) gains the column when opened, and keeps its instances.
TEST(ControlStore, AnOlderControlFileGainsTheNewColumns) {
  TempDir dir;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.file("control.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(
                  db,
                  "CREATE TABLE tandem_instances (instance_id TEXT PRIMARY KEY, host TEXT NOT NULL, "
                  "pid INTEGER NOT NULL, started_at INTEGER NOT NULL, heartbeat_at INTEGER NOT NULL, "
                  "applied_version INTEGER NOT NULL, applied_step_index INTEGER NOT NULL); "
                  "INSERT INTO tandem_instances VALUES ('old-1', 'h', 7, 1, 2, 1, 0); "
                  "CREATE TABLE tandem_backfill_ranges (collection TEXT NOT NULL, range_id INTEGER NOT NULL, "
                  "begin_key BLOB, end_key BLOB, cursor BLOB, done INTEGER NOT NULL DEFAULT 0, "
                  "lease_owner TEXT NOT NULL DEFAULT '', lease_until INTEGER NOT NULL DEFAULT 0, "
                  "scanned INTEGER NOT NULL DEFAULT 0, copied INTEGER NOT NULL DEFAULT 0, "
                  "present INTEGER NOT NULL DEFAULT 0, locked INTEGER NOT NULL DEFAULT 0, "
                  "tombstoned INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0, "
                  "PRIMARY KEY (collection, range_id)); "
                  "INSERT INTO tandem_backfill_ranges (collection, range_id, lease_owner, scanned) "
                  "VALUES ('users', 0, 'w', 5);",
                  nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto c = value_or_die(open_control_store(dir.file("control.db")));
  auto listed = value_or_die(c->instances());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].instance_id, "old-1");
  EXPECT_EQ(listed[0].lease, std::chrono::milliseconds(0));
  ASSERT_OK(c->heartbeat({"new-1", "h", 8, WallTime{}, WallTime{}, 1, 0, std::chrono::seconds(30)}));
  for (const InstanceHeartbeat& h : value_or_die(c->instances())) {
    EXPECT_EQ(h.lease,
              h.instance_id == "new-1" ? std::chrono::milliseconds(30000) : std::chrono::milliseconds(0));
  }
  // The ranges gained their claim columns (zero until the next claim).
  auto ranges = value_or_die(c->backfill_ranges("users"));
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].counts.scanned, 5);
  EXPECT_EQ(ranges[0].claimed_at, WallTime{});
  c.reset();
  c = value_or_die(open_control_store(dir.file("control.db")));  // opened again: nothing to add
  EXPECT_EQ(value_or_die(c->instances()).size(), 2u);
}

}  // namespace
}  // namespace tandem::testing
