// Transfer before update: a patch that meets a record missing in the write
// primary first copies it from the source of truth under the record lock.
#include <thread>

#include "test_support.h"

namespace tandem::testing {
namespace {

TEST(Transfer, PatchOnRecordMissingInNewTransfersItFirst) {
  MigrationFixture f({user(1, "one", 20)});
  f.jump_to_step(4);  // write-new: WP new, WS old, RS old fallback
  const Key key{Value(int64_t{1})};
  ASSERT_FALSE(value_or_die(f.raw(Side::kNew).get("users", key)).present());
  ASSERT_OK(f.users->patch(key, {{"age", Value(int64_t{21})}}));
  auto in_new = value_or_die(f.raw(Side::kNew).get("users", key));
  ASSERT_TRUE(in_new.present());
  Record expected = user(1, "one", 21);
  EXPECT_EQ(in_new.record, expected);  // the untouched fields came from old
  EXPECT_EQ(f.migration->stats()[4].transfers, 1);
  // Old, the write secondary here, was brought up to date too.
  EXPECT_EQ(value_or_die(f.raw(Side::kOld).get("users", key)).record, expected);
}

TEST(Transfer, TwoThreadsPatchingTheSameMissingRecordLeaveOneCorrectCopy) {
  constexpr int64_t kKeys = 40;
  std::vector<Record> seed;
  for (int64_t id = 1; id <= kKeys; ++id) seed.push_back(user(id, fmt::format("user {}", id), 50));
  MigrationFixture f(seed);
  f.jump_to_step(4);
  std::atomic<int> go{0};
  auto patcher = [&](const FieldMap& fields) {
    go.fetch_add(1);
    while (go.load() < 2) {
    }
    for (int64_t id = 1; id <= kKeys; ++id) {
      Status s = f.users->patch(Key{Value(id)}, fields);
      EXPECT_TRUE(s.ok()) << s.to_string();
    }
  };
  std::thread a(patcher, FieldMap{{"name", Value("from A")}});
  std::thread b(patcher, FieldMap{{"age", Value(int64_t{99})}});
  a.join();
  b.join();
  auto all = value_or_die(f.raw(Side::kNew).scan("users", KeyRange::all(), 1000));
  ASSERT_EQ(all.size(), static_cast<size_t>(kKeys));
  for (const Record& r : all) {
    // Both patches landed on one copy; nothing of old's record was lost.
    EXPECT_EQ(r.fields.at("name"), Value("from A")) << r.to_display();
    EXPECT_EQ(r.fields.at("age"), Value(int64_t{99})) << r.to_display();
    EXPECT_EQ(r.fields.at("email"), Value(fmt::format("u{}@example.com", r.key[0].as<int64_t>())));
    EXPECT_EQ(value_or_die(f.raw(Side::kOld).get("users", r.key)).record, r);
  }
  int64_t transfers = f.migration->stats()[4].transfers;
  EXPECT_EQ(transfers, kKeys) << "each record is transferred exactly once";
}

TEST(Transfer, PatchOfARecordThatExistsNowhereIsNotFound) {
  MigrationFixture f;
  f.jump_to_step(4);
  Status s = f.users->patch(Key{Value(int64_t{5})}, {{"name", Value("x")}});
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find("record 5"), std::string::npos) << s.message();
  EXPECT_FALSE(value_or_die(f.raw(Side::kNew).get("users", Key{Value(int64_t{5})})).present());
}

TEST(Transfer, NeverCopiesIntoOld) {
  // At dual-write old is the write primary and the source of truth: a record
  // that only new has is not copied back into old by a patch.
  MigrationFixture f;
  ASSERT_OK(f.raw(Side::kNew).upsert("users", user(6, "only in new")));
  f.jump_to_step(1);
  Status s = f.users->patch(Key{Value(int64_t{6})}, {{"name", Value("x")}});
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_FALSE(value_or_die(f.raw(Side::kOld).get("users", Key{Value(int64_t{6})})).present());
}

TEST(Transfer, AfterTheCopyWasPatchedNewKeepsItsVersion) {
  MigrationFixture f({user(1, "old version")});
  f.jump_to_step(4);
  const Key key{Value(int64_t{1})};
  ASSERT_OK(f.users->put(user(1, "new version")));
  ASSERT_OK(f.users->patch(key, {{"age", Value(int64_t{7})}}));
  auto rec = value_or_die(f.raw(Side::kNew).get("users", key)).record;
  EXPECT_EQ(rec.fields.at("name"), Value("new version"));
  EXPECT_EQ(f.migration->stats()[4].transfers, 0);
}

}  // namespace
}  // namespace tandem::testing
