// The control store's contract, the same tests on every engine: SQLite (a
// file), PostgreSQL and MariaDB (the servers scripts/test.sh starts; each test
// gets a database of its own, dropped after). Every ControlStore method, its
// atomicity under concurrent callers on two store objects, and on the servers
// (concurrency and the servers' failures: control_store_race_test.cc).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "control_store_fixture.h"

namespace tandem::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class ControlStoreConformance : public ControlStoreTest {};

const std::string kBinaryKey = std::string("k\0\xff\x01z", 5);

TEST_P(ControlStoreConformance, StepsAreVersionedAndRecorded) {
  auto s = store_->current_step();
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->step_index, 0u);
  EXPECT_EQ(s->version, 1);
  expect_near(s->changed_at, store_now());

  auto moved = store_->change_step(1, 1, "forward", false, "alice@h pid 1", {});
  ASSERT_TRUE(moved.ok()) << moved.status().to_string();
  EXPECT_EQ(moved->version, 2);
  EXPECT_EQ(moved->step_index, 1u);
  expect_near(moved->changed_at, store_now());

  auto stale = store_->change_step(1, 2, "stale", false, "bob", {});
  EXPECT_EQ(stale.status().code(), Code::kFailedPrecondition) << stale.status().to_string();
  ASSERT_TRUE(store_->change_step(2, 0, "back, forced", true, "carol", {}).ok());

  auto cur = store_->current_step();
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(cur->step_index, 0u);
  EXPECT_EQ(cur->version, 3);

  auto h = store_->history(10);
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].version, 3);  // most recent first
  EXPECT_EQ((*h)[0].from_index, 1u);
  EXPECT_EQ((*h)[0].to_index, 0u);
  EXPECT_TRUE((*h)[0].forced);
  EXPECT_EQ((*h)[0].reason, "back, forced");
  EXPECT_EQ((*h)[0].actor, "carol");
  EXPECT_EQ((*h)[1].version, 2);
  EXPECT_FALSE((*h)[1].forced);
  EXPECT_EQ((*h)[1].actor, "alice@h pid 1");
  EXPECT_LE((*h)[1].at, (*h)[0].at);
  auto one = store_->history(1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

TEST_P(ControlStoreConformance, AFreshStoreContinuesAfterAFenceAndAMovedOneRefusesTo) {
  auto continued = store_->continue_after_fence(41, "after new's fence", "dave");
  ASSERT_TRUE(continued.ok()) << continued.status().to_string();
  EXPECT_EQ(continued->version, 42);
  EXPECT_EQ(continued->step_index, 0u);
  auto cur = store_->current_step();
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(cur->version, 42);
  auto h = store_->history(10);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].version, 42);
  EXPECT_EQ((*h)[0].from_index, 0u);
  EXPECT_EQ((*h)[0].to_index, 0u);
  EXPECT_EQ((*h)[0].reason, "after new's fence");
  EXPECT_EQ((*h)[0].actor, "dave");
  // Already above: nothing changes.
  auto again = store_->continue_after_fence(10, "lower", "dave");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->version, 42);
  // Steps moved: a fence ahead means a second control store; refused, nothing changes.
  ASSERT_TRUE(store_->change_step(42, 1, "forward", false, "erin", {}).ok());
  auto refused = store_->continue_after_fence(50, "ahead", "dave");
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("two control stores steer one new database"), std::string::npos)
      << refused.status().to_string();
  cur = store_->current_step();
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(cur->version, 43);
  EXPECT_EQ(cur->step_index, 1u);
}

TEST_P(ControlStoreConformance, FingerprintIsCheckedOnReopen) {
  auto again = open_or_fail(db_->url());
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(again->initialize("fingerprint-1", 5).ok());
  Status other = again->initialize("fingerprint-2", 5);
  EXPECT_EQ(other.code(), Code::kConfig) << other.to_string();
  EXPECT_NE(other.message().find("fingerprint-1"), std::string::npos) << other.to_string();
  EXPECT_NE(other.message().find("fingerprint-2"), std::string::npos) << other.to_string();
  ASSERT_TRUE(store_->change_step(1, 3, "to 4", false, "a", {}).ok());
  EXPECT_EQ(again->initialize("fingerprint-1", 3).code(), Code::kCorruption);
  auto cur = again->current_step();
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(cur->step_index, 3u);  // the reopened store sees the first one's state
}

