#include "stores/postgres/postgres_binary_copy.h"

#include <bit>
#include <cmath>
#include <limits>

namespace tandem::postgres {

namespace {

// PostgreSQL's epoch (2000-01-01) in tandem's (1970-01-01).
constexpr int64_t kEpochDays = 10957;
constexpr int64_t kEpochMicros = kEpochDays * 86400 * 1000000;

void put16(uint16_t v, std::string& out) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}
void put32(uint32_t v, std::string& out) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
void put64(uint64_t v, std::string& out) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
void put_length(size_t n, std::string& out) { put32(static_cast<uint32_t>(n), out); }

// False beyond a field's largest length (the text format fails there too).
bool put_bytes(std::string_view bytes, std::string& out) {
  if (bytes.size() > 0x3fffffff) return false;
  put_length(bytes.size(), out);
  out.append(bytes);
  return true;
}

// NUMERIC's binary form (numeric_send): digit count, weight of the first
// base-10000 digit, sign, display scale, then the digits. From the
// canonical decimal text; false if it is not one or exceeds the form's range.
bool put_numeric(std::string_view d, std::string& out) {
  bool negative = false;
  if (!d.empty() && d[0] == '-') {
    negative = true;
    d.remove_prefix(1);
  }
  size_t dot = d.find('.');
  std::string_view whole = d.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : d.substr(dot + 1);
  if (whole.empty()) return false;
  for (std::string_view part : {whole, fraction}) {
    for (char c : part) {
      if (c < '0' || c > '9') return false;
    }
  }
  while (whole.size() > 1 && whole[0] == '0') whole.remove_prefix(1);
  if (whole == "0") whole = {};
  // Groups of 4 digits aligned on the decimal point, read in place (no
  // copy per value): group g covers the whole digits padded on the left to
  // a multiple of 4, then the fraction padded on the right.
  const size_t lead = (4 - whole.size() % 4) % 4;  // zeros padding the first group
  const size_t whole_groups = (whole.size() + lead) / 4;
  const size_t groups = whole_groups + (fraction.size() + 3) / 4;
  if (whole_groups > 32767 || fraction.size() > 0x3FFF) return false;  // weight is int16; dscale 14 bits
  auto digit = [&](size_t k) -> int {                                  // k-th digit of the padded sequence
    if (k < lead) return 0;
    k -= lead;
    if (k < whole.size()) return whole[k] - '0';
    k -= whole.size();
    return k < fraction.size() ? fraction[k] - '0' : 0;
  };
  auto group = [&](size_t g) {
    int v = 0;
    for (size_t i = 0; i < 4; ++i) v = v * 10 + digit(4 * g + i);
    return static_cast<uint16_t>(v);
  };
  // Without leading and trailing zero groups, as the server stores it.
  size_t first = 0, last = groups;
  while (first < last && group(first) == 0) ++first;
  while (last > first && group(last - 1) == 0) --last;
  const auto weight = static_cast<int64_t>(whole_groups) - 1 - static_cast<int64_t>(first);
  const size_t n = last - first;
  put_length(8 + 2 * n, out);
  put16(static_cast<uint16_t>(n), out);
  put16(static_cast<uint16_t>(static_cast<int16_t>(n == 0 ? 0 : weight)), out);
  put16(negative && n > 0 ? 0x4000 : 0x0000, out);
  put16(static_cast<uint16_t>(fraction.size()), out);
  for (size_t g = first; g < last; ++g) put16(group(g), out);
  return true;
}

}  // namespace

std::optional<BinaryColumn> binary_column(Type type, std::string_view data_type) {
  switch (type) {
    case Type::kInt:
      if (data_type == "smallint") return BinaryColumn::kInt2;
      if (data_type == "integer") return BinaryColumn::kInt4;
      if (data_type == "bigint") return BinaryColumn::kInt8;
      break;
    case Type::kBool:
      if (data_type == "boolean") return BinaryColumn::kBool;
      break;
    case Type::kDouble:
      if (data_type == "real") return BinaryColumn::kFloat4;
      if (data_type == "double precision") return BinaryColumn::kFloat8;
      break;
    case Type::kDecimal:
      if (data_type == "numeric") return BinaryColumn::kNumeric;
      break;
    case Type::kText:
      // An enum and an interval read their own binary forms: as text.
      if (data_type == "text" || data_type == "character varying" || data_type == "character") {
        return BinaryColumn::kText;
      }
      break;
    case Type::kBytes:
      if (data_type == "bytea") return BinaryColumn::kBytea;
      break;
    case Type::kTimestamp:
      if (data_type == "timestamp with time zone") return BinaryColumn::kTimestamp;
      break;
    case Type::kDateTime:
      if (data_type == "timestamp without time zone") return BinaryColumn::kTimestamp;
      break;
    case Type::kDate:
      if (data_type == "date") return BinaryColumn::kDate;
      break;
    case Type::kTime:
      if (data_type == "time without time zone") return BinaryColumn::kTime;
      break;
    case Type::kJson:
      if (data_type == "jsonb") return BinaryColumn::kJsonb;
      if (data_type == "json") return BinaryColumn::kJson;
      break;
    case Type::kUuid:
      if (data_type == "uuid") return BinaryColumn::kUuid;
      break;
    case Type::kNull:
      break;
  }
  return std::nullopt;
}

