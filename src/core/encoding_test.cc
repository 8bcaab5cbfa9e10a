#include "core/encoding.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

CollectionSchema schema() {
  CollectionSchema s;
  s.name = "t";
  s.key_columns = {{"id", Type::kInt, false}};
  s.columns = {{"a", Type::kText, true}, {"b", Type::kDouble, true}};
  return s;
}

Record rec(int64_t id, FieldMap f) { return Record{Key{Value(id)}, std::move(f)}; }

TEST(RecordHash, EqualRecordsHashEqualAndEveryFieldCounts) {
  auto s = schema();
  uint64_t h = record_hash(s, rec(1, {{"a", Value("x")}, {"b", Value(1.5)}}));
  EXPECT_EQ(h, record_hash(s, rec(1, {{"b", Value(1.5)}, {"a", Value("x")}})));
  EXPECT_NE(h, record_hash(s, rec(2, {{"a", Value("x")}, {"b", Value(1.5)}})));
  EXPECT_NE(h, record_hash(s, rec(1, {{"a", Value("y")}, {"b", Value(1.5)}})));
  EXPECT_NE(h, record_hash(s, rec(1, {{"a", Value("x")}, {"b", Value()}})));
  // A missing field is null, as a store reads it back.
  EXPECT_EQ(record_hash(s, rec(1, {{"a", Value("x")}})),
            record_hash(s, rec(1, {{"a", Value("x")}, {"b", Value()}})));
  EXPECT_EQ(record_hash(s, rec(1, {{"b", Value(0.0)}})), record_hash(s, rec(1, {{"b", Value(-0.0)}})));
  // Field boundaries are unambiguous.
  CollectionSchema two;
  two.name = "t";
  two.key_columns = {{"id", Type::kInt, false}};
  two.columns = {{"a", Type::kText, true}, {"c", Type::kText, true}};
  EXPECT_NE(record_hash(two, rec(1, {{"a", Value("xy")}, {"c", Value("")}})),
            record_hash(two, rec(1, {{"a", Value("x")}, {"c", Value("y")}})));
}

}  // namespace
}  // namespace tandem
