// Each of the default plan's seven steps routes reads and writes to exactly
// the databases its roles name, counted with a StoreWrapper on each database.
#include "test_support.h"

namespace tandem::testing {
namespace {

struct Expect {
  bool reads;
  bool writes;
};

class RoutingTest : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    // Key 1 exists in both databases, key 2 exists in neither.
    f_ = std::make_unique<MigrationFixture>(std::vector<Record>{user(1, "one")});
    ASSERT_OK(f_->raw(Side::kNew).upsert("users", user(1, "one")));
    f_->jump_to_step(GetParam());
    step_ = f_->config.plan.at(GetParam());
  }

  void reset() {
    f_->old_counting->reset();
    f_->new_counting->reset();
  }

  void expect(Side side, Expect e, std::string_view op) {
    CountingStore& c = f_->counter(side);
    SCOPED_TRACE(
        fmt::format("step {} ({}), {} on {}", GetParam() + 1, step_.roles_display(), op, side_name(side)));
    EXPECT_EQ(c.reads > 0, e.reads) << "reads: " << c.reads;
    EXPECT_EQ(c.writes > 0, e.writes) << "writes: " << c.writes;
    if (!step_.uses(side)) {
      EXPECT_EQ(c.total(), 0) << "a database the step does not name was touched";
    }
  }

  std::unique_ptr<MigrationFixture> f_;
  Step step_;
};

TEST_P(RoutingTest, ReadOfPresentRecordGoesToReadPrimaryAndShadowOnly) {
  reset();
  auto got = f_->users->get(Key{Value(int64_t{1})});
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  for (Side side : {Side::kOld, Side::kNew}) {
    bool shadow = step_.read_secondary == side && step_.read_secondary_mode == ReadSecondaryMode::kShadow;
    expect(side, {step_.read_primary == side || shadow, false}, "get(present)");
  }
}

TEST_P(RoutingTest, ReadOfMissingRecordFallsBackOnlyToReadSecondary) {
  reset();
  auto got = f_->users->get(Key{Value(int64_t{2})});
  ASSERT_OK(got);
  EXPECT_FALSE(got->has_value());
  for (Side side : {Side::kOld, Side::kNew}) {
    expect(side, {step_.read_primary == side || step_.read_secondary == side, false}, "get(missing)");
  }
}

TEST_P(RoutingTest, WritesGoToWritePrimaryAndWriteSecondaryOnly) {
  struct Op {
    const char* name;
    std::function<Status()> run;
  };
  std::vector<Op> ops = {
      {"put", [&] { return f_->users->put(user(1, "renamed")); }},
      {"patch",
       [&] {
         return f_->users->patch(Key{Value(int64_t{1})}, {{"age", Value(int64_t{41})}});
       }},
      {"remove", [&] { return f_->users->remove(Key{Value(int64_t{1})}); }},
      {"put(new key)", [&] { return f_->users->put(user(3, "three")); }},
  };
  for (const Op& op : ops) {
    reset();
    ASSERT_OK(op.run());
    for (Side side : {Side::kOld, Side::kNew}) {
      // The write primary is read back only to bring the write secondary up to date.
      bool reads = step_.write_primary == side && step_.write_secondary.has_value();
      expect(side, {reads, step_.writes(side)}, op.name);
    }
  }
}

TEST_P(RoutingTest, WritePrimaryAndWriteSecondaryEndEqual) {
  ASSERT_OK(f_->users->put(user(5, "five")));
  ASSERT_OK(f_->users->patch(Key{Value(int64_t{5})}, {{"name", Value("patched")}}));
  auto wp = value_or_die(f_->raw(step_.write_primary).get("users", Key{Value(int64_t{5})}));
  ASSERT_TRUE(wp.present());
  EXPECT_EQ(wp.record.fields.at("name"), Value("patched"));
  if (step_.write_secondary) {
    auto ws = value_or_die(f_->raw(*step_.write_secondary).get("users", Key{Value(int64_t{5})}));
    EXPECT_EQ(ws, wp);
  } else {
    // Not written: the other database must not have received it.
    auto other = value_or_die(f_->raw(other_side(step_.write_primary)).get("users", Key{Value(int64_t{5})}));
    EXPECT_FALSE(other.present());
  }
}

INSTANTIATE_TEST_SUITE_P(DefaultPlan, RoutingTest, ::testing::Range<size_t>(0, 7),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           std::string name = Plan::default_plan().at(info.param).name;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return fmt::format("step{}_{}", info.param + 1, name);
                         });

// Brief: a fallback read never resurrects a record deleted through tandem.
TEST(FallbackRead, TombstoneInReadPrimaryIsARealMiss) {
  MigrationFixture f({user(7, "seven")});
  f.jump_to_step(5);  // old-read-only: RP new, RS old (fallback), WP new, no WS: old is frozen
  const Key key{Value(int64_t{7})};
  // Not yet copied to new: the fallback finds it in old.
  auto before = value_or_die(f.users->get(key));
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->fields.at("name"), Value("seven"));

  ASSERT_OK(f.users->remove(key));
  // Old is frozen at this step, so it still holds the record...
  EXPECT_TRUE(value_or_die(f.raw(Side::kOld).get("users", key)).present());
  // ...but new's tombstone stops the fallback.
  EXPECT_TRUE(value_or_die(f.raw(Side::kNew).get("users", key)).tombstoned());
  int64_t fallbacks_before = f.migration->stats()[5].fallback_reads;
  auto after = value_or_die(f.users->get(key));
  EXPECT_FALSE(after.has_value()) << "resurrected: " << after->to_display();
  EXPECT_EQ(f.migration->stats()[5].fallback_reads, fallbacks_before);
  // A patch cannot bring it back through a transfer either.
  Status s = f.users->patch(key, {{"name", Value("zombie")}});
  EXPECT_EQ(s.code(), Code::kNotFound) << s.to_string();
  EXPECT_TRUE(value_or_die(f.raw(Side::kNew).get("users", key)).tombstoned());
}

