// TextCollation and KeyIdentity: when two keys are the same record.
//
// A key has a spelling (its bytes, Key::encode(): copied and verified
// exactly) and an identity (its class under old's collation). A text key
// column of old under a case- or accent-insensitive collation makes 'abc',
// 'ABC' and (PAD SPACE) 'abc ' one record. Record locks, tombstones,
// insert-if-absent and in-memory merges compare identities, never spellings.
//
// TextCollation holds per-character weights read from the database that owns
// the collation (MariaDB/MySQL WEIGHT_STRING, read at open): the identity of
// a text is its characters' weights concatenated, with trailing spaces'
// weights removed under PAD SPACE. A character without a weight is outside
// the collation's identity repertoire (kInvalidArgument naming it).
//
// KeyIdentity::id(key) == key.encode() when no key column is collated:
// byte keys (every collection before collations) keep their locks and
// tombstones. Thread safety: immutable after construction, shared freely.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/key.h"
#include "tandem/status.h"

namespace tandem {

class TextCollation {
 public:
  static constexpr uint32_t kNoWeight = 0xFFFFFFFF;
  static constexpr uint32_t kCodePoints = 0x110000;

  // weights: one per code point (kCodePoints entries, kNoWeight where the
  // character is outside the repertoire), each width bytes (1 to 4) wide.
  TextCollation(std::string name, bool pad_space, std::vector<uint32_t> weights, int width);

  const std::string& name() const { return name_; }
  bool pad_space() const { return pad_space_; }
  // Whether c has a weight (is inside the identity repertoire).
  bool covers(char32_t c) const { return c < kCodePoints && weights_[c] != kNoWeight; }
  // The identity of a UTF-8 text: weights big-endian, width bytes each;
  // under PAD SPACE the trailing characters weighing as U+0020 are left out.
  // kInvalidArgument for invalid UTF-8 or a character without a weight.
  Result<std::string> identity(std::string_view utf8) const;
  // Hex digest of the name's pad attribute and every weight: two servers
  // identify keys alike when their collations' digests are equal.
  const std::string& digest() const { return digest_; }

  // This collation narrowed to the keys a new that compares them by a
  // collation of its own (PostgreSQL ICU `tandem_ci`, probed at open)
  // identifies alike: the printable ASCII characters (U+0020-U+007E) this
  // collation weighs, and, under PAD SPACE, no trailing space (new does not
  // ignore it as old does). name is new's collation, for messages. Same
  // weights on what it covers; its digest is its own, base_digest() is this
  // collation's.
  std::shared_ptr<const TextCollation> narrowed_to_ascii(std::string name) const;
  // The digest of the collation this one narrows ("" when it narrows none).
  const std::string& base_digest() const { return base_digest_; }

 private:
  std::string name_;
  bool pad_space_;
  std::vector<uint32_t> weights_;
  int width_;
  std::string digest_;
  std::string base_digest_;
  std::string base_name_;  // the collation narrowed, for messages
  bool trailing_space_refused_ = false;
};

class KeyIdentity {
 public:
  // One entry per key column: its collation, or null (compared by bytes).
  explicit KeyIdentity(std::vector<std::shared_ptr<const TextCollation>> columns);

  // True when some key column is collated.
  bool collated() const { return collated_; }
  const std::vector<std::shared_ptr<const TextCollation>>& columns() const { return columns_; }
  // The identity bytes of key: key.encode() when no column is collated; else
  // each part's encoding, a collated text part replaced by a tag and its
  // escaped weights. kInvalidArgument naming the key, the character and the
  // collation when a character has no weight.
  Result<std::string> id(const Key& key) const;
  // The collations' digests joined ("" when none is collated).
  std::string digest() const;

 private:
  std::vector<std::shared_ptr<const TextCollation>> columns_;
  bool collated_ = false;
};

// identity ? identity->id(key) : key.encode().
Result<std::string> identity_of(const KeyIdentity* identity, const Key& key);

// New must identify keys as old does: when old's key is collated, new's key
// columns must have the same collations with equal weights (the same
// MariaDB/MySQL collation), or old's narrowed to the keys both identify
// alike (TextCollation::narrowed_to_ascii). kFailedPrecondition naming the collection, the
// column, both sides' collations and the fix otherwise; Ok when old's key is
// not collated (null identities are byte keys).
Status check_new_identifies_as_old(std::string_view collection, const std::vector<std::string>& key_columns,
                                   const KeyIdentity* old_identity, const KeyIdentity* new_identity);

}  // namespace tandem
