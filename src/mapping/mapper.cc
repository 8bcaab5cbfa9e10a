// Mapper: the mapping checked and resolved once, and records converted each
// way (see tandem/mapping.h); one value's conversion is in conversions.cc.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "mapping/conversions.h"
#include "tandem/mapping.h"

namespace tandem {

using mapping::from_json;
using mapping::from_value;
using mapping::kNoConversion;
using mapping::to_json;
using mapping::to_value;
using mapping::value_as_json;

namespace {

using nlohmann::json;
using Kind = Mapper::Conversion::Kind;

Status bad(std::string_view what) { return Status::InvalidArgument(std::string(what)); }

std::vector<std::string> split_path(const std::string& from) {
  std::vector<std::string> out;
  std::stringstream ss(from);
  std::string part;
  while (std::getline(ss, part, '.')) out.push_back(part);
  return out;
}

}  // namespace

Result<Mapper> Mapper::create(const CollectionSchema& new_schema, const CollectionMapping& mapping) {
  Mapper m;
  m.new_schema_ = new_schema;
  m.mapping_ = mapping;
  const CollectionSchema& old = m.mapping_.old_schema;
  auto fail = [&](std::string_view what) {
    return Status::Config(
        fmt::format("collection '{}', mapping from old table '{}': {}", new_schema.name, old.name, what));
  };
  TANDEM_RETURN_IF_ERROR(
      old.validate().with_context(fmt::format("collection '{}' [collections.old]", new_schema.name)));
  if (old.key_columns.size() != new_schema.key_columns.size()) {
    return fail(fmt::format("old's key has {} column(s), new's {}: keys must match", old.key_columns.size(),
                            new_schema.key_columns.size()));
  }
  for (size_t i = 0; i < old.key_columns.size(); ++i) {
    if (old.key_columns[i].type != new_schema.key_columns[i].type) {
      return fail(
          fmt::format("key column '{}' of old is {} but '{}' of new is {}: key types must match (both "
                      "sides are copied and compared in key order)",
                      old.key_columns[i].name, type_name(old.key_columns[i].type),
                      new_schema.key_columns[i].name, type_name(new_schema.key_columns[i].type)));
    }
  }
  const Column* document = nullptr;
  if (mapping.document) {
    document = old.find_column(*mapping.document);
    if (document == nullptr || document->type != Type::kJson) {
      return fail(fmt::format("document = \"{}\" must name a json column of old", *mapping.document));
    }
  }
  if (mapping.unknown == UnknownFields::kKeep) {
    const Column* keep = new_schema.find_column(mapping.keep_in);
    if (keep == nullptr || keep->type != Type::kJson) {
      return fail(fmt::format("unknown_fields = \"keep\" needs keep_in = a json column of new (got '{}')",
                              mapping.keep_in));
    }
  }
  std::set<std::string> mapped;
  for (const FieldMapping& f : mapping.fields) {
    if (new_schema.find_column(f.column) == nullptr) {
      return fail(fmt::format("map names column '{}', which new does not have", f.column));
    }
    if (!mapped.insert(f.column).second) return fail(fmt::format("column '{}' is mapped twice", f.column));
  }
  for (const Column& c : new_schema.columns) {
    if (mapping.unknown == UnknownFields::kKeep && c.name == mapping.keep_in) continue;
    Resolved r;
    r.column = c;
    r.from = c.name;
    std::string convert;
    for (const FieldMapping& f : mapping.fields) {
      if (f.column == c.name) {
        r.from = f.from.empty() ? c.name : f.from;
        convert = f.convert;
      }
    }
    std::optional<Conversion> parsed = Conversion::parse(convert);
    if (!parsed) {
      return fail(
          fmt::format("column '{}': unknown convert '{}' (bool, json, text, decimal:SCALE, "
                      "timestamp:FORMAT)",
                      c.name, convert));
    }
    r.convert = std::move(*parsed);
    if (document != nullptr) {
      r.path = split_path(r.from);
      if (r.path.empty() ||
          std::any_of(r.path.begin(), r.path.end(), [](const std::string& p) { return p.empty(); })) {
        return fail(fmt::format("column '{}': '{}' is not a member path", c.name, r.from));
      }
    } else {
      const Column* old_column = old.find_column(r.from);
      if (old_column != nullptr) r.old_column = *old_column;
      if (!r.old_column) {
        return fail(
            fmt::format("column '{}' of new comes from '{}', which old does not have (add a map entry "
                        "with from = the old column)",
                        c.name, r.from));
      }
      // The pair must convert both ways: try a NULL-free probe of the rule itself.
      Type from = r.old_column->type;
      const Kind kind = r.convert.kind;
      bool ok = from == c.type || (kind == Kind::kBool && c.type == Type::kBool) ||
                (kind == Kind::kTimestamp && from == Type::kText && c.type == Type::kTimestamp) ||
                (kind == Kind::kDecimal && c.type == Type::kDecimal) ||
                (kind == Kind::kJson && c.type == Type::kJson) ||
                (kind == Kind::kText && c.type == Type::kText) ||
                (from == Type::kInt && (c.type == Type::kDouble || c.type == Type::kDecimal));
      if (!ok) {
        return fail(fmt::format(
            "column '{}' is {} but old's '{}' is {}; give a convert that turns one into the other", c.name,
            type_name(c.type), r.from, type_name(from)));
      }
    }
    m.resolved_.push_back(std::move(r));
  }
  if (document != nullptr) {
    m.needs_existing_ = true;
  } else {
    std::set<std::string> used;
    for (const Resolved& r : m.resolved_) used.insert(r.from);
    for (const Column& c : old.columns) {
      if (!used.contains(c.name)) m.needs_existing_ = true;
    }
  }
  return m;
}

Result<Record> Mapper::to_new(const Record& old_record, std::string* bad_field) const {
  Record out;
  out.key = old_record.key;
  auto fail = [&](const std::string& field, const Status& s) {
    if (bad_field != nullptr) *bad_field = field;
    return Status::InvalidArgument(fmt::format("mapping old '{}' record {} to new '{}', field '{}': {}",
                                               mapping_.old_schema.name, old_record.key.to_display(),
                                               new_schema_.name, field, s.message()));
  };
  std::set<std::string> used;
  json doc;
  if (mapping_.document) {
    auto it = old_record.fields.find(*mapping_.document);
    if (it == old_record.fields.end() || it->second.is_null()) {
      return fail(*mapping_.document, bad("the document is NULL"));
    }
    doc = json::parse(it->second.as<Json>().text, nullptr, false);
    if (!doc.is_object()) return fail(*mapping_.document, bad("the document is not a JSON object"));
  }
  for (const Resolved& r : resolved_) {
    Result<Value> v = Value();
    if (mapping_.document) {
      used.insert(r.path[0]);
      const json* at = &doc;
      for (const std::string& p : r.path) {
        if (at == nullptr || !at->is_object() || !at->contains(p)) {
          at = nullptr;
          break;
        }
        at = &(*at)[p];
      }
      if (at != nullptr) v = from_json(*at, r.column.type, r.convert);
    } else {
      used.insert(r.from);
      auto it = old_record.fields.find(r.from);
      if (it != old_record.fields.end()) v = from_value(it->second, r.column.type, r.convert);
    }
    if (!v.ok()) return fail(r.from, v.status());
    if (v->is_null() && !r.column.nullable) {
      return fail(r.from,
                  bad(fmt::format("missing or null, and new's column '{}' is NOT NULL", r.column.name)));
    }
    out.fields.emplace(r.column.name, std::move(*v));
  }
  // What no column takes: an error, dropped, or kept in a json column.
  json unknown = json::object();
  auto consider = [&](const std::string& name, const json& value) -> Status {
    if (used.contains(name) ||
        std::find(mapping_.drop.begin(), mapping_.drop.end(), name) != mapping_.drop.end()) {
      return Status::Ok();
    }
    if (mapping_.unknown == UnknownFields::kError) {
      return fail(name,
                  bad("no column of new takes this field (map it, list it in drop, or set unknown_fields "
                      "= \"drop\" or \"keep\")"));
    }
    if (mapping_.unknown == UnknownFields::kKeep) unknown[name] = value;
    return Status::Ok();
  };
  if (mapping_.document) {
    for (auto it = doc.begin(); it != doc.end(); ++it) TANDEM_RETURN_IF_ERROR(consider(it.key(), it.value()));
  } else {
    for (const auto& [name, value] : old_record.fields) {
      if (value.is_null() && mapping_.unknown != UnknownFields::kKeep) continue;
      TANDEM_RETURN_IF_ERROR(consider(name, value_as_json(value)));
    }
  }
  if (mapping_.unknown == UnknownFields::kKeep) {
    out.fields.emplace(mapping_.keep_in,
                       unknown.empty() ? Value() : Value(Json::parse(unknown.dump()).value()));
  }
  return out;
}

Result<Record> Mapper::to_old(const Record& new_record, const Record* existing) const {
  Record out;
  out.key = new_record.key;
  auto fail = [&](const std::string& field, const Status& s) {
    return Status::InvalidArgument(fmt::format("mapping new '{}' record {} to old '{}', field '{}': {}",
                                               new_schema_.name, new_record.key.to_display(),
                                               mapping_.old_schema.name, field, s.message()));
  };
  for (const Column& c : mapping_.old_schema.columns) out.fields[c.name] = Value();
  if (existing != nullptr) {
    for (const auto& [name, value] : existing->fields) out.fields[name] = value;
  }
  auto value_of = [&](const std::string& column) {
    auto it = new_record.fields.find(column);
    return it == new_record.fields.end() ? Value() : it->second;
  };
  json extras = json::object();
  if (mapping_.unknown == UnknownFields::kKeep) {
    Value kept = value_of(mapping_.keep_in);
    if (!kept.is_null()) extras = json::parse(kept.as<Json>().text, nullptr, false);
  }
  if (mapping_.document) {
    json doc = json::object();
    auto it = out.fields.find(*mapping_.document);
    if (it != out.fields.end() && !it->second.is_null())
      doc = json::parse(it->second.as<Json>().text, nullptr, false);
    if (!doc.is_object()) doc = json::object();
    for (const Resolved& r : resolved_) {
      json* at = &doc;
      for (size_t i = 0; i + 1 < r.path.size(); ++i) {
        if (!(*at)[r.path[i]].is_object()) (*at)[r.path[i]] = json::object();
        at = &(*at)[r.path[i]];
      }
      const std::string& leaf = r.path.back();
      const json* before = at->contains(leaf) ? &(*at)[leaf] : nullptr;
      if (before == nullptr && value_of(r.column.name).is_null()) continue;  // absent stays absent
      auto member = to_json(value_of(r.column.name), r.convert, before);
      if (!member.ok()) return fail(r.column.name, member.status());
      (*at)[leaf] = std::move(*member);
    }
    if (extras.is_object()) {
      for (auto e = extras.begin(); e != extras.end(); ++e) doc[e.key()] = e.value();
    }
    auto text = Json::parse(doc.dump());
    if (!text.ok()) return fail(*mapping_.document, text.status());
    out.fields[*mapping_.document] = Value(std::move(*text));
    return out;
  }
  for (const Resolved& r : resolved_) {
    auto v = to_value(value_of(r.column.name), r.old_column->type, r.convert);
    if (!v.ok()) return fail(r.column.name, v.status());
    out.fields[r.from] = std::move(*v);
  }
  if (extras.is_object()) {
    for (auto e = extras.begin(); e != extras.end(); ++e) {
      const Column* c = mapping_.old_schema.find_column(e.key());
      if (c == nullptr) continue;
      auto v = from_json(e.value(), c->type, kNoConversion);
      if (v.ok()) out.fields[c->name] = std::move(*v);
    }
  }
  return out;
}

}  // namespace tandem
