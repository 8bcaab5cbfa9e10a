#include "tandem/config.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

const char* kBase = R"toml(
[migration]
name = "m"
refresh_interval_ms = 250

[databases]
old = "sqlite:old.db"
new = "data/new.db"

[[collections]]
name = "users"
key = ["region", "id"]
columns = [
  { name = "region", type = "text" },
  { name = "id", type = "int" },
  { name = "email", type = "text", nullable = false },
]
)toml";

Status parse_error(const std::string& text) {
  auto r = Config::parse(text, "t.toml", "/srv/m");
  return r.ok() ? Status::Ok() : r.status();
}

TEST(Config, ParsesAndResolvesRelativePaths) {
  auto c = Config::parse(kBase, "t.toml", "/srv/m").value();
  EXPECT_EQ(c.migration_name, "m");
  EXPECT_EQ(c.old_url, "sqlite:/srv/m/old.db");
  EXPECT_EQ(c.new_url, "/srv/m/data/new.db");
  EXPECT_EQ(c.control_url, "/srv/m/tandem-control.db");
  EXPECT_EQ(c.refresh_interval, std::chrono::milliseconds(250));
  ASSERT_EQ(c.collections.size(), 1u);
  const CollectionSchema& s = c.collections[0];
  ASSERT_EQ(s.key_columns.size(), 2u);
  EXPECT_EQ(s.key_columns[0].name, "region");
  ASSERT_EQ(s.columns.size(), 1u);
  EXPECT_FALSE(s.columns[0].nullable);
  EXPECT_EQ(c.plan, Plan::default_plan());
  // The fingerprint follows the plan and collections, not URLs or intervals.
  auto moved = Config::parse(kBase, "t.toml", "/elsewhere").value();
  EXPECT_EQ(moved.fingerprint(), c.fingerprint());
  std::string changed = kBase;
  changed.replace(changed.find("nullable = false"), 16, "nullable = true");
  EXPECT_NE(Config::parse(changed, "t.toml", "/srv/m").value().fingerprint(), c.fingerprint());
}

// Issue 14: a collection old has no table for says so; init then creates it.
TEST(Config, NewOnlyCollectionsAreMarkedAndCannotAlsoMapOld) {
  EXPECT_FALSE(Config::parse(kBase, "t.toml", "/srv/m").value().is_new_only("users"));
  std::string text = std::string(kBase) + "new_only = true\n";
  auto c = Config::parse(text, "t.toml", "/srv/m").value();
  EXPECT_TRUE(c.is_new_only("users"));
  Status s = parse_error(std::string(kBase) + "new_only = \"yes\"\n");
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_NE(s.message().find("new_only must be true or false"), std::string::npos) << s.message();
  s = parse_error(std::string(kBase) +
                  "new_only = true\n[collections.old]\ntable = \"legacy\"\nkey = \"id\"\n"
                  "columns = [ { name = \"id\", type = \"int\" } ]\n");
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_NE(s.message().find("contradict"), std::string::npos) << s.message();
}

// Issue 14, relations: old's foreign keys tandem does not follow, by name.
TEST(Config, IgnoreRelationsIsAListOfNames) {
  std::string text = kBase;
  text.replace(text.find("refresh_interval_ms"), 0, "ignore_relations = [\"orders_ibfk_2\", \"a\"]\n");
  auto c = Config::parse(text, "t.toml", "/srv/m").value();
  EXPECT_EQ(c.ignore_relations, (std::set<std::string, std::less<>>{"a", "orders_ibfk_2"}));
  EXPECT_TRUE(Config::parse(kBase, "t.toml", "/srv/m").value().ignore_relations.empty());
  std::string bad = kBase;
  bad.replace(bad.find("refresh_interval_ms"), 0, "ignore_relations = \"orders_ibfk_2\"\n");
  Status s = parse_error(bad);
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_NE(s.message().find("ignore_relations must be an array"), std::string::npos) << s.message();
  bad = kBase;
  bad.replace(bad.find("refresh_interval_ms"), 0, "ignore_relations = [1]\n");
  s = parse_error(bad);
  EXPECT_NE(s.message().find("each entry must be a foreign key's name"), std::string::npos) << s.message();
}