TEST_P(ControlStoreConformance, FinishedRefusesMoves) {
  auto none = store_->finished();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  FinishRecord wrong{store_now(), "dave", 0, 7};
  EXPECT_EQ(store_->mark_finished(wrong).code(), Code::kFailedPrecondition);
  FinishRecord record{WallTime(std::chrono::microseconds(1700000000123456)), "dave@h pid 9", 0, 1};
  ASSERT_TRUE(store_->mark_finished(record).ok());
  FinishRecord later{store_now(), "eve", 0, 1};
  ASSERT_TRUE(store_->mark_finished(later).ok());  // idempotent: the first record stays
  auto done = store_->finished();
  ASSERT_TRUE(done.ok() && done->has_value());
  EXPECT_EQ((*done)->actor, "dave@h pid 9");
  EXPECT_EQ((*done)->at, record.at);
  EXPECT_EQ((*done)->version, 1);
  EXPECT_EQ(store_->change_step(1, 1, "after finish", false, "a", {}).status().code(),
            Code::kFailedPrecondition);
}

TEST_P(ControlStoreConformance, ChangeStepRefusedWhileRepairsAreQueued) {
  ASSERT_TRUE(
      store_->enqueue_repair({0, "users", kBinaryKey, "id=1", Side::kNew, "copy failed", {}, 0}).ok());
  auto refused = store_->change_step(1, 1, "move", false, "a", {Side::kNew});
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("repair"), std::string::npos);
  auto cur = store_->current_step();
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(cur->version, 1);  // nothing moved
  EXPECT_TRUE(store_->change_step(1, 1, "move", false, "a", {Side::kOld}).ok());
}

TEST_P(ControlStoreConformance, InstancesHeartbeatByTheStoreClock) {
  WallTime before = store_now();
  InstanceHeartbeat h{"i-1", "host-a", 101, before, WallTime{}, 1, 0, seconds(60)};  // heartbeat_at ignored
  ASSERT_TRUE(store_->heartbeat(h).ok());
  h.applied_version = 2;
  h.applied_step_index = 1;
  ASSERT_TRUE(store_->heartbeat(h).ok());  // an upsert
  ASSERT_TRUE(store_->heartbeat({"i-2", "host-b", 202, before + seconds(1), WallTime{}, 1, 0}).ok());
  auto list = store_->instances();
  ASSERT_TRUE(list.ok()) << list.status().to_string();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].instance_id, "i-1");
  EXPECT_EQ((*list)[0].host, "host-a");
  EXPECT_EQ((*list)[0].pid, 101);
  EXPECT_EQ((*list)[0].started_at, before);
  EXPECT_EQ((*list)[0].applied_version, 2);
  EXPECT_EQ((*list)[0].applied_step_index, 1u);
  expect_near((*list)[0].heartbeat_at, store_now());
  EXPECT_GE((*list)[0].heartbeat_at, before);
  EXPECT_TRUE(instance_is_live((*list)[0], store_now(), milliseconds(5000)));
  // Its own lease (60 s) counts for a caller configured with a shorter one.
  EXPECT_EQ((*list)[0].lease, seconds(60));
  EXPECT_TRUE(instance_is_live((*list)[0], (*list)[0].heartbeat_at + seconds(20), seconds(10)));
  EXPECT_FALSE(instance_is_live((*list)[0], (*list)[0].heartbeat_at + seconds(61), seconds(10)));

  ASSERT_TRUE(store_->remove_instance("i-2").ok());
  auto removed = store_->remove_instances_before(before - seconds(60));
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0);  // i-1 has just heartbeated

  // Refused by the store itself while the instance's own lease runs (found
  // by review: the check was only the caller's, outside the transaction,
  // with the caller's lease).
  auto live = store_->forget_instance("i-1", "host lost", "ops@h pid 3", milliseconds(10));
  EXPECT_EQ(live.status().code(), Code::kFailedPrecondition) << live.status().to_string();
  EXPECT_NE(live.status().message().find("renewed its lease"), std::string::npos)
      << live.status().to_string();
  h.lease = milliseconds(0);
  ASSERT_TRUE(store_->heartbeat(h).ok());
  std::this_thread::sleep_for(milliseconds(30));
  auto forgotten = store_->forget_instance("i-1", "host lost", "ops@h pid 3", milliseconds(10));
  ASSERT_TRUE(forgotten.ok()) << forgotten.status().to_string();
  EXPECT_EQ(forgotten->host, "host-a");
  EXPECT_EQ(forgotten->step_version, 1);
  expect_near(forgotten->at, store_now());
  EXPECT_EQ(store_->forget_instance("i-1", "again", "ops", milliseconds(10)).status().code(),
            Code::kNotFound);
  auto log = store_->forgotten_instances(10);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].instance_id, "i-1");
  EXPECT_EQ((*log)[0].reason, "host lost");
  EXPECT_EQ((*log)[0].actor, "ops@h pid 3");
  EXPECT_EQ((*log)[0].last_heartbeat, forgotten->last_heartbeat);
  list = store_->instances();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());

  ASSERT_TRUE(store_->heartbeat({"i-3", "host-c", 3, before, WallTime{}, 1, 0, seconds(60)}).ok());
  auto kept = store_->remove_instances_before(store_now() + seconds(1));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, 0);  // its own lease runs
  ASSERT_TRUE(store_->heartbeat({"i-3", "host-c", 3, before, WallTime{}, 1, 0}).ok());
  auto gone = store_->remove_instances_before(store_now() + seconds(1));
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(*gone, 1);
}

