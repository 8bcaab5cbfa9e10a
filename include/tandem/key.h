// Key and KeyRange: the primary key of a record (single or composite) and a
// half-open range of keys [begin, end) with optional unbounded ends.
//
// Keys order component by component (Value order). The order-preserving byte
// encoding (encode()) sorts with memcmp exactly as the keys do; stores use it
// for tombstones, locks and checkpoints.
// Thread safety: plain values.
#pragma once

#include <compare>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "tandem/value.h"

namespace tandem {

class Key {
 public:
  Key() = default;
  Key(std::initializer_list<Value> parts) : parts_(parts) {}
  explicit Key(std::vector<Value> parts) : parts_(std::move(parts)) {}

  const std::vector<Value>& parts() const { return parts_; }
  size_t size() const { return parts_.size(); }
  const Value& operator[](size_t i) const { return parts_[i]; }

  std::strong_ordering operator<=>(const Key& other) const;
  bool operator==(const Key& other) const { return (*this <=> other) == 0; }

  // Order-preserving encoding; only int, text, bytes, uuid and timestamp parts.
  std::string encode() const;
  static Result<Key> decode(std::string_view bytes);

  // "42" or "(7, 'eu')": for messages naming a record.
  std::string to_display() const;

 private:
  std::vector<Value> parts_;
};

struct KeyRange {
  std::optional<Key> begin;     // nullopt = from the first key
  std::optional<Key> end;       // exclusive; nullopt = to the last key
  bool begin_inclusive = true;  // false: strictly after begin (resuming after a checkpoint)

  static KeyRange all() { return {}; }
  // The keys strictly after key, up to end.
  static KeyRange after(const Key& key, std::optional<Key> end) { return {key, std::move(end), false}; }
  bool contains(const Key& key) const;
  std::string to_display() const;  // "[10, 20)", "(10, 20)", "[first, 20)", "[10, last)"
};

}  // namespace tandem