TEST(Config, CustomPlanErrorsNameTheStepAndOption) {
  std::string text = std::string(kBase) + R"toml(
[[plan.steps]]
name = "start"
read_primary = "old"
write_primary = "old"

[[plan.steps]]
name = "copy"
read_primary = "old"
write_secondary = "new"
)toml";
  Status s = parse_error(text);
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_NE(s.message().find("plan step 2 ('copy')"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("write_primary is required"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("t.toml"), std::string::npos) << s.message();

  text = std::string(kBase) +
         "[[plan.steps]]\nname = \"s\"\nread_primary = \"newer\"\nwrite_primary = \"old\"\n";
  s = parse_error(text);
  EXPECT_NE(s.message().find("plan step 1 ('s'): read_primary"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'newer'"), std::string::npos) << s.message();

  text = std::string(kBase) +
         "[[plan.steps]]\nname = \"s\"\nread_primary = \"old\"\nread_secondary = \"old\"\nwrite_primary = "
         "\"old\"\n";
  EXPECT_NE(parse_error(text).message().find("read_secondary is the same database"), std::string::npos);

  text = std::string(kBase) +
         "[[plan.steps]]\nname = \"only\"\nread_primary = \"old\"\nwrite_primary = \"old\"\nspeed = 3\n";
  EXPECT_NE(parse_error(text).message().find("unknown option 'speed'"), std::string::npos);

  // A plan that never reaches new is rejected.
  text = std::string(kBase) +
         "[[plan.steps]]\nname = \"only\"\nread_primary = \"old\"\nwrite_primary = \"old\"\n";
  EXPECT_NE(parse_error(text).message().find("last step must read and write only new"), std::string::npos);
}

TEST(Config, HostileOrBadCollectionEntriesAreRejectedByName) {
  std::string text = kBase;
  text.replace(text.find("name = \"users\""), 14, "name = \"users; DROP TABLE users\"");
  Status s = parse_error(text);
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_NE(s.message().find("'users; DROP TABLE users' is not a valid identifier"), std::string::npos)
      << s.message();

  text = kBase;
  text.replace(text.find("name = \"email\""), 14, "name = \"e\\\"mail\"");
  EXPECT_NE(parse_error(text).message().find("not a valid identifier"), std::string::npos);

  text = kBase;
  text.replace(text.find("type = \"int\""), 12, "type = \"integer\"");
  s = parse_error(text);
  EXPECT_NE(s.message().find("column 'id'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'integer'"), std::string::npos) << s.message();

  text = kBase;
  text.replace(text.find("[\"region\", \"id\"]"), 16, "[\"region\", \"uid\"]");
  EXPECT_NE(parse_error(text).message().find("key column 'uid' is not among its columns"), std::string::npos);

  text = kBase;
  text.replace(text.find("name = \"email\""), 14, "name = \"tandem_x\"");
  EXPECT_NE(parse_error(text).message().find("reserved"), std::string::npos);
}

TEST(Config, SyntaxAndStructureErrorsSayWhere) {
  Status s = parse_error("[migration\nname = 1");
  EXPECT_EQ(s.code(), Code::kConfig);
  EXPECT_NE(s.message().find("t.toml line 1"), std::string::npos) << s.message();
  s = parse_error("[migration]\nrefresh_interval_ms = -1\n[databases]\nold=\"a\"\nnew=\"b\"\n");
  EXPECT_NE(s.message().find("refresh_interval_ms must be a positive integer"), std::string::npos)
      << s.message();
  s = parse_error("[databases]\nold = \"a.db\"\n");
  EXPECT_NE(s.message().find("no new"), std::string::npos) << s.message();
  s = parse_error("[databases]\nold = \"a.db\"\nnew = \"b.db\"\n");
  EXPECT_NE(s.message().find("no collections"), std::string::npos) << s.message();
  s = parse_error(std::string(kBase) + "[extras]\n");
  EXPECT_NE(s.message().find("unknown section 'extras'"), std::string::npos) << s.message();
  auto missing = Config::load_file("/nonexistent/tandem.toml");
  EXPECT_NE(missing.status().message().find("/nonexistent/tandem.toml"), std::string::npos);
}

}  // namespace
}  // namespace tandem
