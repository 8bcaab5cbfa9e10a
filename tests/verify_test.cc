// Verify finds planted missing, extra, different and resurrected records;
// --repair fixes them and a second verify is clean.
#include "tandem/verify.h"
#include "stores/sqlite/sqlite_connection.h"
#include "tandem/backfill.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

TEST(Verify, FindsEveryPlantedDifferenceAndRepairFixesThem) {
  std::vector<Record> records;
  for (int64_t id = 1; id <= 3000; ++id) records.push_back(user(id, fmt::format("user {}", id)));
  MigrationFixture f(records);
  f.jump_to_step(1);
  ASSERT_TRUE(value_or_die(run_backfill(*f.migration, BackfillOptions{})).complete);
  ASSERT_TRUE(value_or_die(run_verify(*f.migration, VerifyOptions{})).clean());

  // Plant, in new, behind tandem's back.
  Store& n = f.raw(Side::kNew);
  ASSERT_OK(n.remove("users", Key{Value(int64_t{1500})}));                             // missing
  ASSERT_OK(n.upsert("users", user(99999, "extra")));                                  // extra
  ASSERT_OK(n.patch("users", Key{Value(int64_t{2})}, {{"name", Value("tampered")}}));  // different
  ASSERT_OK(f.users->remove(Key{Value(int64_t{2999})}));  // deleted through tandem: tombstone in new...
  {
    // ...then written back into new without clearing the tombstone: resurrected.
    auto conn = value_or_die(sqlite::Connection::open(f.dir.file("new.db"), false, true));
    ASSERT_OK(conn->exec("INSERT INTO users (id, email, name) VALUES (2999, 'zombie@x', 'zombie')"));
  }

  VerifyOptions o;
  auto report = value_or_die(run_verify(*f.migration, o));
  ASSERT_EQ(report.collections.size(), 1u);
  const CollectionVerify& c = report.collections[0];
  EXPECT_FALSE(c.clean());
  EXPECT_EQ(c.missing, 1);
  EXPECT_EQ(c.extra, 1);
  EXPECT_EQ(c.different, 1);
  EXPECT_EQ(c.resurrected, 1);
  std::map<std::string, DifferenceKind> kinds;
  for (const Difference& d : c.differences) kinds[d.key.to_display()] = d.kind;
  EXPECT_EQ(kinds["1500"], DifferenceKind::kMissing);
  EXPECT_EQ(kinds["99999"], DifferenceKind::kExtra);
  EXPECT_EQ(kinds["2"], DifferenceKind::kDifferent);
  EXPECT_EQ(kinds["2999"], DifferenceKind::kResurrected);
  EXPECT_FALSE(value_or_die(f.control->latest_verify("users"))->clean);

  o.repair = true;
  auto repaired = value_or_die(run_verify(*f.migration, o));
  EXPECT_EQ(repaired.collections[0].repaired, 4);
  EXPECT_TRUE(repaired.clean());
  auto again = value_or_die(run_verify(*f.migration, VerifyOptions{}));
  EXPECT_TRUE(again.clean());
  EXPECT_EQ(again.collections[0].records, 2999);
  EXPECT_TRUE(value_or_die(f.control->latest_verify("users"))->clean);
  // The resurrected record is gone again and its tombstone kept.
  EXPECT_TRUE(value_or_die(n.get("users", Key{Value(int64_t{2999})})).tombstoned());

  // With the backfill complete and a clean verify, reading new is allowed.
  f.jump_to_step(2);
  EXPECT_TRUE(value_or_die(f.migration->check_move(3)).empty());

  // The CLI reports the same as JSON, exit 0 when clean.
  std::string config = f.write_config_file();
  CliResult cli = run_cli(f.dir, {"--config", config, "verify", "--json"});
  EXPECT_EQ(cli.exit_code, 0) << cli.out;
  EXPECT_NE(cli.out.find("\"clean\": true"), std::string::npos) << cli.out;
}

}  // namespace
}  // namespace tandem::testing
