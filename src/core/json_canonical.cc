#include "core/json_canonical.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

#include "tandem/value.h"

namespace tandem {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

template <typename Int>
void write_integer(Int v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

bool write(element e, std::string& out, size_t depth) {
  switch (e.type()) {
    case element_type::ARRAY: {
      if (depth >= Json::kMaxDepth) return false;
      out += '[';
      bool first = true;
      simdjson::dom::array array = e.get_array().value_unsafe();  // a copy: the result is a temporary
      for (element child : array) {
        if (!first) out += ',';
        first = false;
        if (!write(child, out, depth + 1)) return false;
      }
      out += ']';
      return true;
    }
    case element_type::OBJECT: {
      if (depth >= Json::kMaxDepth) return false;
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
        write_json_string(key, out);
        out += ':';
        if (!write(value, out, depth + 1)) return false;
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
      write_json_string(e.get_string().value_unsafe(), out);
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
  // A parser keeps the buffers of the largest document it parsed (several
  // times the document's size): each thread keeps one for documents up to
  // 1 MiB, and a larger document gets its own, freed when done, so that one
  // 16 MB document does not pin a hundred megabytes per worker thread.
  constexpr size_t kKeptParserBytes = 1 << 20;
  thread_local simdjson::dom::parser kept;
  std::optional<simdjson::dom::parser> own;
  simdjson::dom::parser& parser = text.size() <= kKeptParserBytes ? kept : own.emplace();
  element root;
  if (parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(root) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size());
  if (!write(root, out, 0)) return std::nullopt;
  return out;
}

}  // namespace tandem
