#include "router/step_rules.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

class StepRules : public ::testing::Test {
 protected:
  std::vector<MoveProblem> check(size_t from, size_t to) {
    MoveContext c;
    c.plan = &plan_;
    c.current = StepState{from, 10, {}};
    c.to_index = to;
    c.instances = instances_;
    c.now = now_micros();
    c.instance_timeout = std::chrono::seconds(10);
    c.pending_repairs = repairs_;
    c.backfills = backfills_;
    c.verifies = verifies_;
    return check_step_move(c);
  }
  static std::string all(const std::vector<MoveProblem>& ps) {
    std::string out;
    for (const auto& p : ps) out += p.what + " | " + p.fix + "\n";
    return out;
  }
  Plan plan_ = Plan::default_plan();
  std::vector<InstanceHeartbeat> instances_;
  std::map<Side, int64_t> repairs_;
  std::map<std::string, BackfillState> backfills_;
  std::map<std::string, std::optional<VerifyRun>> verifies_;
};

TEST_F(StepRules, ReadingNewNeedsACompleteBackfillAndACleanVerifyAfterIt) {
  backfills_["users"] = BackfillState{};
  EXPECT_NE(all(check(2, 3)).find("backfill of 'users' is not started"), std::string::npos)
      << all(check(2, 3));
  BackfillState done;
  done.planned = done.complete = true;
  done.ranges = done.ranges_done = 4;
  done.completed_at = now_micros() - std::chrono::seconds(10);
  backfills_["users"] = done;
  EXPECT_NE(all(check(2, 3)).find("has not been verified"), std::string::npos);
  VerifyRun v;
  v.at = done.completed_at - std::chrono::seconds(1);
  v.clean = true;
  verifies_["users"] = v;
  EXPECT_NE(all(check(2, 3)).find("ran before its backfill completed"), std::string::npos);
  v.at = now_micros();
  v.clean = false;
  v.missing = 3;
  verifies_["users"] = v;
  EXPECT_NE(all(check(2, 3)).find("found 3 missing"), std::string::npos);
  EXPECT_NE(all(check(2, 3)).find("tandem verify --repair"), std::string::npos);
  v.clean = true;
  v.missing = 0;
  verifies_["users"] = v;
  EXPECT_TRUE(check(2, 3).empty()) << all(check(2, 3));
  // Only the move into reading new needs it.
  backfills_["users"] = BackfillState{};
  EXPECT_TRUE(check(1, 2).empty());
  EXPECT_TRUE(check(4, 3).empty());
}

TEST_F(StepRules, EveryForwardStepIsAllowedWhenNothingIsPending) {
  for (size_t i = 0; i + 1 < plan_.size(); ++i)
    EXPECT_TRUE(check(i, i + 1).empty()) << i << all(check(i, i + 1));
}

TEST_F(StepRules, BackIsAllowedOnlyWhereTheTargetsDatabasesWereWritten) {
  // Index: 0 old-only, 1 dual-write, 2 shadow-read, 3 read-new, 4 write-new, 5 old-read-only, 6 new-only.
  EXPECT_TRUE(check(1, 0).empty());
  EXPECT_TRUE(check(2, 1).empty());
  EXPECT_TRUE(check(3, 2).empty());
  EXPECT_TRUE(check(4, 3).empty()) << "old still receives every write at write-new";
  EXPECT_TRUE(check(4, 1).empty());
  EXPECT_TRUE(check(6, 5).empty());
  auto p = check(5, 4);
  ASSERT_EQ(p.size(), 1u) << all(p);
  EXPECT_NE(p[0].what.find("old is not written at the current step 6 (old-read-only)"), std::string::npos)
      << all(p);
  EXPECT_NE(p[0].fix.find("--force"), std::string::npos);
  EXPECT_FALSE(check(6, 3).empty());
}

TEST_F(StepRules, ForwardJumpsAreRefused) {
  auto p = check(0, 2);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].fix.find("tandem step next"), std::string::npos);
  EXPECT_FALSE(check(0, 0).empty());
  EXPECT_FALSE(check(0, 7).empty());
}

TEST_F(StepRules, LiveInstancesMustHaveAppliedTheCurrentVersion) {
  instances_.push_back({"api-1", "h1", 11, now_micros(), now_micros(), 9, 0});
  instances_.push_back({"api-2", "h2", 12, now_micros(), now_micros(), 10, 1});
  instances_.push_back({"dead", "h3", 13, now_micros(), now_micros() - std::chrono::minutes(5), 3, 0});
  auto p = check(1, 2);
  ASSERT_EQ(p.size(), 1u) << all(p);
  EXPECT_NE(p[0].what.find("instance api-1"), std::string::npos);
  EXPECT_NE(p[0].what.find("version 9"), std::string::npos);
}

TEST_F(StepRules, PendingRepairsBlockMovesThatNeedTheirTarget) {
  repairs_[Side::kNew] = 4;
  EXPECT_TRUE(check(1, 2).empty()) << "new stays write secondary at shadow-read";
  auto p = check(2, 3);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].what.find("4 key(s)"), std::string::npos);
  EXPECT_NE(p[0].what.find("make it a primary"), std::string::npos);
  EXPECT_FALSE(check(1, 0).empty()) << "moving to old-only stops writing new";
  repairs_[Side::kNew] = 0;
  repairs_[Side::kOld] = 2;
  EXPECT_FALSE(check(4, 5).empty()) << "old-read-only stops writing old";
  EXPECT_FALSE(check(4, 3).empty()) << "read-new makes old the write primary";
}

TEST_F(StepRules, ABackfillNeedsNewWrittenAtTheCurrentStepAndByEveryLiveInstance) {
  auto start = [&](size_t at) {
    BackfillStartContext c;
    c.plan = &plan_;
    c.current = StepState{at, 10, {}};
    c.instances = instances_;
    c.now = now_micros();
    c.instance_timeout = std::chrono::seconds(10);
    return check_backfill_start(c);
  };
  auto p = start(0);
  ASSERT_EQ(p.size(), 1u) << all(p);
  EXPECT_NE(p[0].what.find("new does not receive every write"), std::string::npos) << all(p);
  EXPECT_NE(p[0].fix.find("--old-is-frozen"), std::string::npos);
  EXPECT_TRUE(start(1).empty()) << all(start(1));
  instances_.push_back({"api-1", "h1", 11, now_micros(), now_micros(), 9, 0});
  instances_.push_back({"dead", "h3", 13, now_micros(), now_micros() - std::chrono::minutes(5), 3, 0});
  p = start(1);
  ASSERT_EQ(p.size(), 1u) << all(p);
  EXPECT_NE(p[0].what.find("instance api-1"), std::string::npos) << all(p);
}

TEST_F(StepRules, AnInstanceIsLiveUntilItsHeartbeatIsOlderThanTheTimeout) {
  const WallTime now = now_micros();
  InstanceHeartbeat h{"api-1", "h1", 11, now, now - std::chrono::seconds(10), 1, 0};
  EXPECT_TRUE(instance_is_live(h, now, std::chrono::seconds(10)));
  h.heartbeat_at -= std::chrono::microseconds(1);
  EXPECT_FALSE(instance_is_live(h, now, std::chrono::seconds(10)));
}

TEST_F(StepRules, RefusedMovesAreListedWithWhatToDo) {
  EXPECT_EQ(format_move_problems({}), "");
  EXPECT_EQ(format_move_problems({{"a", "fix a"}, {"b", ""}}), "\n  - a\n    what to do: fix a\n  - b");
}

}  // namespace
}  // namespace tandem
