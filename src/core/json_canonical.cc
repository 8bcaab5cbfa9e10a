#include "core/json_canonical.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

namespace tandem {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// As nlohmann's serializer::dump_escaped with ensure_ascii = false.
void write_string(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t plain = 0;  // start of the run of bytes written as they are
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

template <typename Int>
void write_integer(Int v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

bool write(element e, std::string& out) {
  switch (e.type()) {
    case element_type::ARRAY: {
      out += '[';
      bool first = true;
      simdjson::dom::array array = e.get_array().value_unsafe();  // a copy: the result is a temporary
      for (element child : array) {
        if (!first) out += ',';
        first = false;
        if (!write(child, out)) return false;
      }
      out += ']';
      return true;
    }
    case element_type::OBJECT: {
      std::vector<std::pair<std::string_view, element>> members;
      simdjson::dom::object object = e.get_object().value_unsafe();  // a copy, as above
      for (auto field : object) members.emplace_back(field.key, field.value);
      std::sort(members.begin(), members.end(),
                [](const auto& x, const auto& y) { return x.first < y.first; });
      if (std::adjacent_find(members.begin(), members.end(), [](const auto& x, const auto& y) {
            return x.first == y.first;
          }) != members.end()) {
        return false;  // nlohmann keeps the last of duplicate keys: its path decides
      }
      out += '{';
      bool first = true;
      for (const auto& [key, value] : members) {
        if (!first) out += ',';
        first = false;
        write_string(key, out);
        out += ':';
        if (!write(value, out)) return false;
      }
      out += '}';
      return true;
    }
    case element_type::INT64:
      write_integer(e.get_int64().value_unsafe(), out);
      return true;
    case element_type::UINT64:
      write_integer(e.get_uint64().value_unsafe(), out);
      return true;
    case element_type::DOUBLE:
      return false;
    case element_type::STRING:
      write_string(e.get_string().value_unsafe(), out);
      return true;
    case element_type::BOOL:
      out += e.get_bool().value_unsafe() ? "true" : "false";
      return true;
    case element_type::NULL_VALUE:
      out += "null";
      return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> canonical_json_fast(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  element root;
  if (parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(root) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size());
  if (!write(root, out)) return std::nullopt;
  return out;
}

}  // namespace tandem