// An instance's refresh: the heartbeat written (an upsert, by the store's
// clock) and the current step read, in one call.
TEST_P(ControlStoreConformance, ARefreshWritesTheHeartbeatAndReadsTheStep) {
  WallTime before = store_now();
  InstanceHeartbeat h{"i-1", "host-a", 7, before, WallTime{}, 1, 0, seconds(30)};
  auto first = store_->heartbeat_and_read_step(h);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(first->version, 1);
  EXPECT_EQ(first->step_index, 0u);
  ASSERT_TRUE(store_->change_step(1, 2, "move", false, "a", {}).ok());
  h.applied_version = 1;
  auto second = store_->heartbeat_and_read_step(h);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second->version, 2);
  EXPECT_EQ(second->step_index, 2u);
  auto cur = store_->current_step();
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(second->changed_at, cur->changed_at);
  auto list = store_->instances();
  ASSERT_TRUE(list.ok()) << list.status().to_string();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].host, "host-a");
  EXPECT_EQ((*list)[0].lease, seconds(30));
  EXPECT_GE((*list)[0].heartbeat_at, before);
  expect_near((*list)[0].heartbeat_at, store_now());
}

TEST_P(ControlStoreConformance, RepairQueueOldestFirst) {
  for (int i = 0; i < 3; ++i) {
    Side side = i == 1 ? Side::kOld : Side::kNew;
    ASSERT_TRUE(store_
                    ->enqueue_repair(
                        {0, "users", kBinaryKey + char('0' + i), fmt::format("id={}", i), side, "r", {}, 0})
                    .ok());
  }
  auto batch = store_->repair_batch(10);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  ASSERT_EQ(batch->size(), 3u);
  EXPECT_EQ((*batch)[0].key, kBinaryKey + '0');
  EXPECT_EQ((*batch)[1].target, Side::kOld);
  EXPECT_LT((*batch)[0].id, (*batch)[1].id);
  EXPECT_LT((*batch)[1].id, (*batch)[2].id);
  expect_near((*batch)[0].enqueued_at, store_now());
  ASSERT_TRUE(store_->fail_repair((*batch)[0].id, "still failing").ok());
  auto counts = store_->repair_counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[Side::kNew], 2);
  EXPECT_EQ((*counts)[Side::kOld], 1);
  ASSERT_TRUE(store_->complete_repair((*batch)[1].id).ok());
  auto rest = store_->repair_batch(1);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].attempts, 1);
  EXPECT_EQ((*rest)[0].reason, "still failing");
  counts = store_->repair_counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[Side::kOld], 0);
}

