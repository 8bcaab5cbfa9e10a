#include "tandem/mapping.h"

#include <gtest/gtest.h>

#include "tandem/config.h"

namespace tandem {
namespace {

CollectionSchema users() {
  CollectionSchema s;
  s.name = "users";
  s.key_columns = {{"id", Type::kInt, false}};
  s.columns = {{"email", Type::kText, false},         {"active", Type::kBool, true},
               {"signed_up", Type::kTimestamp, true}, {"balance", Type::kDecimal, true},
               {"city", Type::kText, true},           {"tags", Type::kJson, true},
               {"extra", Type::kJson, true}};
  return s;
}

CollectionMapping document_mapping(UnknownFields unknown) {
  CollectionMapping m;
  m.old_schema.name = "user_docs";
  m.old_schema.key_columns = {{"id", Type::kInt, false}};
  m.old_schema.columns = {{"doc", Type::kJson, false}};
  m.document = "doc";
  m.unknown = unknown;
  m.keep_in = "extra";
  m.fields = {{"email", "mail", ""},
              {"active", "active", "bool"},
              {"signed_up", "created", "timestamp:%Y-%m-%d %H:%M:%S"},
              {"balance", "balance", "decimal:2"},
              {"city", "address.city", ""}};
  return m;
}

Record doc(int64_t id, const std::string& json) {
  Record r;
  r.key = Key{Value(id)};
  r.fields = {{"doc", Value(Json::parse(json).value())}};
  return r;
}

TEST(Mapper, DocumentFieldsBecomeTypedColumnsAndNestedValuesJson) {
  auto m = Mapper::create(users(), document_mapping(UnknownFields::kKeep)).value();
  auto r = m.to_new(doc(7, R"({"mail": "a@b.c", "active": 1, "created": "2024-03-01 10:20:30",
                                "balance": 12.5, "address": {"city": "Zürich", "zip": "8000"},
                                "tags": ["x", {"y": 2}], "nickname": "al"})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->fields.at("email"), Value("a@b.c"));
  EXPECT_EQ(r->fields.at("active"), Value(true));
  EXPECT_EQ(r->fields.at("signed_up"), Value(Timestamp::parse("2024-03-01T10:20:30Z").value()));
  EXPECT_EQ(r->fields.at("balance"), Value(Decimal::parse("12.5").value()));
  EXPECT_EQ(r->fields.at("city"), Value("Zürich"));
  EXPECT_EQ(r->fields.at("tags"), Value(Json::parse(R"(["x",{"y":2}])").value()));
  // Unknown members are kept in the json column named by keep_in.
  EXPECT_EQ(r->fields.at("extra"), Value(Json::parse(R"({"nickname":"al"})").value()));
}

TEST(Mapper, WritingBackKeepsUnmappedMembersAndTheirTypes) {
  auto m = Mapper::create(users(), document_mapping(UnknownFields::kDrop)).value();
  Record existing =
      doc(7, R"({"mail": "a@b.c", "active": 1, "balance": 3, "address": {"city": "Bern", "zip": "3000"},
                               "legacy": true})");
  Record changed = m.to_new(existing).value();
  changed.fields["city"] = Value("Basel");
  changed.fields["active"] = Value(false);
  changed.fields["balance"] = Value(Decimal::parse("4.25").value());
  Record back = m.to_old(changed, &existing).value();
  auto j = Json::parse(back.fields.at("doc").as<Json>().text).value();
  EXPECT_EQ(
      j.text,
      Json::parse(
          R"({"mail":"a@b.c","active":0,"balance":4.25,"address":{"city":"Basel","zip":"3000"},"legacy":true})")
          .value()
          .text);
  // And the round trip gives the record back.
  EXPECT_EQ(m.to_new(back).value(), changed);
}

