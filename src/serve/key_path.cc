#include "serve/key_path.h"

#include <fmt/format.h>

#include <vector>

#include "core/json_canonical.h"
#include "core/utf8.h"
#include "serve/record_json.h"

namespace tandem::serve {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The column's value as its JSON string form, for value_from_json.
std::string as_json_string(Type type, std::string_view text) {
  (void)type;  // every key type reads from a string (an int too)
  std::string raw;
  write_json_string(text, raw);
  return raw;
}

// A key column as its JSON string form's content (int: decimal).
std::string key_part_text(const Value& v) {
  switch (v.type()) {
    case Type::kInt:
      return fmt::format("{}", v.as<int64_t>());
    case Type::kText:
      return v.as<std::string>();
    case Type::kBytes:
      return base64_encode(v.as<Bytes>().data);
    case Type::kUuid:
      return v.as<Uuid>().to_string();
    case Type::kTimestamp:
      return v.as<Timestamp>().to_string();
    default:
      return v.to_display();  // not a key type (CollectionSchema::validate)
  }
}

}  // namespace

Result<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int hi = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
    int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      return Status::InvalidArgument(fmt::format("a malformed percent escape at byte {} of the key", i));
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string percent_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<Key> key_from_path(const CollectionSchema& schema, std::string_view segment) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t comma = segment.find(',', start);
    parts.push_back(
        segment.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (parts.size() != schema.key_columns.size()) {
    std::vector<std::string> names;
    for (const Column& c : schema.key_columns) names.push_back(c.name);
    return Status::InvalidArgument(fmt::format(
        "the key in the path has {} part(s); collection '{}' has {} key column(s) ({}), separated by ',' "
        "(a ',' inside a value is %2C)",
        parts.size(), schema.name, names.size(), fmt::join(names, ", ")));
  }
  std::vector<Value> key;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Column& c = schema.key_columns[i];
    Result<std::string> text = percent_decode(parts[i]);
    if (!text.ok())
      return Status::InvalidArgument(fmt::format("key column '{}': {}", c.name, text.status().message()));
    if (c.type == Type::kText && !valid_utf8(*text))
      return Status::InvalidArgument(fmt::format("key column '{}': the text is not valid UTF-8", c.name));
    if (text->empty() && c.type != Type::kText && c.type != Type::kBytes)
      return Status::InvalidArgument(fmt::format("key column '{}': empty", c.name));
    TANDEM_ASSIGN_OR_RETURN(Value v, value_from_json(c.type, as_json_string(c.type, *text), c.name));
    key.push_back(std::move(v));
  }
  return Key(std::move(key));
}

std::string key_to_path(const Key& key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (i > 0) out += ',';
    out += percent_encode(key_part_text(key[i]));
  }
  return out;
}

}  // namespace tandem::serve
