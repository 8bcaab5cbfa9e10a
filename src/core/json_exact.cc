// The general path of Json::parse: nlohmann's SAX parser (iterative, so
// nesting cannot overflow the stack) feeding a writer that keeps every
// number's exact decimal value and refuses what has no single canonical form.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "core/json_canonical.h"
#include "tandem/value.h"

namespace tandem {

namespace {

constexpr int64_t kMaxExponent = 100'000'000;

// nlohmann's parser refuses a number that overflows its floating-point type
// before the SAX handler sees the number's text; long double moves that
// limit from 1.8e308 to 1.1e4932. The value itself is never used.
using LongJson =
    nlohmann::basic_json<std::map, std::vector, std::string, bool, std::int64_t, std::uint64_t, long double>;

// The SAX handler: writes canonical text as the parser goes. Arrays are
// written in place; an object's members are buffered until it ends, then
// sorted by key and appended to the enclosing buffer.
class CanonicalWriter : public nlohmann::json_sax<LongJson> {
 public:
  std::string& out() { return root_; }
  const std::string& error() const { return error_; }

  bool null() override { return scalar("null"); }
  bool boolean(bool v) override { return scalar(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return integer(v); }
  bool number_float(number_float_t /*rounded*/, const string_t& text) override {
    Result<std::string> n = canonical_json_number(text);
    if (!n.ok()) return fail(std::string(n.status().message()));
    return scalar(*n);
  }
  bool string(string_t& v) override {
    std::string& into = begin_value();
    write_json_string(v, into);
    return true;
  }
  bool binary(binary_t& /*unused*/) override { return fail("binary values are not JSON"); }
  bool start_object(std::size_t /*unknown*/) override {
    if (!enter()) return false;
    begin_value();
    frames_.push_back(Frame{true, {}, false});
    return true;
  }
  bool key(string_t& k) override {
    Frame& f = frames_.back();
    f.members.emplace_back(std::move(k), std::string());
    return true;
  }
  bool end_object() override {
    Frame f = std::move(frames_.back());
    frames_.pop_back();
    std::sort(f.members.begin(), f.members.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 1; i < f.members.size(); ++i) {
      if (f.members[i - 1].first == f.members[i].first) {
        std::string shown = f.members[i].first.substr(0, 64);
        return fail(fmt::format(
            "the member '{}' appears twice in one object (engines disagree on which one wins)", shown));
      }
    }
    std::string& into = current();
    into += '{';
    for (size_t i = 0; i < f.members.size(); ++i) {
      if (i > 0) into += ',';
      write_json_string(f.members[i].first, into);
      into += ':';
      into += f.members[i].second;
    }
    into += '}';
    --depth_;
    return true;
  }
  bool start_array(std::size_t /*unknown*/) override {
    if (!enter()) return false;
    begin_value() += '[';
    frames_.push_back(Frame{false, {}, false});
    return true;
  }
  bool end_array() override {
    frames_.pop_back();
    current() += ']';
    --depth_;
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*token*/,
                   const nlohmann::detail::exception& e) override {
    if (!error_.empty()) return false;
    if (e.id == 406) {
      error_ =
          fmt::format("the JSON number at byte {} is beyond +/-1.1e4932, which tandem cannot read", position);
    } else {
      error_ = fmt::format("invalid JSON at byte {}: {}", position, e.what());
    }
    return false;
  }

 private:
  struct Frame {
    bool object = false;
    std::vector<std::pair<std::string, std::string>> members;  // objects: key, canonical value
    bool has_element = false;                                  // arrays: a comma goes before the next element
  };

  bool enter() {
    if (++depth_ > Json::kMaxDepth) {
      return fail(fmt::format("JSON nested deeper than {} levels", Json::kMaxDepth));
    }
    return true;
  }
  bool fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return false;
  }
  // Where the next value's text goes: the root, the last member of the
  // innermost object, or the innermost array (after a comma).
  std::string& current() {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      if (it->object) return it->members.back().second;
    }
    return root_;
  }
  std::string& begin_value() {
    if (!frames_.empty() && !frames_.back().object) {
      Frame& array = frames_.back();
      std::string& into = current();
      if (array.has_element) into += ',';
      array.has_element = true;
      return into;
    }
    return current();
  }
  bool scalar(std::string_view text) {
    begin_value() += text;
    return true;
  }
  template <typename Int>
  bool integer(Int v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return scalar(std::string_view(buf, static_cast<size_t>(end - buf)));
  }

  std::string root_;
  std::vector<Frame> frames_;
  size_t depth_ = 0;
  std::string error_;
};

}  // namespace

void write_json_string(std::string_view s, std::string& out) {
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

Result<std::string> canonical_json_number(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument(fmt::format("'{}' is not a JSON number", text.substr(0, 64)));
  };
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && text[i] == '-') {
    negative = true;
    ++i;
  }
  std::string digits;  // integer and fraction digits, without the point
  int64_t exponent = 0;
  size_t int_start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') digits += text[i++];
  if (i == int_start) return bad();
  if (i < text.size() && text[i] == '.') {
    ++i;
    size_t frac_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') digits += text[i++];
    if (i == frac_start) return bad();
    exponent -= static_cast<int64_t>(i - frac_start);
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) exp_negative = text[i++] == '-';
    size_t exp_start = i;
    int64_t e = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (e > kMaxExponent) {
        return Status::InvalidArgument(fmt::format("the JSON number '{}' has an exponent beyond +/-{}",
                                                   text.substr(0, 64), kMaxExponent));
      }
      e = e * 10 + (text[i++] - '0');
    }
    if (i == exp_start) return bad();
    exponent += exp_negative ? -e : e;
  }
  if (i != text.size()) return bad();
  // Strip leading zeros, then trailing zeros into the exponent.
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return std::string("0");
  digits.erase(0, first);
  size_t last = digits.find_last_not_of('0');
  exponent += static_cast<int64_t>(digits.size() - last - 1);
  digits.erase(last + 1);
  const auto n = static_cast<int64_t>(digits.size());
  const int64_t scientific = exponent + n - 1;  // the power of ten of the first digit
  if (scientific > kMaxExponent || scientific < -kMaxExponent) {
    return Status::InvalidArgument(
        fmt::format("the JSON number '{}' has an exponent beyond +/-{}", text.substr(0, 64), kMaxExponent));
  }
  std::string out = negative ? "-" : "";
  if (scientific >= -6 && scientific <= 20) {
    if (exponent >= 0) {
      out += digits;
      out.append(static_cast<size_t>(exponent), '0');
    } else if (scientific >= 0) {
      out.append(digits, 0, static_cast<size_t>(scientific + 1));
      out += '.';
      out.append(digits, static_cast<size_t>(scientific + 1));
    } else {
      out += "0.";
      out.append(static_cast<size_t>(-scientific - 1), '0');
      out += digits;
    }
    return out;
  }
  out += digits[0];
  if (n > 1) {
    out += '.';
    out.append(digits, 1);
  }
  out += scientific > 0 ? "e+" : "e-";
  out += std::to_string(scientific > 0 ? scientific : -scientific);
  return out;
}

Result<std::string> canonical_json_exact(std::string_view text) {
  CanonicalWriter writer;
  bool ok =
      LongJson::sax_parse(text.data(), text.data() + text.size(), &writer, LongJson::input_format_t::json,
                          /*strict=*/true);
  if (!ok || !writer.error().empty()) {
    return Status::InvalidArgument(writer.error().empty() ? std::string("invalid JSON") : writer.error());
  }
  return std::move(writer.out());
}

}  // namespace tandem
