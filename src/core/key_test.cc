#include "tandem/key.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace tandem {
namespace {

// The encoding sorts with memcmp exactly as the keys sort.
TEST(Key, EncodingPreservesOrder) {
  std::vector<Key> keys = {
      Key{Value(int64_t{-9223372036854775807 - 1})},
      Key{Value(int64_t{-1})},
      Key{Value(int64_t{0})},
      Key{Value(int64_t{1})},
      Key{Value(int64_t{9223372036854775807})},
      Key{Value("")},
      Key{Value(std::string("a\0", 2))},
      Key{Value(std::string("a\0b", 3))},
      Key{Value("a")},
      Key{Value("a"), Value(int64_t{-2})},
      Key{Value("a"), Value(int64_t{3})},
      Key{Value("ab")},
      Key{Value("é")},
      Key{Value(Bytes{"\xff"})},
      Key{Value(Date{Date::kMinDays})},
      Key{Value(Date{-1})},
      Key{Value(Date{0}), Value(int64_t{1})},
      Key{Value(Date{Date::kMaxDays})},
      Key{Value(TimeOfDay{0})},
      Key{Value(TimeOfDay{TimeOfDay::kMaxMicros})},
      Key{Value(DateTime{-1})},
      Key{Value(DateTime{0})},
  };
  std::vector<Key> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  std::vector<Key> by_encoding = keys;
  std::shuffle(by_encoding.begin(), by_encoding.end(), std::mt19937(7));
  std::sort(by_encoding.begin(), by_encoding.end(),
            [](const Key& a, const Key& b) { return a.encode() < b.encode(); });
  EXPECT_EQ(by_encoding, sorted);
  for (const Key& k : keys) EXPECT_EQ(Key::decode(k.encode()).value(), k) << k.to_display();
}

TEST(Key, DecodeRejectsGarbage) {
  EXPECT_FALSE(Key::decode("\x01").ok());
  EXPECT_FALSE(Key::decode(std::string("\x12\x00", 2)).ok());
}

TEST(KeyRange, ContainsIsHalfOpen) {
  KeyRange r{Key{Value(int64_t{10})}, Key{Value(int64_t{20})}};
  EXPECT_TRUE(r.contains(Key{Value(int64_t{10})}));
  EXPECT_FALSE(r.contains(Key{Value(int64_t{20})}));
  EXPECT_FALSE(r.contains(Key{Value(int64_t{9})}));
  EXPECT_TRUE(KeyRange::all().contains(Key{Value(int64_t{-5})}));
  EXPECT_EQ(r.to_display(), "[10, 20)");
  EXPECT_EQ((Key{Value(int64_t{7}), Value("eu")}).to_display(), "(7, 'eu')");
}

}  // namespace
}  // namespace tandem
