// Value and key encoding/decoding and the digest's record hashing: the
// per-record CPU work of every copy and verify.
#include <benchmark/benchmark.h>

#include "core/encoding.h"
#include "tandem/key.h"
#include "tandem/record.h"
#include "tandem/schema.h"

namespace tandem::bench {
namespace {

CollectionSchema users_schema() {
  CollectionSchema s;
  s.name = "users";
  s.key_columns = {{"id", Type::kInt, false}};
  s.columns = {{"email", Type::kText, false},
               {"name", Type::kText, true},
               {"age", Type::kInt, true},
               {"balance", Type::kDecimal, false},
               {"created_at", Type::kTimestamp, false},
               {"doc", Type::kJson, true},
               {"active", Type::kBool, false}};
  return s;
}

Record user(int64_t id) {
  Record r;
  r.key = Key{Value(id)};
  r.fields["email"] = Value("user" + std::to_string(id) + "@example.com");
  r.fields["name"] = Value("Grace " + std::to_string(id));
  r.fields["age"] = Value(int64_t{42});
  r.fields["balance"] = Value(Decimal::parse("12345.67").value());
  r.fields["created_at"] = Value(Timestamp{1600000000123456});
  r.fields["doc"] = Value(
      Json::parse(R"({"plan":"pro","score":417,"tags":["t3","t9"],"bio":")" + std::string(128, 'a') + "\"}")
          .value());
  r.fields["active"] = Value(true);
  return r;
}

void BM_KeyEncode(benchmark::State& state) {
  Key k{Value(int64_t{123456789})};
  for (auto _ : state) benchmark::DoNotOptimize(k.encode());
}
BENCHMARK(BM_KeyEncode);

void BM_KeyDecode(benchmark::State& state) {
  std::string bytes = Key{Value(int64_t{123456789})}.encode();
  for (auto _ : state) benchmark::DoNotOptimize(Key::decode(bytes));
}
BENCHMARK(BM_KeyDecode);

void BM_CompositeKeyEncodeDecode(benchmark::State& state) {
  Key k{Value(std::string("tenant-42")), Value(int64_t{7}), Value(std::string("2024-01-01"))};
  for (auto _ : state) benchmark::DoNotOptimize(Key::decode(k.encode()));
}
BENCHMARK(BM_CompositeKeyEncodeDecode);

void BM_RecordCanonicalEncoding(benchmark::State& state) {
  CollectionSchema s = users_schema();
  Record r = user(42);
  std::string out;
  for (auto _ : state) {
    out.clear();
    encode_record_canonical(s, r, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_RecordCanonicalEncoding);

void BM_RecordHash(benchmark::State& state) {
  CollectionSchema s = users_schema();
  Record r = user(42);
  for (auto _ : state) benchmark::DoNotOptimize(record_hash(s, r));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordHash);

void BM_HashBytes(benchmark::State& state) {
  std::string bytes(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(hash_bytes(bytes));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_HashBytes)->Arg(64)->Arg(300)->Arg(4096);

void BM_DecimalParse(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Decimal::parse("12345.67"));
}
BENCHMARK(BM_DecimalParse);

void BM_JsonParse(benchmark::State& state) {
  std::string text =
      R"({"plan":"pro","score":417,"tags":["t3","t9"],"bio":")" + std::string(128, 'a') + "\"}";
  for (auto _ : state) benchmark::DoNotOptimize(Json::parse(text));
}
BENCHMARK(BM_JsonParse);

}  // namespace
}  // namespace tandem::bench

BENCHMARK_MAIN();
