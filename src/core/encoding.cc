#include "core/encoding.h"

#include <xxhash.h>

#include <bit>

namespace tandem {

namespace {

void put_bytes(std::string& out, std::string_view s) {
  append_u64_be(out, s.size());
  out.append(s);
}

void encode_value(const Value& v, std::string& out) {
  out += static_cast<char>(v.type());
  switch (v.type()) {
    case Type::kNull:
      break;
    case Type::kBool:
      out += v.as<bool>() ? '\x01' : '\x00';
      break;
    case Type::kInt:
      append_u64_be(out, static_cast<uint64_t>(v.as<int64_t>()));
      break;
    case Type::kDouble: {
      double d = v.as<double>();
      if (d == 0) d = 0;  // -0.0 and 0.0 hash alike
      append_u64_be(out, std::bit_cast<uint64_t>(d));
      break;
    }
    case Type::kDecimal:
      put_bytes(out, v.as<Decimal>().text);
      break;
    case Type::kText:
      put_bytes(out, v.as<std::string>());
      break;
    case Type::kBytes:
      put_bytes(out, v.as<Bytes>().data);
      break;
    case Type::kTimestamp:
      append_u64_be(out, static_cast<uint64_t>(v.as<Timestamp>().micros));
      break;
    case Type::kJson:
      put_bytes(out, v.as<Json>().text);
      break;
    case Type::kUuid:
      out.append(reinterpret_cast<const char*>(v.as<Uuid>().bytes.data()), 16);
      break;
    case Type::kDate:
      append_u64_be(out, static_cast<uint64_t>(int64_t{v.as<Date>().days}));
      break;
    case Type::kTime:
      append_u64_be(out, static_cast<uint64_t>(v.as<TimeOfDay>().micros));
      break;
    case Type::kDateTime:
      append_u64_be(out, static_cast<uint64_t>(v.as<DateTime>().micros));
      break;
  }
}

}  // namespace

void encode_record_canonical(const CollectionSchema& schema, const Record& record, std::string& out) {
  put_bytes(out, record.key.encode());
  static const Value kNull;
  for (const Column& c : schema.columns) {
    auto it = record.fields.find(c.name);
    encode_value(it == record.fields.end() ? kNull : it->second, out);
  }
}

uint64_t record_hash(const CollectionSchema& schema, const Record& record) {
  thread_local std::string buffer;
  buffer.clear();
  encode_record_canonical(schema, record, buffer);
  return XXH3_64bits(buffer.data(), buffer.size());
}

uint64_t hash_bytes(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

void append_u64_be(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

uint64_t record_lock_hash(std::string_view collection, std::string_view encoded_key) {
  thread_local std::string buffer;  // reused: no allocation per record once warm
  buffer.assign(collection);
  buffer += '\0';  // ("ab", "c") and ("a", "bc") differ
  buffer.append(encoded_key);
  return hash_bytes(buffer);
}

}  // namespace tandem
