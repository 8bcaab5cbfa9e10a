// Conversions of one value between old's shape and new's (see conversions.h).
#include "mapping/conversions.h"

#include <fmt/format.h>
#include <time.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <sstream>

namespace tandem {

namespace {

using nlohmann::json;
using Conversion = Mapper::Conversion;
using Kind = Mapper::Conversion::Kind;

Status bad(std::string_view what) { return Status::InvalidArgument(std::string(what)); }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

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

Result<Value> with_scale(Decimal d, int scale) {
  size_t dot = d.text.find('.');
  size_t digits = dot == std::string::npos ? 0 : d.text.size() - dot - 1;
  if (static_cast<int>(digits) > scale) {
    return bad(
        fmt::format("{} has {} fraction digits, more than the {} the column keeps (tandem does not round)",
                    d.text, digits, scale));
  }
  return Value(std::move(d));
}

Result<Value> decimal_of(std::string_view text, const Conversion& convert) {
  auto d = Decimal::parse(text);
  if (!d.ok()) return bad(d.status().message());
  if (convert.kind == Kind::kDecimal && convert.scale) return with_scale(std::move(*d), *convert.scale);
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
    default:  // dates and times: their text forms
      return v.to_display();
  }
}

}  // namespace

std::optional<Mapper::Conversion> Mapper::Conversion::parse(std::string_view text) {
  Conversion c;
  if (text.empty()) return c;
  if (text == "bool") {
    c.kind = Kind::kBool;
  } else if (text == "json") {
    c.kind = Kind::kJson;
  } else if (text == "text") {
    c.kind = Kind::kText;
  } else if (text == "decimal") {
    c.kind = Kind::kDecimal;
  } else if (starts_with(text, "decimal:")) {
    c.kind = Kind::kDecimal;
    c.scale = std::atoi(std::string(text.substr(8)).c_str());
  } else if (starts_with(text, "timestamp:")) {
    c.kind = Kind::kTimestamp;
    c.format = std::string(text.substr(10));
  } else {
    return std::nullopt;
  }
  return c;
}

namespace mapping {

const Conversion kNoConversion{};

// A value of old's column to new's column type.
Result<Value> from_value(const Value& v, Type target, const Conversion& convert) {
  if (v.is_null()) return Value();
  if (convert.kind == Kind::kBool) {
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
  if (convert.kind == Kind::kTimestamp) {
    if (v.type() != Type::kText)
      return bad(fmt::format("{} is not text in a timestamp format", v.to_display()));
    return parse_timestamp(v.as<std::string>(), convert.format);
  }
  if (convert.kind == Kind::kDecimal) {
    if (v.type() == Type::kInt) return decimal_of(std::to_string(v.as<int64_t>()), convert);
    if (v.type() == Type::kDecimal) return decimal_of(v.as<Decimal>().text, convert);
    if (v.type() == Type::kText) return decimal_of(v.as<std::string>(), convert);
    return bad(fmt::format("{} is not a decimal", v.to_display()));
  }
  if (convert.kind == Kind::kJson) {
    if (v.type() == Type::kJson) return v;
    if (v.type() != Type::kText) return bad(fmt::format("{} is not JSON text", v.to_display()));
    auto j = Json::parse(v.as<std::string>());
    if (!j.ok()) return bad(j.status().message());
    return Value(std::move(*j));
  }
  if (convert.kind == Kind::kText) return Value(scalar_text(v));
  if (v.type() == target) return v;
  if (v.type() == Type::kInt && target == Type::kDouble) return Value(static_cast<double>(v.as<int64_t>()));
  if (v.type() == Type::kInt && target == Type::kDecimal)
    return decimal_of(std::to_string(v.as<int64_t>()), kNoConversion);
  return bad(fmt::format("{} is {}, not {}", v.to_display(), type_name(v.type()), type_name(target)));
}

// A member of old's document to new's column type.
Result<Value> from_json(const json& j, Type target, const Conversion& convert) {
  if (j.is_null()) return Value();
  if (convert.kind == Kind::kJson || target == Type::kJson) {
    if (j.is_string() && convert.kind == Kind::kJson) {
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
  if (convert.kind == Kind::kText) return Value(j.is_string() ? j.get<std::string>() : j.dump());
  switch (target) {
    case Type::kBool:
      if (j.is_boolean()) return Value(j.get<bool>());
      if (convert.kind == Kind::kBool && j.is_number_integer() &&
          (j.get<int64_t>() == 0 || j.get<int64_t>() == 1)) {
        return Value(j.get<int64_t>() == 1);
      }
      if (convert.kind == Kind::kBool && j.is_string())
        return from_value(Value(j.get<std::string>()), target, convert);
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
      if (convert.kind == Kind::kTimestamp) return parse_timestamp(j.get<std::string>(), convert.format);
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
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime: {
      if (!j.is_string()) return bad(fmt::format("{} is not a {} string", j.dump(), type_name(target)));
      auto v = parse_calendar(target, j.get<std::string>());
      if (!v.ok()) return bad(v.status().message());
      return v;
    }
    default:
      break;
  }
  return bad(fmt::format("a document member cannot go into a {} column", type_name(target)));
}

// new's value back to old's column type.
Result<Value> to_value(const Value& v, Type old_type, const Conversion& convert) {
  if (v.is_null() || v.type() == old_type) return v;
  if (v.type() == Type::kBool && old_type == Type::kInt) return Value(int64_t{v.as<bool>() ? 1 : 0});
  if (v.type() == Type::kBool && old_type == Type::kText) return Value(v.as<bool>() ? "true" : "false");
  if (v.type() == Type::kTimestamp && old_type == Type::kText && convert.kind == Kind::kTimestamp) {
    return Value(format_timestamp(v.as<Timestamp>(), convert.format));
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
    if (old_type == Type::kDecimal) return decimal_of(s, kNoConversion);
  }
  return bad(fmt::format("{} cannot be written into old's {} column", v.to_display(), type_name(old_type)));
}

// new's value back to a document member; existing is the member it replaces.
Result<json> to_json(const Value& v, const Conversion& convert, const json* existing) {
  switch (v.type()) {
    case Type::kNull:
      return json(nullptr);
    case Type::kBool:
      if (convert.kind == Kind::kBool && existing != nullptr && existing->is_number())
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
      if (convert.kind == Kind::kText && existing != nullptr && !existing->is_string()) {
        json parsed = json::parse(v.as<std::string>(), nullptr, false);
        if (!parsed.is_discarded()) return parsed;
      }
      return json(v.as<std::string>());
    case Type::kTimestamp:
      if (convert.kind == Kind::kTimestamp) return json(format_timestamp(v.as<Timestamp>(), convert.format));
      return json(v.as<Timestamp>().to_string());
    case Type::kJson:
      if (convert.kind == Kind::kJson && existing != nullptr && existing->is_string())
        return json(v.as<Json>().text);
      return json::parse(v.as<Json>().text);
    case Type::kUuid:
      return json(v.as<Uuid>().to_string());
    case Type::kDate:
    case Type::kTime:
    case Type::kDateTime:
      return json(v.to_display());
    case Type::kBytes:
      break;
  }
  return bad("bytes cannot be written into a JSON document");
}

json value_as_json(const Value& v) {
  auto j = to_json(v, kNoConversion, nullptr);
  return j.ok() ? *j : json(v.to_display());
}

}  // namespace mapping
}  // namespace tandem
