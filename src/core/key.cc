#include "tandem/key.h"

#include "core/encoding.h"

#include <fmt/format.h>

#include <cstring>

namespace tandem {

std::strong_ordering Key::operator<=>(const Key& other) const {
  size_t n = std::min(parts_.size(), other.parts_.size());
  for (size_t i = 0; i < n; ++i) {
    auto c = parts_[i] <=> other.parts_[i];
    if (c != 0) return c;
  }
  return parts_.size() <=> other.parts_.size();
}

namespace {

constexpr uint8_t kTagBase = 0x10;

uint64_t get_u64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

void put_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    out += c;
    if (c == '\0') out += '\xff';
  }
  out += '\0';
  out += '\x01';
}

bool get_escaped(std::string_view& in, std::string& out) {
  for (size_t i = 0; i + 1 < in.size(); ++i) {
    if (in[i] != '\0') {
      out += in[i];
      continue;
    }
    if (in[i + 1] == '\x01') {
      in.remove_prefix(i + 2);
      return true;
    }
    if (in[i + 1] != '\xff') return false;
    out += '\0';
    ++i;
  }
  return false;
}

}  // namespace

std::string Key::encode() const {
  std::string out;
  out.reserve(parts_.size() * 10);
  for (const Value& v : parts_) {
    out += static_cast<char>(kTagBase + static_cast<uint8_t>(v.type()));
    switch (v.type()) {
      case Type::kNull:
        break;
      case Type::kBool:
        out += v.as<bool>() ? '\x01' : '\x00';
        break;
      case Type::kInt:
        append_u64_be(out, static_cast<uint64_t>(v.as<int64_t>()) ^ (uint64_t{1} << 63));
        break;
      case Type::kTimestamp:
        append_u64_be(out, static_cast<uint64_t>(v.as<Timestamp>().micros) ^ (uint64_t{1} << 63));
        break;
      case Type::kDate:
        append_u64_be(out, static_cast<uint64_t>(int64_t{v.as<Date>().days}) ^ (uint64_t{1} << 63));
        break;
      case Type::kTime:
        append_u64_be(out, static_cast<uint64_t>(v.as<TimeOfDay>().micros) ^ (uint64_t{1} << 63));
        break;
      case Type::kDateTime:
        append_u64_be(out, static_cast<uint64_t>(v.as<DateTime>().micros) ^ (uint64_t{1} << 63));
        break;
      case Type::kText:
        put_escaped(out, v.as<std::string>());
        break;
      case Type::kBytes:
        put_escaped(out, v.as<Bytes>().data);
        break;
      case Type::kUuid:
        out.append(reinterpret_cast<const char*>(v.as<Uuid>().bytes.data()), 16);
        break;
      // Not orderable as keys (validated by the schema); encoded for completeness.
      case Type::kDouble:
      case Type::kDecimal:
      case Type::kJson:
        put_escaped(out, v.to_display());
        break;
    }
  }
  return out;
}

Result<Key> Key::decode(std::string_view in) {
  std::vector<Value> parts;
  auto bad = [] { return Status::Corruption("encoded key is malformed"); };
  while (!in.empty()) {
    auto tag = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    if (tag < kTagBase || tag > kTagBase + static_cast<uint8_t>(Type::kDateTime)) return bad();
    auto type = static_cast<Type>(tag - kTagBase);
    switch (type) {
      case Type::kNull:
        parts.emplace_back();
        break;
      case Type::kBool:
        if (in.empty()) return bad();
        parts.emplace_back(in[0] != '\0');
        in.remove_prefix(1);
        break;
      case Type::kInt:
      case Type::kTimestamp:
      case Type::kDate:
      case Type::kTime:
      case Type::kDateTime: {
        if (in.size() < 8) return bad();
        auto v = static_cast<int64_t>(get_u64(in) ^ (uint64_t{1} << 63));
        in.remove_prefix(8);
        if (type == Type::kInt) {
          parts.emplace_back(v);
        } else if (type == Type::kTimestamp) {
          parts.emplace_back(Timestamp{v});
        } else if (type == Type::kDate) {
          if (v < Date::kMinDays || v > Date::kMaxDays) return bad();
          parts.emplace_back(Date{static_cast<int32_t>(v)});
        } else if (type == Type::kTime) {
          parts.emplace_back(TimeOfDay{v});
        } else {
          parts.emplace_back(DateTime{v});
        }
        break;
      }
      case Type::kText:
      case Type::kBytes: {
        std::string s;
        if (!get_escaped(in, s)) return bad();
        if (type == Type::kText) {
          parts.emplace_back(std::move(s));
        } else {
          parts.emplace_back(Bytes{std::move(s)});
        }
        break;
      }
      case Type::kUuid: {
        if (in.size() < 16) return bad();
        Uuid u;
        std::memcpy(u.bytes.data(), in.data(), 16);
        in.remove_prefix(16);
        parts.emplace_back(u);
        break;
      }
      default:
        return Status::Corruption(
            fmt::format("encoded key has a {} part, which cannot be a key", type_name(type)));
    }
  }
  return Key(std::move(parts));
}

std::string Key::to_display() const {
  if (parts_.size() == 1) return parts_[0].to_display();
  std::string out = "(";
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (i) out += ", ";
    out += parts_[i].to_display();
  }
  return out + ")";
}

bool KeyRange::contains(const Key& key) const {
  if (begin && (begin_inclusive ? key < *begin : !(*begin < key))) return false;
  if (end && !(key < *end)) return false;
  return true;
}

std::string KeyRange::to_display() const {
  return fmt::format("{}{}, {})", begin_inclusive ? "[" : "(", begin ? begin->to_display() : "first",
                     end ? end->to_display() : "last");
}

}  // namespace tandem