TEST_P(ControlStoreConformance, QuarantineKeepsBytes) {
  std::string raw("\xff\x00\x80 raw", 7);
  ASSERT_TRUE(store_->add_quarantine({0, "users", kBinaryKey, "id=?", "email", raw, "bad UTF-8", {}}).ok());
  ASSERT_TRUE(store_->add_quarantine({0, "users", "", "", "", "", "unreadable key", {}}).ok());
  auto size = store_->quarantine_size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 2);
  auto q = store_->quarantine(10);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  ASSERT_EQ(q->size(), 2u);
  EXPECT_EQ((*q)[0].key, kBinaryKey);
  EXPECT_EQ((*q)[0].raw, raw);
  EXPECT_EQ((*q)[0].field, "email");
  EXPECT_EQ((*q)[1].reason, "unreadable key");
  expect_near((*q)[0].at, store_now());
  ASSERT_TRUE(store_->remove_quarantine((*q)[0].id).ok());
  size = store_->quarantine_size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 1);
}

TEST_P(ControlStoreConformance, ShadowCountersAddUpAndSamplesAreCapped) {
  ASSERT_TRUE(store_->add_shadow_mismatches("users", MismatchKind::kDifferent, 2).ok());
  ASSERT_TRUE(store_->add_shadow_mismatches("users", MismatchKind::kDifferent, 3).ok());
  ASSERT_TRUE(store_->add_shadow_mismatches("orders", MismatchKind::kSecondaryError, 1).ok());
  auto counters = store_->shadow_counters();
  ASSERT_TRUE(counters.ok()) << counters.status().to_string();
  EXPECT_EQ(counters->size(), 2u);
  EXPECT_EQ((*counters)[std::make_pair(std::string("users"), MismatchKind::kDifferent)], 5);
  EXPECT_EQ((*counters)[std::make_pair(std::string("orders"), MismatchKind::kSecondaryError)], 1);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        store_
            ->add_shadow_sample(
                {"users", fmt::format("id={}", i), MismatchKind::kMissingInSecondary, "{a:1}", "", {}}, 2)
            .ok());
  }
  auto samples = store_->shadow_samples(10);
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0].key_display, "id=0");
  EXPECT_EQ((*samples)[0].kind, MismatchKind::kMissingInSecondary);
  EXPECT_EQ((*samples)[0].primary, "{a:1}");
  expect_near((*samples)[0].at, store_now());
}

using Ranges = std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>;

