#include "serve/record_json.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/json_canonical.h"
#include "core/utf8.h"

namespace tandem::serve {

namespace {

constexpr int64_t kMaxExactInt = int64_t{1} << 53;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool is_number_literal(std::string_view raw) {
  return !raw.empty() && (raw.front() == '-' || (raw.front() >= '0' && raw.front() <= '9')) &&
         nlohmann::json::accept(raw);
}

Status bad(std::string_view field, std::string_view what, std::string_view raw) {
  std::string shown(raw.substr(0, 64));
  if (raw.size() > 64) shown += "...";
  return Status::InvalidArgument(fmt::format("field '{}': {} (got {})", field, what, shown));
}

// The string a raw JSON string literal holds, or nullopt if raw is not one.
std::optional<std::string> json_string(std::string_view raw) {
  if (raw.empty() || raw.front() != '"') return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (!j.is_string()) return std::nullopt;
  return j.get<std::string>();
}

Result<Value> integer_from(std::string_view text, std::string_view field, std::string_view raw) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) return bad(field, "an integer beyond the 64-bit range", raw);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return bad(field, "expected an integer (a number without fraction or exponent, or one in a string)", raw);
  return Value(v);
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return Status::InvalidArgument("base64 text must have a length divisible by 4 (padded)");
  size_t pad = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool alpha =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=' && i + 2 >= text.size()) {
      ++pad;
      continue;
    }
    if (!alpha || pad > 0)
      return Status::InvalidArgument("base64 text holds a character outside RFC 4648's alphabet");
  }
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return Status::InvalidArgument("base64 text does not decode");
  out.resize(static_cast<size_t>(n) - pad);
  if (base64_encode(out) != text) return Status::InvalidArgument("base64 text is not in canonical form");
  return out;
}

void write_value_json(const Value& v, std::string& out) {
  switch (v.type()) {
    case Type::kNull:
      out += "null";
      return;
    case Type::kBool:
      out += v.as<bool>() ? "true" : "false";
      return;
    case Type::kInt: {
      int64_t i = v.as<int64_t>();
      if (i >= -kMaxExactInt && i <= kMaxExactInt) {
        out += fmt::format("{}", i);
      } else {
        out += fmt::format("\"{}\"", i);
      }
      return;
    }
    case Type::kDouble: {
      double d = v.as<double>();
      if (std::isnan(d)) {
        out += "\"NaN\"";
      } else if (std::isinf(d)) {
        out += d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
      } else {
        out += fmt::format("{}", d);  // shortest text that reads back as d
      }
      return;
    }
    case Type::kDecimal:
      write_json_string(v.as<Decimal>().text, out);
      return;
    case Type::kText:
      write_json_string(v.as<std::string>(), out);
      return;
    case Type::kBytes:
      write_json_string(base64_encode(v.as<Bytes>().data), out);
      return;
    case Type::kTimestamp:
      write_json_string(v.as<Timestamp>().to_string(), out);
      return;
    case Type::kJson:
      out += v.as<Json>().text;
      return;
    case Type::kUuid:
      write_json_string(v.as<Uuid>().to_string(), out);
      return;
    case Type::kDate:
      write_json_string(v.as<Date>().to_string(), out);
      return;
    case Type::kTime:
      write_json_string(v.as<TimeOfDay>().to_string(), out);
      return;
    case Type::kDateTime:
      write_json_string(v.as<DateTime>().to_string(), out);
      return;
  }
}

std::string record_to_json(const CollectionSchema& schema, const Record& record) {
  std::string out = "{";
  bool first = true;
  auto field = [&](std::string_view name, const Value& v) {
    if (!first) out += ',';
    first = false;
    write_json_string(name, out);
    out += ':';
    write_value_json(v, out);
  };
  for (size_t i = 0; i < schema.key_columns.size() && i < record.key.size(); ++i)
    field(schema.key_columns[i].name, record.key[i]);
  static const Value kNull;
  for (const Column& c : schema.columns) {
    auto it = record.fields.find(c.name);
    field(c.name, it == record.fields.end() ? kNull : it->second);
  }
  out += '}';
  return out;
}

