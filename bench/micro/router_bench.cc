// The router's own cost per operation, beyond the database calls: a Migration
// over two in-memory stores, each wrapped in a TimingStore that adds up the
// time spent inside store calls. The counter router_ns is (wall time - time in
// store calls) per operation, at several steps of the default plan.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "memory_store.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/logging.h"
#include "tandem/migration.h"
#include "tandem/store.h"
#include "tandem/store_wrapper.h"

namespace tandem::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Adds the time spent in the wrapped store's point calls to a counter.
class TimingStore : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  int64_t nanos = 0;

  Result<Lookup> get(std::string_view c, const Key& k) override {
    return timed([&] { return StoreWrapper::get(c, k); });
  }
  Status upsert(std::string_view c, const Record& r) override {
    return timed([&] { return StoreWrapper::upsert(c, r); });
  }
  Result<PatchOutcome> patch(std::string_view c, const Key& k, const FieldMap& f) override {
    return timed([&] { return StoreWrapper::patch(c, k, f); });
  }
  Status remove(std::string_view c, const Key& k) override {
    return timed([&] { return StoreWrapper::remove(c, k); });
  }
  Result<RecordLock> lock(std::string_view c, const Key& k, std::chrono::milliseconds t) override {
    return timed([&] { return StoreWrapper::lock(c, k, t); });
  }
  Result<RecordLock> try_lock(std::string_view c, const Key& k) override {
    return timed([&] { return StoreWrapper::try_lock(c, k); });
  }

 private:
  template <typename F>
  auto timed(F f) -> decltype(f()) {
    auto start = Clock::now();
    auto r = f();
    nanos += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    return r;
  }
};

constexpr const char* kConfig = R"toml(
[migration]
name = "router-bench"
control = "sqlite:{}"
[databases]
old = "sqlite:unused-old.db"
new = "sqlite:unused-new.db"
[[collections]]
name = "users"
key = ["id"]
columns = [
  {{ name = "id", type = "int" }},
  {{ name = "email", type = "text", nullable = false }},
  {{ name = "balance", type = "decimal" }},
  {{ name = "active", type = "bool" }},
]
)toml";

constexpr int64_t kKeys = 10000;

struct Fixture {
  MemoryStore old_memory{"old"}, new_memory{"new"};
  TimingStore old_store{&old_memory}, new_store{&new_memory};
  std::unique_ptr<ControlStore> control;
  std::unique_ptr<Migration> migration;
  Collection* users = nullptr;

  explicit Fixture(size_t step) {
    tandem::set_log_level(tandem::LogLevel::kWarn);
    auto dir = std::filesystem::temp_directory_path() / fmt::format("tandem-router-bench-{}", getpid());
    std::filesystem::create_directories(dir);
    std::string control_url = (dir / fmt::format("control-{}.db", step)).string();
    std::filesystem::remove(control_url);
    Config config = Config::parse(fmt::format(kConfig, control_url), "router-bench", dir).value();
    control = open_control_store("sqlite:" + control_url).value();
    MigrationOptions mo;
    mo.register_instance = false;
    migration = Migration::open_with(config, &old_store, &new_store, control.get(), mo).value();
    users = migration->collection("users").value();
    for (int64_t id = 1; id <= kKeys; ++id) {
      Record r = user(id);
      (void)old_memory.upsert("users", r);
      (void)new_memory.upsert("users", r);
    }
    if (step > 0) {
      auto moved = migration->change_step(step, "router benchmark", /*force=*/true);
      if (!moved.ok()) throw std::runtime_error(moved.status().to_string());
      (void)migration->refresh();
    }
  }

  static Record user(int64_t id) {
    Record r;
    r.key = Key{Value(id)};
    r.fields["email"] = Value(fmt::format("user{}@example.com", id));
    r.fields["balance"] = Value(Decimal::parse("12.50").value());
    r.fields["active"] = Value(true);
    return r;
  }

  void report(benchmark::State& state, Clock::duration wall) {
    int64_t store_ns = old_store.nanos + new_store.nanos;
    int64_t wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count();
    double ops = static_cast<double>(state.iterations());
    state.counters["router_ns"] = static_cast<double>(wall_ns - store_ns) / ops;
    state.counters["store_ns"] = static_cast<double>(store_ns) / ops;
  }
};

template <typename Op>
void run(benchmark::State& state, Op op) {
  Fixture f(static_cast<size_t>(state.range(0)));
  std::mt19937_64 rng(1);
  auto start = Clock::now();
  for (auto _ : state) {
    int64_t id = 1 + static_cast<int64_t>(rng() % kKeys);
    Status s = op(f, id);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      break;
    }
  }
  f.report(state, Clock::now() - start);
}

void BM_RouterGet(benchmark::State& state) {
  run(state, [](Fixture& f, int64_t id) { return f.users->get(Key{Value(id)}).status(); });
}
void BM_RouterPut(benchmark::State& state) {
  run(state, [](Fixture& f, int64_t id) { return f.users->put(Fixture::user(id)); });
}
void BM_RouterPatch(benchmark::State& state) {
  FieldMap fields;
  fields["balance"] = Value(Decimal::parse("99.99").value());
  run(state, [&](Fixture& f, int64_t id) { return f.users->patch(Key{Value(id)}, fields); });
}

// Arguments: the step index of the default plan (0 old-only, 1 dual-write,
// 2 shadow-read, 3 read-new, 4 write-new).
BENCHMARK(BM_RouterGet)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->Arg(4);
BENCHMARK(BM_RouterPut)->Arg(0)->Arg(1)->Arg(4);
BENCHMARK(BM_RouterPatch)->Arg(0)->Arg(1)->Arg(4);

}  // namespace
}  // namespace tandem::bench