TEST(FallbackRead, DeleteWhileOldIsWritePrimaryLeavesTombstoneInNew) {
  MigrationFixture f({user(8, "eight")});
  f.jump_to_step(1);  // dual-write
  const Key key{Value(int64_t{8})};
  ASSERT_OK(f.users->remove(key));
  EXPECT_FALSE(value_or_die(f.raw(Side::kOld).get("users", key)).present());
  EXPECT_TRUE(value_or_die(f.raw(Side::kNew).get("users", key)).tombstoned());
  // A copier inserting the stale version it read earlier is refused.
  auto outcome = value_or_die(
      f.raw(Side::kNew).insert_if_absent("users", std::vector{user(8, "eight")}, LockPolicy::kTryLockEach));
  EXPECT_EQ(outcome[0], InsertOutcome::kTombstoned);
  f.jump_to_step(3);  // read-new: RP new, RS old fallback
  EXPECT_FALSE(value_or_die(f.users->get(key)).has_value());
}

TEST(ShadowRead, MismatchesAreCountedSampledAndNeverReturned) {
  MigrationFixture f({user(1, "one"), user(2, "two")});
  ASSERT_OK(f.raw(Side::kNew).upsert("users", user(1, "different")));  // differs
  // key 2 missing in new; key 3 only in new
  ASSERT_OK(f.raw(Side::kNew).upsert("users", user(3, "extra")));
  f.config.shadow_sample_every = 1;
  f.reopen_migration();
  f.jump_to_step(2);  // shadow-read
  EXPECT_EQ(value_or_die(f.users->get(Key{Value(int64_t{1})}))->fields.at("name"), Value("one"));
  EXPECT_TRUE(value_or_die(f.users->get(Key{Value(int64_t{2})})).has_value());
  EXPECT_FALSE(value_or_die(f.users->get(Key{Value(int64_t{3})})).has_value());
  EXPECT_EQ(f.migration->stats()[2].shadow_mismatches, 3);
  f.reopen_migration();  // flushes the counters
  auto counters = value_or_die(f.control->shadow_counters());
  EXPECT_EQ((counters[{"users", MismatchKind::kDifferent}]), 1);
  EXPECT_EQ((counters[{"users", MismatchKind::kMissingInSecondary}]), 1);
  EXPECT_EQ((counters[{"users", MismatchKind::kExtraInSecondary}]), 1);
  auto samples = value_or_die(f.control->shadow_samples(10));
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_NE(samples[0].secondary.find("different"), std::string::npos) << samples[0].secondary;
}

TEST_P(RoutingTest, ScanReadsTheReadPrimaryOnlyAndPagesByKey) {
  ASSERT_OK(f_->raw(step_.read_primary).upsert("users", user(3, "three")));
  ASSERT_OK(f_->raw(step_.read_primary).upsert("users", user(4, "four")));
  ASSERT_OK(f_->raw(other_side(step_.read_primary)).upsert("users", user(5, "only in the other")));
  reset();
  auto first = value_or_die(f_->users->scan(KeyRange::all(), 2));
  ASSERT_EQ(first.records.size(), 2u);
  EXPECT_EQ(first.records[0].key, Key{Value(int64_t{1})});
  ASSERT_TRUE(first.next.has_value());
  auto second = value_or_die(f_->users->scan(KeyRange::after(*first.next, std::nullopt), 2));
  ASSERT_EQ(second.records.size(), 1u) << "no fallback: key 5 is only in the other database";
  EXPECT_EQ(second.records[0].key, Key{Value(int64_t{4})});
  EXPECT_FALSE(second.next.has_value());
  for (Side side : {Side::kOld, Side::kNew}) {
    bool shadow = step_.read_secondary == side && step_.read_secondary_mode == ReadSecondaryMode::kShadow;
    expect(side, {step_.read_primary == side || shadow, false}, "scan");
  }
}

TEST(ShadowRead, AScanComparesItsPageWithTheSecondary) {
  MigrationFixture f({user(1, "one"), user(2, "two"), user(4, "four")});
  ASSERT_OK(f.raw(Side::kNew).upsert("users", user(1, "different")));
  ASSERT_OK(f.raw(Side::kNew).upsert("users", user(4, "four")));  // equal; key 2 missing in new
  f.config.shadow_sample_every = 1;
  f.reopen_migration();
  f.jump_to_step(2);  // shadow-read
  auto page = value_or_die(f.users->scan(KeyRange::all(), 10));
  ASSERT_EQ(page.records.size(), 3u);
  EXPECT_EQ(page.records[0].fields.at("name"), Value("one")) << "the secondary's record is never returned";
  EXPECT_EQ(f.migration->stats()[2].shadow_mismatches, 2);
  f.reopen_migration();  // flushes the counters
  auto counters = value_or_die(f.control->shadow_counters());
  EXPECT_EQ((counters[{"users", MismatchKind::kDifferent}]), 1);
  EXPECT_EQ((counters[{"users", MismatchKind::kMissingInSecondary}]), 1);
  EXPECT_FALSE(f.users->scan(KeyRange::all(), 0).ok());
}

}  // namespace
}  // namespace tandem::testing