TEST(Mapper, ConversionFailuresNameTheFieldAndTheReason) {
  auto keep = Mapper::create(users(), document_mapping(UnknownFields::kError)).value();
  std::string field;
  auto wrong_type = keep.to_new(doc(1, R"({"mail": 42})"), &field);
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(field, "mail");
  EXPECT_NE(wrong_type.status().message().find("not a string"), std::string::npos)
      << wrong_type.status().message();
  auto missing = keep.to_new(doc(1, R"({"active": true})"), &field);
  EXPECT_EQ(field, "mail");
  EXPECT_NE(missing.status().message().find("NOT NULL"), std::string::npos) << missing.status().message();
  auto too_precise = keep.to_new(doc(1, R"({"mail": "x", "balance": "1.234"})"), &field);
  EXPECT_EQ(field, "balance");
  EXPECT_NE(too_precise.status().message().find("does not round"), std::string::npos);
  auto bad_date = keep.to_new(doc(1, R"({"mail": "x", "created": "01/02/2024"})"), &field);
  EXPECT_EQ(field, "created");
  auto unknown = keep.to_new(doc(1, R"({"mail": "x", "surprise": 1})"), &field);
  EXPECT_EQ(field, "surprise");
  EXPECT_NE(unknown.status().message().find("no column of new takes"), std::string::npos);
  auto nested_to_text = keep.to_new(doc(1, R"({"mail": {"a": 1}})"), &field);
  EXPECT_NE(nested_to_text.status().message().find("nested object"), std::string::npos);
}

TEST(Mapper, RelationalRenamesAndConversionsBothWays) {
  CollectionSchema target;
  target.name = "accounts";
  target.key_columns = {{"id", Type::kInt, false}};
  target.columns = {
      {"is_admin", Type::kBool, true}, {"opened", Type::kTimestamp, true}, {"owner", Type::kText, true}};
  CollectionMapping m;
  m.old_schema.name = "legacy_accounts";
  m.old_schema.key_columns = {{"account_id", Type::kInt, false}};
  m.old_schema.columns = {{"admin", Type::kInt, true},
                          {"opened_on", Type::kText, true},
                          {"owner_name", Type::kText, true},
                          {"fax", Type::kText, true}};
  m.fields = {{"is_admin", "admin", "bool"},
              {"opened", "opened_on", "timestamp:%d.%m.%Y"},
              {"owner", "owner_name", ""}};
  m.drop = {"fax"};
  auto mapper = Mapper::create(target, m).value();
  EXPECT_TRUE(mapper.needs_existing()) << "fax is kept when writing old";
  Record old_record;
  old_record.key = Key{Value(int64_t{5})};
  old_record.fields = {{"admin", Value(int64_t{1})},
                       {"opened_on", Value("24.12.2023")},
                       {"owner_name", Value("Ada")},
                       {"fax", Value("+41")}};
  Record r = mapper.to_new(old_record).value();
  EXPECT_EQ(r.fields.at("is_admin"), Value(true));
  EXPECT_EQ(r.fields.at("opened"), Value(Timestamp::parse("2023-12-24T00:00:00Z").value()));
  EXPECT_EQ(mapper.to_old(r, &old_record).value(), old_record);
  // Types that do not convert are refused when the config is read, naming the column.
  m.fields = {{"is_admin", "opened_on", ""}};
  auto refused = Mapper::create(target, m);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kConfig);
  EXPECT_NE(refused.status().message().find("is_admin"), std::string::npos) << refused.status().message();
}

TEST(Mapper, ConfigReadsTheOldSectionAndRejectsHostileNames) {
  const char* good = R"toml(
[databases]
old = "sqlite:old.db"
new = "sqlite:new.db"
[migration]
control = "sqlite:control.db"
[[collections]]
name = "users"
key = ["id"]
columns = [ { name = "id", type = "int" }, { name = "email", type = "text" } ]
[collections.old]
table = "user_docs"
key = ["id"]
columns = [ { name = "id", type = "int" }, { name = "doc", type = "json" } ]
document = "doc"
unknown_fields = "drop"
map = [ { column = "email", from = "contact.mail" } ]
)toml";
  auto config = Config::parse(good, "t.toml", "/tmp");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->mappings.at("users").old_schema.name, "user_docs");
  std::string hostile = good;
  hostile.replace(hostile.find("contact.mail"), 12, "contact.mail\\\"; DROP TABLE users; --");
  auto refused = Config::parse(hostile, "t.toml", "/tmp");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kConfig);
  EXPECT_NE(refused.status().message().find("not a valid identifier"), std::string::npos)
      << refused.status().message();
  std::string bad_table = good;
  bad_table.replace(bad_table.find("\"user_docs\""), 11, "\"user docs; --\"");
  EXPECT_EQ(Config::parse(bad_table, "t.toml", "/tmp").status().code(), Code::kConfig);
}

}  // namespace
}  // namespace tandem
