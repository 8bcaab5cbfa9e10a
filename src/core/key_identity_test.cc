#include "tandem/key_identity.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

// A general_ci-like table for the characters the tests use (the weights
// utf8mb4_general_ci gives them): case and accents fold, ß = s, every
// supplementary character weighs U+FFFD; plus an identity-weight "_bin".
std::shared_ptr<const TextCollation> general_ci(bool pad_space) {
  std::vector<uint32_t> w(TextCollation::kCodePoints, TextCollation::kNoWeight);
  for (char32_t c = 0; c < 0x80; ++c) w[c] = (c >= 'a' && c <= 'z') ? c - 32 : c;
  for (char32_t c : {U'à', U'á', U'À', U'Á'}) w[c] = 'A';
  for (char32_t c : {U'é', U'è', U'É'}) w[c] = 'E';
  w[U'ß'] = 'S';
  for (char32_t c = 0x10000; c < TextCollation::kCodePoints; ++c) w[c] = 0xFFFD;
  return std::make_shared<TextCollation>(pad_space ? "utf8mb4_general_ci" : "utf8mb4_general_nopad_ci",
                                         pad_space, std::move(w), 2);
}

std::shared_ptr<const TextCollation> bin() {
  std::vector<uint32_t> w(TextCollation::kCodePoints);
  for (char32_t c = 0; c < TextCollation::kCodePoints; ++c) w[c] = c;
  return std::make_shared<TextCollation>("utf8mb4_bin", true, std::move(w), 3);
}

std::string id(const KeyIdentity& k, const Key& key) {
  auto r = k.id(key);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : "";
}

TEST(KeyIdentityTest, CaseAndAccentsAreOneRecordUnderGeneralCi) {
  KeyIdentity k({general_ci(true)});
  EXPECT_TRUE(k.collated());
  EXPECT_EQ(id(k, {Value("Abc")}), id(k, {Value("ABC")}));
  EXPECT_EQ(id(k, {Value("abc")}), id(k, {Value("àbc")}));
  EXPECT_EQ(id(k, {Value("é")}), id(k, {Value("e")}));
  EXPECT_EQ(id(k, {Value("É")}), id(k, {Value("E")}));
  EXPECT_EQ(id(k, {Value("straße")}), id(k, {Value("STRASE")}));
  EXPECT_NE(id(k, {Value("straße")}), id(k, {Value("STRASSE")}));
  EXPECT_EQ(id(k, {Value("😀")}), id(k, {Value("😁")}));
  EXPECT_NE(id(k, {Value("abc")}), id(k, {Value("abd")}));
}

TEST(KeyIdentityTest, AccentsAndCaseDifferUnderBin) {
  KeyIdentity k({bin()});
  EXPECT_NE(id(k, {Value("é")}), id(k, {Value("e")}));
  EXPECT_NE(id(k, {Value("e")}), id(k, {Value("E")}));
  EXPECT_NE(id(k, {Value("é")}), id(k, {Value("E")}));
  EXPECT_EQ(id(k, {Value("a ")}), id(k, {Value("a")}));  // utf8mb4_bin is PAD SPACE
}

TEST(KeyIdentityTest, TrailingSpacesUnderPadSpaceOnly) {
  KeyIdentity pad({general_ci(true)});
  KeyIdentity nopad({general_ci(false)});
  EXPECT_EQ(id(pad, {Value("a ")}), id(pad, {Value("a")}));
  EXPECT_EQ(id(pad, {Value("pad   ")}), id(pad, {Value("PAD")}));
  EXPECT_NE(id(nopad, {Value("a ")}), id(nopad, {Value("a")}));
  EXPECT_NE(id(pad, {Value("a\t")}), id(pad, {Value("a")}));
  EXPECT_NE(id(pad, {Value(" a")}), id(pad, {Value("a")}));
}

TEST(KeyIdentityTest, CompositeKeysCompareEveryPart) {
  KeyIdentity k({general_ci(true), nullptr});
  EXPECT_NE(id(k, {Value("abc"), Value(int64_t{1})}), id(k, {Value("ABC"), Value(int64_t{2})}));
  EXPECT_EQ(id(k, {Value("abc"), Value(int64_t{1})}), id(k, {Value("ABC"), Value(int64_t{1})}));
  // A text part that is all weights never runs into the next part.
  EXPECT_NE(id(k, {Value("ab"), Value(int64_t{1})}), id(k, {Value("a"), Value(int64_t{1})}));
}

TEST(KeyIdentityTest, ByteKeysKeepTheirEncoding) {
  KeyIdentity k({nullptr, nullptr});
  EXPECT_FALSE(k.collated());
  Key key{Value("Abc"), Value(int64_t{7})};
  EXPECT_EQ(id(k, key), key.encode());
  EXPECT_EQ(identity_of(nullptr, key).value(), key.encode());
  EXPECT_EQ(k.digest(), "");
  // A collated column whose part is not text (an int key) keeps its encoding.
  KeyIdentity ci({general_ci(true)});
  EXPECT_EQ(id(ci, {Value(int64_t{5})}), Key{Value(int64_t{5})}.encode());
}

TEST(KeyIdentityTest, CharactersWithoutWeightAreRefusedNamingThem) {
  std::vector<uint32_t> w(TextCollation::kCodePoints, TextCollation::kNoWeight);
  for (char32_t c = 0x20; c < 0x7F; ++c) w[c] = c;
  KeyIdentity k({std::make_shared<TextCollation>("utf8mb4_unicode_ci", true, std::move(w), 2)});
  auto r = k.id({Value("Müller")});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("U+00FC"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("utf8mb4_unicode_ci"), std::string::npos);
  EXPECT_NE(r.status().message().find("Müller"), std::string::npos);
}

TEST(KeyIdentityTest, DigestsDifferWithWeightsAndPad) {
  EXPECT_EQ(general_ci(true)->digest(), general_ci(true)->digest());
  EXPECT_NE(general_ci(true)->digest(), general_ci(false)->digest());
  EXPECT_NE(general_ci(true)->digest(), bin()->digest());
}

}  // namespace
}  // namespace tandem