Result<Value> value_from_json(Type type, std::string_view raw_in, std::string_view field) {
  std::string_view raw = trim(raw_in);
  if (raw == "null") return Value();
  std::optional<std::string> str = json_string(raw);
  const bool number = !str && is_number_literal(raw);
  if (!str && !number && type != Type::kJson && raw != "true" && raw != "false" &&
      !nlohmann::json::accept(raw))
    return bad(field, "not a JSON value", raw);
  switch (type) {
    case Type::kNull:
      return bad(field, "expected null", raw);
    case Type::kBool:
      if (raw == "true") return Value(true);
      if (raw == "false") return Value(false);
      return bad(field, "expected true or false", raw);
    case Type::kInt:
      if (number) return integer_from(raw, field, raw);
      if (str) return integer_from(*str, field, raw);
      return bad(field, "expected an integer", raw);
    case Type::kDouble: {
      if (str) {
        if (*str == "NaN") return Value(std::numeric_limits<double>::quiet_NaN());
        if (*str == "Infinity") return Value(std::numeric_limits<double>::infinity());
        if (*str == "-Infinity") return Value(-std::numeric_limits<double>::infinity());
        return bad(field, "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")", raw);
      }
      if (!number) return bad(field, "expected a number", raw);
      double d = 0;
      auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), d);
      if (ec == std::errc::result_out_of_range) return bad(field, "a number beyond a double's range", raw);
      if (ec != std::errc() || end != raw.data() + raw.size()) return bad(field, "expected a number", raw);
      return Value(d);
    }
    case Type::kDecimal: {
      if (!str && !number)
        return bad(field, "expected a decimal (a string such as \"12.50\", or a number)", raw);
      Result<Decimal> d = Decimal::parse(str ? *str : raw);
      if (!d.ok()) return bad(field, d.status().message(), raw);
      return Value(std::move(*d));
    }
    case Type::kJson: {
      Result<Json> j = Json::parse(raw);
      if (!j.ok()) return bad(field, j.status().message(), raw);
      return Value(std::move(*j));
    }
    default:
      break;
  }
  if (!str) return bad(field, fmt::format("expected a string ({})", type_name(type)), raw);
  switch (type) {
    case Type::kText:
      return Value(std::move(*str));
    case Type::kBytes: {
      Result<std::string> b = base64_decode(*str);
      if (!b.ok()) return bad(field, b.status().message(), raw);
      return Value(Bytes{std::move(*b)});
    }
    case Type::kUuid: {
      Result<Uuid> u = Uuid::parse(*str);
      if (!u.ok()) return bad(field, u.status().message(), raw);
      return Value(*u);
    }
    case Type::kTimestamp: {
      Result<Timestamp> t = Timestamp::parse(*str);
      if (!t.ok()) return bad(field, t.status().message(), raw);
      return Value(*t);
    }
    default: {
      Result<Value> c = parse_calendar(type, *str);
      if (!c.ok()) return bad(field, c.status().message(), raw);
      return c;
    }
  }
}

namespace {

// The text of one value as sent (an object's or array's whole text).
simdjson::error_code raw_of(simdjson::ondemand::value value, std::string_view& raw) {
  simdjson::ondemand::json_type type;
  if (auto e = value.type().get(type); e != simdjson::SUCCESS) return e;
  if (type == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object o;
    if (auto e = value.get_object().get(o); e != simdjson::SUCCESS) return e;
    return o.raw_json().get(raw);
  }
  if (type == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array a;
    if (auto e = value.get_array().get(a); e != simdjson::SUCCESS) return e;
    return a.raw_json().get(raw);
  }
  raw = trim(value.raw_json_token());
  return simdjson::SUCCESS;
}

// Calls f(name, raw) for each member of the object body holds; errors for
// what is not one object, or a name given twice.
template <typename F>
Status for_each_member(std::string_view body, std::string_view what, F f) {
  // The whole text checked first (syntax, UTF-8, nothing after the object):
  // the on-demand parser below only finds each member's text.
  if (!nlohmann::json::accept(body))
    return Status::InvalidArgument(fmt::format("{} is not valid JSON", what));
  simdjson::ondemand::parser parser;  // one per call: a batch get nests calls
  simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS)
    return Status::InvalidArgument(fmt::format("{} is not a JSON object", what));
  std::set<std::string, std::less<>> seen;
  for (auto member : object) {
    std::string_view name, raw;
    simdjson::ondemand::value value;
    if (member.unescaped_key().get(name) != simdjson::SUCCESS ||
        member.value().get(value) != simdjson::SUCCESS || raw_of(value, raw) != simdjson::SUCCESS)
      return Status::InvalidArgument(fmt::format("{} is not valid JSON", what));
    if (!valid_utf8(name))
      return Status::InvalidArgument(fmt::format("{}: a member name is not UTF-8", what));
    std::string owned(name);
    if (!seen.insert(owned).second)
      return Status::InvalidArgument(fmt::format("{}: field '{}' is given twice", what, owned));
    TANDEM_RETURN_IF_ERROR(f(owned, raw));
  }
  return Status::Ok();
}