void append_binary_header(std::string& out) {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // and its terminating NUL
  out.append(kSignature, sizeof kSignature);
  put32(0, out);  // flags: no OIDs
  put32(0, out);  // no header extension
}

void append_binary_trailer(std::string& out) { put16(0xffff, out); }

void append_binary_field_count(size_t count, std::string& out) { put16(static_cast<uint16_t>(count), out); }

bool append_binary_field(BinaryColumn column, const Value* v, std::string& out) {
  if (v == nullptr || v->is_null()) {
    put32(0xffffffff, out);
    return true;
  }
  switch (column) {
    case BinaryColumn::kInt2:
    case BinaryColumn::kInt4:
    case BinaryColumn::kInt8: {
      const int64_t* i = v->get_if<int64_t>();
      if (i == nullptr) return false;
      if (column == BinaryColumn::kInt8) {
        put_length(8, out);
        put64(static_cast<uint64_t>(*i), out);
      } else if (column == BinaryColumn::kInt4) {
        if (*i < std::numeric_limits<int32_t>::min() || *i > std::numeric_limits<int32_t>::max())
          return false;
        put_length(4, out);
        put32(static_cast<uint32_t>(static_cast<int32_t>(*i)), out);
      } else {
        if (*i < std::numeric_limits<int16_t>::min() || *i > std::numeric_limits<int16_t>::max())
          return false;
        put_length(2, out);
        put16(static_cast<uint16_t>(static_cast<int16_t>(*i)), out);
      }
      return true;
    }
    case BinaryColumn::kBool: {
      const bool* b = v->get_if<bool>();
      if (b == nullptr) return false;
      put_length(1, out);
      out += *b ? '\1' : '\0';
      return true;
    }
    case BinaryColumn::kFloat4:
    case BinaryColumn::kFloat8: {
      const double* d = v->get_if<double>();
      if (d == nullptr) return false;
      if (column == BinaryColumn::kFloat8) {
        put_length(8, out);
        put64(std::bit_cast<uint64_t>(*d), out);
        return true;
      }
      // A REAL column holds only what is exactly a float (check_storable
      // refuses the rest); NaN and the infinities are floats too.
      const auto f = static_cast<float>(*d);
      if (!std::isnan(*d) && static_cast<double>(f) != *d) return false;
      put_length(4, out);
      put32(std::bit_cast<uint32_t>(f), out);
      return true;
    }
    case BinaryColumn::kNumeric: {
      const Decimal* d = v->get_if<Decimal>();
      return d != nullptr && put_numeric(d->text, out);
    }
    case BinaryColumn::kText: {
      const std::string* s = v->get_if<std::string>();
      return s != nullptr && put_bytes(*s, out);
    }
    case BinaryColumn::kBytea: {
      const Bytes* b = v->get_if<Bytes>();
      return b != nullptr && put_bytes(b->data, out);
    }
    case BinaryColumn::kTimestamp: {
      int64_t micros = 0;
      if (const Timestamp* t = v->get_if<Timestamp>()) {
        if (!t->in_range()) return false;
        micros = t->micros;
      } else if (const DateTime* dt = v->get_if<DateTime>()) {
        if (!dt->in_range()) return false;
        micros = dt->micros;
      } else {
        return false;
      }
      put_length(8, out);
      put64(static_cast<uint64_t>(micros - kEpochMicros), out);
      return true;
    }
    case BinaryColumn::kDate: {
      const Date* d = v->get_if<Date>();
      if (d == nullptr || !d->in_range()) return false;
      put_length(4, out);
      put32(static_cast<uint32_t>(static_cast<int32_t>(d->days - kEpochDays)), out);
      return true;
    }
    case BinaryColumn::kTime: {
      const TimeOfDay* t = v->get_if<TimeOfDay>();
      if (t == nullptr || !t->in_range()) return false;
      put_length(8, out);
      put64(static_cast<uint64_t>(t->micros), out);
      return true;
    }
    case BinaryColumn::kJson:
    case BinaryColumn::kJsonb: {
      const Json* j = v->get_if<Json>();
      if (j == nullptr) return false;
      if (column == BinaryColumn::kJson) return put_bytes(j->text, out);
      if (j->text.size() >= 0x3fffffff) return false;
      put_length(1 + j->text.size(), out);
      out += '\1';  // jsonb's binary format version, then the text
      out.append(j->text);
      return true;
    }
    case BinaryColumn::kUuid: {
      const Uuid* u = v->get_if<Uuid>();
      if (u == nullptr) return false;
      put_length(16, out);
      out.append(reinterpret_cast<const char*>(u->bytes.data()), u->bytes.size());
      return true;
    }
  }
  return false;
}

}  // namespace tandem::postgres