TEST_P(ControlStoreConformance, BackfillLedger) {
  Ranges ranges = {{std::nullopt, kBinaryKey},
                   {kBinaryKey, std::string("\xff\xff", 2)},
                   {std::string("\xff\xff", 2), std::nullopt}};
  ASSERT_TRUE(store_->plan_backfill("users", ranges, 300).ok());
  ASSERT_TRUE(store_->plan_backfill("users", {{std::nullopt, std::nullopt}}, 1).ok());  // no-op
  auto state = store_->backfill_state("users");
  ASSERT_TRUE(state.ok()) << state.status().to_string();
  EXPECT_TRUE(state->planned);
  EXPECT_EQ(state->ranges, 3u);
  EXPECT_EQ(state->total_estimate, 300);
  EXPECT_FALSE(state->complete);
  expect_near(state->started_at, store_now());
  auto listed = store_->backfill_ranges("users");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_FALSE((*listed)[0].begin.has_value());
  EXPECT_EQ((*listed)[0].end, kBinaryKey);
  EXPECT_EQ((*listed)[1].begin, kBinaryKey);
  EXPECT_FALSE((*listed)[2].end.has_value());

  auto a = store_->claim_backfill_range("users", "worker-a", seconds(60), nullptr);
  ASSERT_TRUE(a.ok() && a->has_value()) << a.status().to_string();
  EXPECT_EQ((*a)->id, 0);
  EXPECT_EQ((*a)->lease_owner, "worker-a");
  expect_near((*a)->lease_until, store_now() + seconds(60));
  auto b = store_->claim_backfill_range("users", "worker-b", seconds(60), nullptr);
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->id, 1);  // range 0 is held
  EXPECT_EQ(
      store_->checkpoint_backfill("users", 0, "worker-b", kBinaryKey, {1, 1, 0, 0, 0, 0}, false, seconds(60))
          .code(),
      Code::kFailedPrecondition);

  std::string cursor("a\0b", 3);
  ASSERT_TRUE(
      store_->checkpoint_backfill("users", 0, "worker-a", cursor, {10, 7, 1, 1, 1, 0}, false, seconds(60))
          .ok());
  // Found by review: a checkpoint retried after a lost COMMIT that had in
  // fact landed (a control restart at the wrong moment) added its counts
  // twice. The same cursor again renews the lease and adds nothing.
  ASSERT_TRUE(
      store_->checkpoint_backfill("users", 0, "worker-a", cursor, {10, 7, 1, 1, 1, 0}, false, seconds(90))
          .ok());
  listed = store_->backfill_ranges("users");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)[0].counts.scanned, 10);
  EXPECT_EQ((*listed)[0].counts.copied, 7);
  expect_near((*listed)[0].lease_until, store_now() + seconds(90));
  // But not for another worker.
  EXPECT_EQ(
      store_->checkpoint_backfill("users", 0, "worker-b", cursor, {10, 7, 1, 1, 1, 0}, false, seconds(60))
          .code(),
      Code::kFailedPrecondition);
  ASSERT_TRUE(
      store_->checkpoint_backfill("users", 0, "worker-a", std::nullopt, {5, 4, 0, 0, 0, 1}, true, seconds(60))
          .ok());
  ASSERT_TRUE(
      store_->checkpoint_backfill("users", 1, "worker-b", std::nullopt, {2, 2, 0, 0, 0, 0}, true, seconds(60))
          .ok());
  listed = store_->backfill_ranges("users");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)[0].cursor, cursor);  // a checkpoint without a cursor keeps the last one
  EXPECT_TRUE((*listed)[0].done);
  EXPECT_EQ((*listed)[0].counts.scanned, 15);
  state = store_->backfill_state("users");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->ranges_done, 2u);
  EXPECT_FALSE(state->complete);
  EXPECT_EQ(state->counts.scanned, 17);
  EXPECT_EQ(state->counts.copied, 13);
  EXPECT_EQ(state->counts.present, 1);
  EXPECT_EQ(state->counts.locked, 1);
  EXPECT_EQ(state->counts.tombstoned, 1);
  EXPECT_EQ(state->counts.quarantined, 1);

  // Range 2: claimed by c, released, claimed by d, finished: the backfill is complete.
  auto c = store_->claim_backfill_range("users", "worker-c", seconds(60), nullptr);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->id, 2);
  auto none = store_->claim_backfill_range("users", "worker-d", seconds(60), nullptr);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store_->release_backfill_range("users", 2, "worker-c").ok());
  auto d = store_->claim_backfill_range("users", "worker-d", seconds(60), nullptr);
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->id, 2);
  EXPECT_EQ((*d)->taken_from, "");  // released: not a takeover
  ASSERT_TRUE(store_->checkpoint_backfill("users", 2, "worker-d", std::nullopt, {}, true, seconds(60)).ok());
  state = store_->backfill_state("users");
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->complete);
  EXPECT_EQ(state->ranges_done, 3u);
  expect_near(state->completed_at, store_now());

  ASSERT_TRUE(store_->set_backfill_paused("users", true).ok());
  state = store_->backfill_state("users");
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->paused);
  EXPECT_EQ(store_->set_backfill_paused("nothing", true).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(store_->reset_backfill("users").ok());
  state = store_->backfill_state("users");
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->planned);
  listed = store_->backfill_ranges("users");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_P(ControlStoreConformance, BackfillLeaseTakeover) {
  ASSERT_TRUE(store_->plan_backfill("users", {{std::nullopt, std::nullopt}}, 10).ok());
  auto a = store_->claim_backfill_range("users", "worker-a", milliseconds(1), nullptr);
  ASSERT_TRUE(a.ok() && a->has_value());
  std::this_thread::sleep_for(milliseconds(50));
  auto b = store_->claim_backfill_range("users", "worker-b", seconds(60), nullptr);  // a's lease expired
  ASSERT_TRUE(b.ok() && b->has_value()) << b.status().to_string();
  EXPECT_EQ((*b)->lease_owner, "worker-b");
  EXPECT_EQ((*b)->taken_from, "worker-a");
  // Each claim records its time and the range's count then (a worker's rate).
  ASSERT_TRUE(
      store_->checkpoint_backfill("users", 0, "worker-b", "k3", {3, 3, 0, 0, 0, 0}, false, seconds(60)).ok());
  expect_near((*b)->claimed_at, store_now());
  EXPECT_EQ((*b)->scanned_at_claim, 0);
  auto listed = store_->backfill_ranges("users");
  ASSERT_TRUE(listed.ok() && listed->size() == 1u);
  EXPECT_EQ((*listed)[0].claimed_at, (*b)->claimed_at);
  EXPECT_EQ((*listed)[0].scanned_at_claim, 0);
  Status refused = store_->checkpoint_backfill("users", 0, "worker-a", std::nullopt, {1, 1, 0, 0, 0, 0},
                                               false, seconds(60));
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition) << refused.to_string();
  // A held lease is taken only from an owner the caller knows to be gone.
  auto held = store_->claim_backfill_range("users", "worker-c", seconds(60),
                                           [](const std::string&) { return false; });
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(held->has_value());
  auto taken = store_->claim_backfill_range("users", "worker-c", seconds(60),
                                            [](const std::string& owner) { return owner == "worker-b"; });
  ASSERT_TRUE(taken.ok() && taken->has_value());
  EXPECT_EQ((*taken)->lease_owner, "worker-c");
  EXPECT_EQ((*taken)->taken_from, "worker-b");
  EXPECT_EQ((*taken)->scanned_at_claim, 3);
  EXPECT_GE((*taken)->claimed_at, (*b)->claimed_at);
  listed = store_->backfill_ranges("users");
  ASSERT_TRUE(listed.ok() && listed->size() == 1u);
  EXPECT_EQ((*listed)[0].scanned_at_claim, 3);
  EXPECT_EQ((*listed)[0].claimed_at, (*taken)->claimed_at);
  auto state = store_->backfill_state("users");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->counts.scanned, 3);  // the refused checkpoint counted nothing
}