size_t key_index(const CollectionSchema& schema, std::string_view name) {
  for (size_t i = 0; i < schema.key_columns.size(); ++i)
    if (schema.key_columns[i].name == name) return i;
  return schema.key_columns.size();
}

}  // namespace

Result<ParsedObject> parse_record_object(const CollectionSchema& schema, std::string_view body) {
  ParsedObject out;
  out.key.resize(schema.key_columns.size());
  TANDEM_RETURN_IF_ERROR(
      for_each_member(body, "the request body", [&](const std::string& name, std::string_view raw) {
        if (size_t k = key_index(schema, name); k < schema.key_columns.size()) {
          TANDEM_ASSIGN_OR_RETURN(Value v, value_from_json(schema.key_columns[k].type, raw, name));
          out.key[k] = std::move(v);
          return Status::Ok();
        }
        const Column* c = schema.find_column(name);
        if (c == nullptr)
          return Status::InvalidArgument(
              fmt::format("field '{}': collection '{}' has no such column", name, schema.name));
        TANDEM_ASSIGN_OR_RETURN(Value v, value_from_json(c->type, raw, name));
        out.fields.emplace(name, std::move(v));
        return Status::Ok();
      }));
  return out;
}

Result<std::vector<Key>> parse_key_list(const CollectionSchema& schema, std::string_view body,
                                        size_t max_keys) {
  std::vector<Key> keys;
  bool had_keys = false;
  Status s = for_each_member(body, "the request body", [&](const std::string& name, std::string_view raw) {
    if (name != "keys")
      return Status::InvalidArgument(fmt::format("field '{}': a batch get takes only \"keys\"", name));
    had_keys = true;
    // Each entry from its own text, so that no key is read through a double.
    simdjson::ondemand::parser parser;
    simdjson::padded_string padded(raw);
    simdjson::ondemand::document doc;
    simdjson::ondemand::array array;
    if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
        doc.get_array().get(array) != simdjson::SUCCESS)
      return Status::InvalidArgument("field 'keys': expected an array of key objects");
    size_t index = 0;
    for (auto entry : array) {
      if (index == max_keys)
        return Status::InvalidArgument(fmt::format("field 'keys': more than the limit of {} keys", max_keys));
      std::string_view text;
      simdjson::ondemand::value value;
      if (entry.get(value) != simdjson::SUCCESS || raw_of(value, text) != simdjson::SUCCESS)
        return Status::InvalidArgument(fmt::format("keys[{}]: not valid JSON", index));
      std::vector<std::optional<Value>> parts(schema.key_columns.size());
      TANDEM_RETURN_IF_ERROR(for_each_member(
          text, fmt::format("keys[{}]", index), [&](const std::string& column, std::string_view v) {
            size_t k = key_index(schema, column);
            if (k == schema.key_columns.size())
              return Status::InvalidArgument(fmt::format("keys[{}]: field '{}' is not a key column of '{}'",
                                                         index, column, schema.name));
            TANDEM_ASSIGN_OR_RETURN(Value value, value_from_json(schema.key_columns[k].type, v, column));
            parts[k] = std::move(value);
            return Status::Ok();
          }));
      std::vector<Value> key;
      for (size_t k = 0; k < parts.size(); ++k) {
        if (!parts[k] || parts[k]->is_null())
          return Status::InvalidArgument(
              fmt::format("keys[{}]: key column '{}' is missing", index, schema.key_columns[k].name));
        key.push_back(std::move(*parts[k]));
      }
      keys.emplace_back(std::move(key));
      ++index;
    }
    return Status::Ok();
  });
  TANDEM_RETURN_IF_ERROR(s);
  if (!had_keys) return Status::InvalidArgument("field 'keys' is missing: {\"keys\": [{...}, ...]}");
  return keys;
}

}  // namespace tandem::serve
