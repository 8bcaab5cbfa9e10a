#include "tandem/key_identity.h"

#include <fmt/format.h>

#include "core/encoding.h"
#include "core/utf8.h"

namespace tandem {

namespace {

// The tag of a collated text part in an identity; Key::encode()'s tags start
// at 0x10 + type, so the two never meet.
constexpr char kCollatedTag = '\x1F';

void put_weight(std::string& out, uint32_t w, int width) {
  for (int b = width - 1; b >= 0; --b) out += static_cast<char>((w >> (8 * b)) & 0xFF);
}

std::string code_point_display(char32_t c) { return fmt::format("U+{:04X}", static_cast<uint32_t>(c)); }

}  // namespace

TextCollation::TextCollation(std::string name, bool pad_space, std::vector<uint32_t> weights, int width)
    : name_(std::move(name)), pad_space_(pad_space), weights_(std::move(weights)), width_(width) {
  weights_.resize(kCodePoints, kNoWeight);
  std::string bytes = fmt::format("{}|{}|{}|", pad_space_ ? "pad" : "nopad", width_, weights_.size());
  uint64_t h = hash_bytes(bytes);
  std::string chunk;
  for (size_t i = 0; i < weights_.size(); i += 4096) {
    chunk.assign(reinterpret_cast<const char*>(&weights_[i]),
                 std::min<size_t>(4096, weights_.size() - i) * sizeof(uint32_t));
    chunk += std::string_view(reinterpret_cast<const char*>(&h), sizeof h);
    h = hash_bytes(chunk);
  }
  digest_ = fmt::format("{:016x}", h);
}

Result<std::string> TextCollation::identity(std::string_view utf8) const {
  std::u32string cps;
  if (!decode_utf8(utf8, cps)) {
    return Status::InvalidArgument(fmt::format("the text is not valid UTF-8 (collation {})", name_));
  }
  size_t n = cps.size();
  if (trailing_space_refused_ && n > 0 && cps[n - 1] == U' ') {
    return Status::InvalidArgument(
        fmt::format("a trailing space, which old's collation {} ignores and new's collation {} does not",
                    base_name_, name_));
  }
  if (pad_space_) {
    const uint32_t space = weights_[U' '];
    while (n > 0 && cps[n - 1] < kCodePoints && weights_[cps[n - 1]] == space) --n;
  }
  std::string out;
  out.reserve(n * width_);
  for (size_t i = 0; i < n; ++i) {
    char32_t c = cps[i];
    if (!covers(c)) {
      return Status::InvalidArgument(fmt::format(
          "the character {} is outside the keys the collation {} identifies", code_point_display(c), name_));
    }
    put_weight(out, weights_[c], width_);
  }
  return out;
}

std::shared_ptr<const TextCollation> TextCollation::narrowed_to_ascii(std::string name) const {
  std::vector<uint32_t> weights(kCodePoints, kNoWeight);
  for (char32_t c = 0x20; c <= 0x7E; ++c) weights[c] = weights_[c];
  auto out = std::make_shared<TextCollation>(std::move(name), pad_space_, std::move(weights), width_);
  out->base_digest_ = digest_;
  out->base_name_ = name_;
  out->trailing_space_refused_ = pad_space_;
  return out;
}

KeyIdentity::KeyIdentity(std::vector<std::shared_ptr<const TextCollation>> columns)
    : columns_(std::move(columns)) {
  for (const auto& c : columns_) collated_ = collated_ || c != nullptr;
}

Result<std::string> KeyIdentity::id(const Key& key) const {
  if (!collated_) return key.encode();
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    const TextCollation* c = i < columns_.size() ? columns_[i].get() : nullptr;
    if (c == nullptr || key[i].type() != Type::kText) {
      out += Key{key[i]}.encode();
      continue;
    }
    Result<std::string> w = c->identity(key[i].as<std::string>());
    if (!w.ok()) {
      return Status::InvalidArgument(fmt::format("key {}: {}", key.to_display(), w.status().message()));
    }
    out += kCollatedTag;
    for (char b : *w) {
      out += b;
      if (b == '\0') out += '\xff';
    }
    out += '\0';
    out += '\x01';
  }
  return out;
}

std::string KeyIdentity::digest() const {
  std::string out;
  for (const auto& c : columns_) {
    if (!out.empty()) out += ',';
    out += c ? c->name() + ":" + c->digest() : "bytes";
  }
  return collated_ ? out : "";
}

Result<std::string> identity_of(const KeyIdentity* identity, const Key& key) {
  if (identity == nullptr) return key.encode();
  return identity->id(key);
}

Status check_new_identifies_as_old(std::string_view collection, const std::vector<std::string>& key_columns,
                                   const KeyIdentity* old_identity, const KeyIdentity* new_identity) {
  auto column = [&](const KeyIdentity* identity, size_t i) -> const TextCollation* {
    return identity != nullptr && i < identity->columns().size() ? identity->columns()[i].get() : nullptr;
  };
  for (size_t i = 0; i < key_columns.size(); ++i) {
    const TextCollation* o = column(old_identity, i);
    const TextCollation* n = column(new_identity, i);
    if (o == nullptr && n != nullptr) {
      // The mirror case: new would merge records old keeps apart.
      return Status::FailedPrecondition(fmt::format(
          "collection '{}': new's key column '{}' uses the collation {}, under which 'abc' and 'ABC' are one "
          "record, but old compares it by bytes and may hold both: new would merge them into one. Create "
          "new's column with a binary collation (e.g. ... {} ... COLLATE utf8mb4_nopad_bin), as `tandem "
          "init` does",
          collection, key_columns[i], n->name(), key_columns[i]));
    }
    if (o == nullptr || (n != nullptr && (n->digest() == o->digest() || n->base_digest() == o->digest()))) {
      continue;
    }
    std::string in_new = n == nullptr ? "compares it by bytes"
                                      : fmt::format("uses {} with other weights or padding", n->name());
    return Status::FailedPrecondition(fmt::format(
        "collection '{}': old identifies key column '{}' under the collation {} ('abc' and 'ABC' are one "
        "record there) but new {}: new would hold two records where old holds one. Create new's column "
        "with the same collation (MariaDB/MySQL: ... {} ... COLLATE {})",
        collection, key_columns[i], o->name(), in_new, key_columns[i], o->name()));
  }
  return Status::Ok();
}

}  // namespace tandem
