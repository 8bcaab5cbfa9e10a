#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tandem/mapping.h"

namespace tandem {

namespace {

using nlohmann::json;

Status bad(std::string_view what) { return Status::InvalidArgument(std::string(what)); }

std::vector<std::string> split_path(const std::string& from) {
  std::vector<std::string> out;
  std::stringstream ss(from);
  std::string part;
  while (std::getline(ss, part, '.')) out.push_back(part);
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "timestamp:FMT" -> FMT, "decimal:S" -> S.
std::string argument(const std::string& convert) {
  size_t colon = convert.find(':');
  return colon == std::string::npos ? "" : convert.substr(colon + 1);
}

Result<Value> parse_timestamp(std::string_view text, const std::string& format) {
  std::tm tm{};
  std::istringstream in{std::string(text)};
  in >> std::get_time(&tm, format.c_str());
  if (in.fail() || in.peek() != std::char_traits<char>::eof()) {
    return bad(fmt::format("'{}' does not match the timestamp format '{}'", text.substr(0, 64), format));
  }
  return Value(Timestamp{static_cast<int64_t>(timegm(&tm)) * 1000000});
}

std::string format_timestamp(const Timestamp& t, const std::string& format) {
  time_t seconds = static_cast<time_t>(std::floor(static_cast<double>(t.micros) / 1e6));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, format.c_str());
  return out.str();
}

Result<Value> with_scale(Decimal d, const std::string& scale_text) {
  int scale = std::atoi(scale_text.c_str());
  size_t dot = d.text.find('.');
  size_t digits = dot == std::string::npos ? 0 : d.text.size() - dot - 1;
  if (static_cast<int>(digits) > scale) {
    return bad(
        fmt::format("{} has {} fraction digits, more than the {} the column keeps (tandem does not round)",
                    d.text, digits, scale));
  }
  return Value(std::move(d));
}

Result<Value> decimal_of(std::string_view text, const std::string& convert) {
  auto d = Decimal::parse(text);
  if (!d.ok()) return bad(d.status().message());
  if (starts_with(convert, "decimal:")) return with_scale(std::move(*d), argument(convert));
  return Value(std::move(*d));
}

std::string scalar_text(const Value& v) {
  switch (v.type()) {
    case Type::kBool:
      return v.as<bool>() ? "true" : "false";
    case Type::kInt:
      return std::to_string(v.as<int64_t>());
    case Type::kDouble:
      return fmt::format("{}", v.as<double>());
    case Type::kDecimal:
      return v.as<Decimal>().text;
    case Type::kText:
      return v.as<std::string>();
    case Type::kTimestamp:
      return v.as<Timestamp>().to_string();
    case Type::kUuid:
      return v.as<Uuid>().to_string();
    case Type::kJson:
      return v.as<Json>().text;
    default:
      return v.to_display();
  }
}

// A value of old's column to new's column type.
Result<Value> from_value(const Value& v, Type target, const std::string& convert) {
  if (v.is_null()) return Value();
  if (convert == "bool") {
    if (v.type() == Type::kBool) return v;
    if (v.type() == Type::kInt && (v.as<int64_t>() == 0 || v.as<int64_t>() == 1))
      return Value(v.as<int64_t>() == 1);
    if (v.type() == Type::kText) {
      const std::string& s = v.as<std::string>();
      if (s == "true" || s == "1") return Value(true);
      if (s == "false" || s == "0") return Value(false);
    }
    return bad(fmt::format("{} is not a boolean (0/1 or true/false)", v.to_display()));
  }
  if (starts_with(convert, "timestamp:")) {
    if (v.type() != Type::kText)
      return bad(fmt::format("{} is not text in a timestamp format", v.to_display()));
    return parse_timestamp(v.as<std::string>(), argument(convert));
  }
  if (starts_with(convert, "decimal")) {
    if (v.type() == Type::kInt) return decimal_of(std::to_string(v.as<int64_t>()), convert);
    if (v.type() == Type::kDecimal) return decimal_of(v.as<Decimal>().text, convert);
    if (v.type() == Type::kText) return decimal_of(v.as<std::string>(), convert);
    return bad(fmt::format("{} is not a decimal", v.to_display()));
  }
  if (convert == "json") {
    if (v.type() == Type::kJson) return v;
    if (v.type() != Type::kText) return bad(fmt::format("{} is not JSON text", v.to_display()));
    auto j = Json::parse(v.as<std::string>());
    if (!j.ok()) return bad(j.status().message());
    return Value(std::move(*j));
  }
  if (convert == "text") return Value(scalar_text(v));
  if (v.type() == target) return v;
  if (v.type() == Type::kInt && target == Type::kDouble) return Value(static_cast<double>(v.as<int64_t>()));
  if (v.type() == Type::kInt && target == Type::kDecimal)
    return decimal_of(std::to_string(v.as<int64_t>()), "");
  return bad(fmt::format("{} is {}, not {}", v.to_display(), type_name(v.type()), type_name(target)));
}

// A member of old's document to new's column type.
Result<Value> from_json(const json& j, Type target, const std::string& convert) {
  if (j.is_null()) return Value();
  if (convert == "json" || target == Type::kJson) {
    if (j.is_string() && convert == "json") {
      auto parsed = Json::parse(j.get<std::string>());
      if (!parsed.ok()) return bad(parsed.status().message());
      return Value(std::move(*parsed));
    }
    if (!j.is_object() && !j.is_array()) return bad(fmt::format("{} is not an object or an array", j.dump()));
    auto parsed = Json::parse(j.dump());
    if (!parsed.ok()) return bad(parsed.status().message());
    return Value(std::move(*parsed));
  }
  if (j.is_object() || j.is_array()) {
    return bad(fmt::format("a nested {} cannot go into a {} column (map it to a json column)",
                           j.is_object() ? "object" : "array", type_name(target)));
  }
  if (convert == "text") return Value(j.is_string() ? j.get<std::string>() : j.dump());
  switch (target) {
    case Type::kBool:
      if (j.is_boolean()) return Value(j.get<bool>());
      if (convert == "bool" && j.is_number_integer() && (j.get<int64_t>() == 0 || j.get<int64_t>() == 1)) {
        return Value(j.get<int64_t>() == 1);
      }
      if (convert == "bool" && j.is_string()) return from_value(Value(j.get<std::string>()), target, convert);
      return bad(fmt::format("{} is not a boolean", j.dump()));
    case Type::kInt:
      if (j.is_number_integer() && (j.is_number_unsigned() ? j.get<uint64_t>() <= INT64_MAX : true)) {
        return Value(j.get<int64_t>());
      }
      return bad(fmt::format("{} is not a 64-bit integer", j.dump()));
    case Type::kDouble:
      if (j.is_number()) return Value(j.get<double>());
      return bad(fmt::format("{} is not a number", j.dump()));
    case Type::kDecimal:
      if (j.is_number()) return decimal_of(j.dump(), convert);
      if (j.is_string()) return decimal_of(j.get<std::string>(), convert);
      return bad(fmt::format("{} is not a decimal", j.dump()));
    case Type::kText:
      if (j.is_string()) return Value(j.get<std::string>());
      return bad(fmt::format("{} is not a string (convert = \"text\" takes any scalar)", j.dump()));
    case Type::kTimestamp: {
      if (!j.is_string()) return bad(fmt::format("{} is not a timestamp string", j.dump()));
      if (starts_with(convert, "timestamp:")) return parse_timestamp(j.get<std::string>(), argument(convert));
      auto t = Timestamp::parse(j.get<std::string>());
      if (!t.ok()) return bad(t.status().message());
      return Value(*t);
    }
    case Type::kUuid: {
      if (!j.is_string()) return bad(fmt::format("{} is not a UUID string", j.dump()));
      auto u = Uuid::parse(j.get<std::string>());
      if (!u.ok()) return bad(u.status().message());
      return Value(*u);
    }
    default:
      break;
  }
  return bad(fmt::format("a document member cannot go into a {} column", type_name(target)));
}

// new's value back to old's column type.
Result<Value> to_value(const Value& v, Type old_type, const std::string& convert) {
  if (v.is_null() || v.type() == old_type) return v;
  if (v.type() == Type::kBool && old_type == Type::kInt) return Value(int64_t{v.as<bool>() ? 1 : 0});
  if (v.type() == Type::kBool && old_type == Type::kText) return Value(v.as<bool>() ? "true" : "false");
  if (v.type() == Type::kTimestamp && old_type == Type::kText && starts_with(convert, "timestamp:")) {
    return Value(format_timestamp(v.as<Timestamp>(), argument(convert)));
  }
  if (v.type() == Type::kJson && old_type == Type::kText) return Value(v.as<Json>().text);
  if (old_type == Type::kText) return Value(scalar_text(v));
  if (v.type() == Type::kDouble && old_type == Type::kInt) {
    double d = v.as<double>();
    if (std::trunc(d) == d && std::fabs(d) < 9.2e18) return Value(static_cast<int64_t>(d));
  }
  if (v.type() == Type::kDecimal && old_type == Type::kInt &&
      v.as<Decimal>().text.find('.') == std::string::npos) {
    return Value(static_cast<int64_t>(std::stoll(v.as<Decimal>().text)));
  }
  if (v.type() == Type::kText && old_type != Type::kText) {  // the inverse of convert = "text"
    const std::string& s = v.as<std::string>();
    if (old_type == Type::kInt) return Value(static_cast<int64_t>(std::stoll(s)));
    if (old_type == Type::kDouble) return Value(std::stod(s));
    if (old_type == Type::kBool) return Value(s == "true");
    if (old_type == Type::kDecimal) return decimal_of(s, "");
  }
  return bad(fmt::format("{} cannot be written into old's {} column", v.to_display(), type_name(old_type)));
}

// new's value back to a document member; existing is the member it replaces.
Result<json> to_json(const Value& v, const std::string& convert, const json* existing) {
  switch (v.type()) {
    case Type::kNull:
      return json(nullptr);
    case Type::kBool:
      if (convert == "bool" && existing != nullptr && existing->is_number())
        return json(v.as<bool>() ? 1 : 0);
      return json(v.as<bool>());
    case Type::kInt:
      return json(v.as<int64_t>());
    case Type::kDouble:
      return json(v.as<double>());
    case Type::kDecimal:
      if (existing != nullptr && existing->is_number()) return json::parse(v.as<Decimal>().text);
      return json(v.as<Decimal>().text);
    case Type::kText:
      if (convert == "text" && existing != nullptr && !existing->is_string()) {
        json parsed = json::parse(v.as<std::string>(), nullptr, false);
        if (!parsed.is_discarded()) return parsed;
      }
      return json(v.as<std::string>());
    case Type::kTimestamp:
      if (starts_with(convert, "timestamp:"))
        return json(format_timestamp(v.as<Timestamp>(), argument(convert)));
      return json(v.as<Timestamp>().to_string());
    case Type::kJson:
      if (convert == "json" && existing != nullptr && existing->is_string()) return json(v.as<Json>().text);
      return json::parse(v.as<Json>().text);
    case Type::kUuid:
      return json(v.as<Uuid>().to_string());
    case Type::kBytes:
      break;
  }
  return bad("bytes cannot be written into a JSON document");
}

json value_as_json(const Value& v) {
  auto j = to_json(v, "", nullptr);
  return j.ok() ? *j : json(v.to_display());
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
  static const std::set<std::string> plain = {"", "bool", "json", "text", "decimal"};
  for (const Column& c : new_schema.columns) {
    if (mapping.unknown == UnknownFields::kKeep && c.name == mapping.keep_in) continue;
    Resolved r;
    r.column = c;
    r.from = c.name;
    for (const FieldMapping& f : mapping.fields) {
      if (f.column == c.name) {
        r.from = f.from.empty() ? c.name : f.from;
        r.convert = f.convert;
      }
    }
    if (!plain.contains(r.convert) && !starts_with(r.convert, "timestamp:") &&
        !starts_with(r.convert, "decimal:")) {
      return fail(
          fmt::format("column '{}': unknown convert '{}' (bool, json, text, decimal:SCALE, "
                      "timestamp:FORMAT)",
                      c.name, r.convert));
    }
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
      bool ok = from == c.type || (r.convert == "bool" && c.type == Type::kBool) ||
                (starts_with(r.convert, "timestamp:") && from == Type::kText && c.type == Type::kTimestamp) ||
                (starts_with(r.convert, "decimal") && c.type == Type::kDecimal) ||
                (r.convert == "json" && c.type == Type::kJson) ||
                (r.convert == "text" && c.type == Type::kText) ||
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
      auto v = from_json(e.value(), c->type, "");
      if (v.ok()) out.fields[c->name] = std::move(*v);
    }
  }
  return out;
}

}  // namespace tandem
