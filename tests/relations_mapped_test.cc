// Issue 14, relations through a mapping ([collections.old]): old's foreign
// keys are read in new's names; one through a column the mapping converts
// cannot be followed, which stops an open only when its action changes
// children (and then [migration] ignore_relations is the way out, named in
// the refusal). Verify counts orphans through the mapping. An ON UPDATE
// action through a parent's non-key column is refused the same way. Real servers
// (MariaDB old, PostgreSQL new); needs the servers scripts/test.sh starts.
#include "tandem/backfill.h"
#include "tandem/operator_tools.h"
#include "tandem/verify.h"
#include "test_support.h"

namespace tandem::testing {
namespace {

// Old: parents and legacy_kids (kids in new: the table is renamed), the
// kid's parent_id referencing parents with on_delete.
void create_old(const std::string& url, const std::string& on_delete) {
  mariadb_sql(url,
              "CREATE TABLE parents (id INT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL) ENGINE=InnoDB");
  mariadb_sql(url,
              fmt::format("CREATE TABLE legacy_kids (id INT NOT NULL PRIMARY KEY, parent_id INT NOT NULL, "
                          "CONSTRAINT kids_parent_fk FOREIGN KEY (parent_id) REFERENCES parents (id) ON "
                          "DELETE {}) ENGINE=InnoDB",
                          on_delete));
  mariadb_sql(url, "INSERT INTO parents VALUES (1, 'a'), (2, 'b')");
  mariadb_sql(url, "INSERT INTO legacy_kids VALUES (10, 1), (11, 1), (20, 2)");
}

// parent_id is an int in new (plain rename of the table) or, with
// converted, text made from old's int ("text" conversion).
Config kids_config(const TempDir& dir, const std::string& old_url, const std::string& new_url,
                   bool converted) {
  CollectionSchema parents;
  parents.name = "parents";
  parents.key_columns = {{"id", Type::kInt, false}};
  parents.columns = {{"name", Type::kText, false}};
  CollectionSchema kids;
  kids.name = "kids";
  kids.key_columns = {{"id", Type::kInt, false}};
  kids.columns = {{"parent_id", converted ? Type::kText : Type::kInt, false}};
  CollectionMapping mapping;
  mapping.old_schema.name = "legacy_kids";
  mapping.old_schema.key_columns = {{"id", Type::kInt, false}};
  mapping.old_schema.columns = {{"parent_id", Type::kInt, false}};
  if (converted) mapping.fields = {{"parent_id", "parent_id", "text"}};
  Config config;
  config.migration_name = "mapped_relations";
  config.control_url = "sqlite:" + dir.file("control.db");
  config.old_url = old_url;
  config.new_url = new_url;
  config.collections = {parents, kids};
  config.mappings.emplace("kids", std::move(mapping));
  return config;
}

MigrationOptions quiet() {
  MigrationOptions options;
  options.register_instance = false;
  return options;
}

// A foreign key through a converted column that changes nothing (NO ACTION)
// does not stop the open (before: refused, although tandem has nothing to
// copy for it); one that cascades is refused with the reason and the way
// out, and ignore_relations opens it.
TEST(RelationsMapped, ForeignKeyThroughAConvertedColumnStopsTheOpenOnlyIfItCascades) {
  {
    TempDir dir;
    MariaDbDatabase old_db("tandem_relmap_noaction_old");
    PostgresDatabase new_db("tandem_relmap_noaction_new");
    create_old(old_db.url(), "NO ACTION");
    auto m = init_and_open(kids_config(dir, old_db.url(), new_db.url(), /*converted=*/true), quiet());
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    EXPECT_TRUE((*m)->relations().empty());
  }
  TempDir dir;
  MariaDbDatabase old_db("tandem_relmap_cascade_old");
  PostgresDatabase new_db("tandem_relmap_cascade_new");
  create_old(old_db.url(), "CASCADE");
  Config config = kids_config(dir, old_db.url(), new_db.url(), /*converted=*/true);
  auto refused = init_and_open(config, quiet());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("kids_parent_fk"), std::string::npos)
      << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("conversion"), std::string::npos) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("ignore_relations"), std::string::npos)
      << refused.status().to_string();
  config.ignore_relations = {"kids_parent_fk"};
  auto opened = init_and_open(config, quiet());
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  EXPECT_TRUE((*opened)->relations().empty());
}

