#include "tandem/schema.h"

#include <fmt/format.h>

#include <set>

namespace tandem {

Status validate_identifier(std::string_view what, std::string_view name) {
  auto bad = [&](std::string_view why) {
    return Status::Config(
        fmt::format("{} '{}' is not a valid identifier: {} (use letters, digits and '_', starting with a "
                    "letter or '_', at most 63 characters)",
                    what, name.substr(0, 80), why));
  };
  if (name.empty()) return bad("it is empty");
  if (name.size() > 63) return bad("it is longer than 63 characters");
  char first = name[0];
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_')) {
    return bad("it must start with a letter or '_'");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return bad(fmt::format("it contains the character '{}'", c));
  }
  std::string lower;
  for (char c : name) lower += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  if (lower.rfind("tandem_", 0) == 0) return bad("names starting with 'tandem_' are reserved");
  return Status::Ok();
}

Status CollectionSchema::validate() const {
  TANDEM_RETURN_IF_ERROR(validate_identifier("collection name", name));
  auto where = [&](std::string_view rest) {
    return Status::Config(fmt::format("collection '{}': {}", name, rest));
  };
  if (key_columns.empty()) return where("no key columns (set key = [\"id\"])");
  std::set<std::string, std::less<>> seen;
  for (const Column& c : key_columns) {
    TANDEM_RETURN_IF_ERROR(
        validate_identifier("key column", c.name).with_context(fmt::format("collection '{}'", name)));
    switch (c.type) {
      case Type::kInt:
      case Type::kText:
      case Type::kBytes:
      case Type::kUuid:
      case Type::kTimestamp:
      case Type::kDate:
      case Type::kTime:
      case Type::kDateTime:
        break;
      default:
        return where(
            fmt::format("key column '{}' has type {}, which cannot be a key (use int, text, bytes, uuid, "
                        "timestamp, date, time or datetime)",
                        c.name, type_name(c.type)));
    }
    if (c.nullable) return where(fmt::format("key column '{}' cannot be nullable", c.name));
    if (!seen.insert(c.name).second) return where(fmt::format("column '{}' appears twice", c.name));
  }
  for (const Column& c : columns) {
    TANDEM_RETURN_IF_ERROR(
        validate_identifier("column", c.name).with_context(fmt::format("collection '{}'", name)));
    if (c.type == Type::kNull) return where(fmt::format("column '{}' has no type", c.name));
    if (!seen.insert(c.name).second) return where(fmt::format("column '{}' appears twice", c.name));
  }
  return Status::Ok();
}

const Column* CollectionSchema::find_column(std::string_view column) const {
  for (const Column& c : columns) {
    if (c.name == column) return &c;
  }
  return nullptr;
}

Status CollectionSchema::check_fields(const Key& key, const FieldMap& fields, bool partial) const {
  auto where = [&](std::string_view rest) {
    return Status::InvalidArgument(
        fmt::format("collection '{}', record {}: {}", name, key.to_display(), rest));
  };
  if (key.size() != key_columns.size()) {
    return where(fmt::format("the key has {} parts, the collection's key has {} ({})", key.size(),
                             key_columns.size(),
                             key_columns.size() == 1 ? key_columns[0].name : "composite"));
  }
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i].type() != key_columns[i].type) {
      return where(fmt::format("key column '{}' expects {}, got {}", key_columns[i].name,
                               type_name(key_columns[i].type), type_name(key[i].type())));
    }
  }
  for (const auto& [field, value] : fields) {
    const Column* c = find_column(field);
    if (c == nullptr) return where(fmt::format("unknown field '{}'", field.substr(0, 80)));
    if (value.is_null()) {
      if (!c->nullable) return where(fmt::format("field '{}' is NOT NULL but the value is null", field));
      continue;
    }
    if (value.type() != c->type) {
      return where(fmt::format("field '{}' expects {}, got {} {}", field, type_name(c->type),
                               type_name(value.type()), value.to_display()));
    }
  }
  if (!partial) {
    for (const Column& c : columns) {
      if (!c.nullable && fields.find(c.name) == fields.end()) {
        return where(fmt::format("field '{}' is NOT NULL but missing", c.name));
      }
    }
  }
  return Status::Ok();
}

Status CollectionSchema::check_record(const Record& record) const {
  return check_fields(record.key, record.fields, /*partial=*/false);
}

}  // namespace tandem