TEST_P(ControlStoreConformance, VerifyLedger) {
  auto none = store_->latest_verify("users");
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_FALSE(none->has_value());
  WallTime at(std::chrono::microseconds(1700000000654321));
  ASSERT_TRUE(store_->record_verify({0, "users", at, 1, false, 10, 1, 2, 3, 0, 0.5}).ok());
  ASSERT_TRUE(store_->record_verify({0, "users", at + seconds(1), 2, true, 11, 0, 0, 0, 4, 1.25}).ok());
  ASSERT_TRUE(store_->record_verify({0, "orders", at, 2, true, 1, 0, 0, 0, 0, 0.125}).ok());
  auto latest = store_->latest_verify("users");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->collection, "users");
  EXPECT_EQ((*latest)->at, at + seconds(1));
  EXPECT_EQ((*latest)->step_version, 2);
  EXPECT_TRUE((*latest)->clean);
  EXPECT_EQ((*latest)->records, 11);
  EXPECT_EQ((*latest)->resurrected, 4);
  EXPECT_DOUBLE_EQ((*latest)->seconds, 1.25);
}

INSTANTIATE_TEST_SUITE_P(Engines, ControlStoreConformance,
                         ::testing::Values(Engine::kSqlite, Engine::kPostgres, Engine::kMariaDb),
                         engine_test_name);

}  // namespace
}  // namespace tandem::testing