// Through a renamed table the relation is followed, and verify counts its
// orphans in old's names (before: the count failed on the mapped old, which
// a verify then reported as not counted).
TEST(RelationsMapped, VerifyCountsOrphansThroughTheMapping) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_relmap_orphans_old");
  PostgresDatabase new_db("tandem_relmap_orphans_new");
  create_old(old_db.url(), "CASCADE");
  auto m = value_or_die(init_and_open(kids_config(dir, old_db.url(), new_db.url(), false), quiet()));
  ASSERT_EQ(m->relations().size(), 1u);
  EXPECT_EQ(m->relations()[0].child, "kids");
  EXPECT_EQ(m->relations()[0].parent, "parents");
  ASSERT_OK(m->change_step(1, "test", /*force=*/true));
  ASSERT_TRUE(value_or_die(run_backfill(*m, BackfillOptions{})).complete);
  VerifyReport clean = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_TRUE(clean.clean());
  for (const CollectionVerify& c : clean.collections) {
    for (const auto& o : c.orphans) EXPECT_EQ(o.error, "") << o.relation;
  }
  // A kid without its parent, written into new behind tandem's back.
  postgres_rows(new_db.url(), "INSERT INTO kids VALUES (30, 3)");
  VerifyReport orphaned = value_or_die(run_verify(*m, VerifyOptions{}));
  EXPECT_FALSE(orphaned.clean());
  const CollectionVerify* kids = nullptr;
  for (const CollectionVerify& c : orphaned.collections) {
    if (c.collection == "kids") kids = &c;
  }
  ASSERT_NE(kids, nullptr);
  ASSERT_EQ(kids->orphans.size(), 1u);
  EXPECT_EQ(kids->orphans[0].error, "");
  EXPECT_EQ(kids->orphans[0].in_copy, 1);
  EXPECT_EQ(kids->orphans[0].in_source, 0);
}

// Keys are immutable through tandem; an ON UPDATE CASCADE through another
// unique column of the parent changes children tandem does not copy yet:
// refused at open with the reason and the way out (before: accepted, and
// new's children kept the old reference).
TEST(RelationsMapped, OnUpdateThroughANonKeyColumnIsRefusedAtOpen) {
  TempDir dir;
  MariaDbDatabase old_db("tandem_relmap_onupdate_old");
  PostgresDatabase new_db("tandem_relmap_onupdate_new");
  mariadb_sql(
      old_db.url(),
      "CREATE TABLE parents (id INT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL UNIQUE) ENGINE=InnoDB");
  mariadb_sql(
      old_db.url(),
      "CREATE TABLE kids (id INT NOT NULL PRIMARY KEY, parent_name VARCHAR(20) NOT NULL, CONSTRAINT "
      "kids_name_fk FOREIGN KEY (parent_name) REFERENCES parents (name) ON UPDATE CASCADE) ENGINE=InnoDB");
  Config config = kids_config(dir, old_db.url(), new_db.url(), false);
  config.mappings.clear();
  config.collections[1].columns = {{"parent_name", Type::kText, false}};
  auto refused = init_and_open(config, quiet());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("kids_name_fk"), std::string::npos)
      << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("column 'name' of 'parents' (not its key)"), std::string::npos)
      << refused.status().to_string();
  config.ignore_relations = {"kids_name_fk"};
  EXPECT_TRUE(init_and_open(config, quiet()).ok());
}

}  // namespace
}  // namespace tandem::testing
