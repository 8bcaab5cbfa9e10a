// `tandem demo`: a live migration on the embedded default (SQLite).
//
// A simulated service (several threads) reads, puts, patches and deletes
// through the router while the plan is walked step by step. Every operation on
// a key runs under that key's stripe lock in the demo, so the in-memory model
// (per key, the last acknowledged write) is exact, and every read is checked
// against it. At the end old and new are compared with the model.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "cli/commands.h"
#include "tandem/migration.h"
#include "tandem/store.h"

namespace tandem::cli {

namespace {

constexpr size_t kStripes = 1024;

const char* kDemoConfig = R"toml(# Written by `tandem demo`. Try: tandem --config {dir}/tandem.toml status
[migration]
name = "demo-users"
control = "control.db"
refresh_interval_ms = 200
instance_timeout_ms = 3000

[databases]
old = "sqlite:old.db"
new = "sqlite:new.db"

[[collections]]
name = "users"
key = ["id"]
columns = [
  {{ name = "id", type = "int" }},
  {{ name = "email", type = "text", nullable = false }},
  {{ name = "name", type = "text" }},
  {{ name = "age", type = "int" }},
  {{ name = "balance", type = "decimal" }},
  {{ name = "created_at", type = "timestamp" }},
  {{ name = "profile", type = "json" }},
  {{ name = "active", type = "bool" }},
]
)toml";

Record make_user(int64_t id, std::mt19937_64& rng) {
  static const std::array<const char*, 8> kNames = {"Ada", "Grace",   "Linus",  "Barbara",
                                                    "Ken", "Frances", "Edsger", "Zoë"};
  Record r;
  r.key = Key{Value(id)};
  r.fields["email"] = Value(fmt::format("user{}@example.com", id));
  r.fields["name"] = Value(fmt::format("{} {}", kNames[rng() % kNames.size()], id));
  r.fields["age"] = (rng() % 10 == 0) ? Value() : Value(static_cast<int64_t>(18 + rng() % 70));
  r.fields["balance"] = Value(Decimal::parse(fmt::format("{}.{:02}", rng() % 100000, rng() % 100)).value());
  r.fields["created_at"] = Value(Timestamp{1600000000000000 + static_cast<int64_t>(rng() % 100000000000000)});
  r.fields["profile"] = Value(Json::parse(fmt::format(R"({{"plan":"{}","tags":["a","b"],"visits":{}}})",
                                                      rng() % 2 ? "pro" : "free", rng() % 1000))
                                  .value());
  r.fields["active"] = Value(rng() % 4 != 0);
  return r;
}

struct Latencies {
  std::vector<uint32_t> micros;
};

double percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

struct Model {
  // key -> record, or nullopt once deleted through tandem.
  std::unordered_map<int64_t, std::optional<Record>> records;
  std::array<std::mutex, kStripes> stripes;
};

struct Workload {
  Collection* users = nullptr;
  Migration* migration = nullptr;
  Model* model = nullptr;
  int64_t key_space = 0;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> read_violations{0};
  std::atomic<int64_t> unexpected_errors{0};
  std::mutex latency_mutex;
  std::vector<Latencies> latency_by_step;  // guarded by latency_mutex
  std::string first_violation;             // guarded by latency_mutex

  void note_violation(std::string what) {
    std::lock_guard lock(latency_mutex);
    if (first_violation.empty()) first_violation = std::move(what);
  }

  void run(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Latencies> local(latency_by_step.size());
    while (!stop.load(std::memory_order_relaxed)) {
      int64_t id = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(key_space));
      Key key{Value(id)};
      int dice = static_cast<int>(rng() % 100);
      size_t step = migration->applied_step().step_index;
      std::lock_guard stripe(model->stripes[static_cast<size_t>(id) % kStripes]);
      auto it = model->records.find(id);
      const std::optional<Record>* expected = it == model->records.end() ? nullptr : &it->second;
      bool exists = expected != nullptr && expected->has_value();
      auto start = std::chrono::steady_clock::now();
      if (dice < 60) {
        auto got = users->get(key);
        if (!got.ok()) {
          unexpected_errors.fetch_add(1);
          note_violation(fmt::format("read of {} failed: {}", id, got.status().to_string()));
        } else if (got->has_value() != exists || (exists && **got != **expected)) {
          read_violations.fetch_add(1);
          note_violation(fmt::format("read of {} returned {} but the model holds {}", id,
                                     got->has_value() ? (*got)->to_display() : "nothing",
                                     exists ? (*expected)->to_display() : "nothing"));
        }
      } else if (dice < 80) {
        FieldMap fields{{"name", Value(fmt::format("patched {}", rng() % 1000))},
                        {"balance", Value(Decimal::parse(fmt::format("{}.5", rng() % 1000)).value())}};
        Status s = users->patch(key, fields);
        if (s.ok() && exists) {
          Record r = **expected;
          for (auto& [k, v] : fields) r.fields[k] = v;
          model->records[id] = std::move(r);
        } else if (!(s.code() == Code::kNotFound && !exists)) {
          unexpected_errors.fetch_add(1);
          note_violation(
              fmt::format("patch of {}: {} (model: {})", id, s.to_string(), exists ? "exists" : "absent"));
        }
      } else if (dice < 92) {
        Record r = make_user(id, rng);
        Status s = users->put(r);
        if (s.ok()) {
          model->records[id] = std::move(r);
        } else {
          unexpected_errors.fetch_add(1);
          note_violation(fmt::format("put of {}: {}", id, s.to_string()));
        }
      } else {
        Status s = users->remove(key);
        if (s.ok()) {
          model->records[id] = std::nullopt;
        } else {
          unexpected_errors.fetch_add(1);
          note_violation(fmt::format("remove of {}: {}", id, s.to_string()));
        }
      }
      auto us =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start)
              .count();
      local[step].micros.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
    }
    std::lock_guard lock(latency_mutex);
    for (size_t i = 0; i < local.size(); ++i) {
      auto& dst = latency_by_step[i].micros;
      dst.insert(dst.end(), local[i].micros.begin(), local[i].micros.end());
    }
  }
};

struct StoreCheck {
  int64_t records = 0;
  int64_t equal = 0;
  int64_t different = 0;  // present but not equal to the model
  int64_t zombies = 0;    // present although deleted through tandem
  int64_t unknown = 0;    // present although the model never had it
  int64_t missing = 0;    // in the model but not here
  std::string first_problem;
};

Result<StoreCheck> check_store(Store& store, const Model& model) {
  StoreCheck c;
  KeyRange range;
  std::unordered_map<int64_t, bool> seen;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<Record> batch, store.scan("users", range, 5000));
    if (batch.empty()) break;
    for (const Record& r : batch) {
      ++c.records;
      int64_t id = r.key[0].as<int64_t>();
      seen[id] = true;
      auto it = model.records.find(id);
      auto note = [&](std::string what) {
        if (c.first_problem.empty()) c.first_problem = std::move(what);
      };
      if (it == model.records.end()) {
        ++c.unknown;
        note(fmt::format("{} holds {}, which the service never wrote", store.name(), r.to_display()));
      } else if (!it->second) {
        ++c.zombies;
        note(fmt::format("{} holds {}, which the service deleted", store.name(), r.to_display()));
      } else if (*it->second != r) {
        ++c.different;
        note(fmt::format("{} holds {} but the model holds {}", store.name(), r.to_display(),
                         it->second->to_display()));
      } else {
        ++c.equal;
      }
    }
    range.begin = Key{Value(batch.back().key[0].as<int64_t>() + 1)};
  }
  for (const auto& [id, rec] : model.records) {
    if (rec && !seen.contains(id)) ++c.missing;
  }
  return c;
}

std::string make_temp_dir() {
  std::string templ = (std::filesystem::temp_directory_path() / "tandem-demo-XXXXXX").string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) return {};
  return buf.data();
}

}  // namespace

int run_demo(const DemoOptions& options) {
  std::string dir = options.dir.empty() ? make_temp_dir() : options.dir;
  if (dir.empty()) {
    fmt::print(stderr, "tandem demo: cannot create a temporary folder\n");
    return kExitError;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (const char* f : {"old.db", "new.db", "control.db"}) {
    for (const char* suffix : {"", "-wal", "-shm", ".tandem-locks"})
      std::filesystem::remove(std::filesystem::path(dir) / (std::string(f) + suffix), ec);
  }
  const std::string config_path = (std::filesystem::path(dir) / "tandem.toml").string();
  {
    std::ofstream out(config_path);
    out << fmt::format(fmt::runtime(kDemoConfig), fmt::arg("dir", dir));
  }
  auto config = Config::load_file(config_path);
  if (!config.ok()) {
    fmt::print(stderr, "tandem demo: {}\n", config.status().to_string());
    return kExitConfig;
  }
  fmt::print("tandem demo in {}\n", dir);

  // The service's existing database: old, with its users table.
  Model model;
  auto seed_start = std::chrono::steady_clock::now();
  {
    auto old_store = open_store("old", config->old_url);
    if (!old_store.ok())
      return fmt::print(stderr, "tandem demo: {}\n", old_store.status().to_string()), kExitError;
    Status s = (*old_store)->ensure_collection(config->collections[0], true);
    if (!s.ok()) return fmt::print(stderr, "tandem demo: {}\n", s.to_string()), kExitError;
    std::mt19937_64 rng(options.seed);
    std::vector<Record> batch;
    for (int64_t id = 1; id <= options.records; ++id) {
      batch.push_back(make_user(id, rng));
      if (batch.size() == 5000 || id == options.records) {
        auto done = (*old_store)->insert_if_absent("users", batch, LockPolicy::kNone);
        if (!done.ok())
          return fmt::print(stderr, "tandem demo: seeding old: {}\n", done.status().to_string()), kExitError;
        for (Record& r : batch) model.records.emplace(r.key[0].as<int64_t>(), std::move(r));
        batch.clear();
      }
    }
  }
  double seed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - seed_start).count();
  fmt::print("old: {} users written in {:.2f}s\n", options.records, seed_seconds);

  auto migration = Migration::open(*config, MigrationOptions{true, "demo-service"});
  if (!migration.ok())
    return fmt::print(stderr, "tandem demo: {}\n", migration.status().to_string()), kExitError;
  Migration& m = **migration;
  Workload w;
  w.users = m.collection("users").value();
  w.migration = &m;
  w.model = &model;
  w.key_space = options.records + options.records / 10;  // some inserts of new keys
  w.latency_by_step.resize(m.plan().size());

  // Without the background copy (next issue) new only holds what was written
  // since dual-write: steps from read-new on would read an incomplete new.
  const size_t last_step = 2;
  fmt::print(
      "walking steps 1 to {} (old-only, dual-write, shadow-read) with {} service threads, {:.1f}s each;\n"
      "steps 4-7 need the background copy (backfill), which comes next, so the demo stops at step 3.\n\n",
      last_step + 1, options.threads, options.seconds_per_step);
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t)
    threads.emplace_back([&w, &options, t] { w.run(options.seed * 1000 + static_cast<uint64_t>(t)); });
  auto pause = std::chrono::duration<double>(options.seconds_per_step);
  int exit_code = kExitOk;
  for (size_t step = 0;; ++step) {
    std::this_thread::sleep_for(pause);
    if (step == last_step) break;
    auto moved = m.change_step(step + 1, "tandem demo", false);
    if (!moved.ok()) {
      fmt::print(stderr, "tandem demo: step move refused: {}\n", moved.status().to_string());
      exit_code = kExitError;
      break;
    }
    fmt::print("moved to step {} ({}: {})\n", step + 2, m.plan().at(step + 1).name,
               m.plan().at(step + 1).roles_display());
  }
  w.stop = true;
  for (auto& t : threads) t.join();

  auto drained = m.drain_repair_queue(1000000);
  auto repairs_left = m.control().repair_counts();
  auto stats = m.stats();
  fmt::print("\n{:>4} {:<13} {:>9} {:>8} {:>8} {:>6} {:>9} {:>10} {:>9} {:>9}\n", "step", "name", "ops",
             "reads", "writes", "errors", "fallback", "shadow-mm", "p50 us", "p99 us");
  int64_t total_errors = 0;
  for (size_t i = 0; i <= last_step; ++i) {
    const StepStats& s = stats[i];
    total_errors += s.errors;
    auto& lat = w.latency_by_step[i].micros;
    fmt::print("{:>4} {:<13} {:>9} {:>8} {:>8} {:>6} {:>9} {:>10} {:>9.0f} {:>9.0f}\n", i + 1,
               m.plan().at(i).name, s.reads + s.writes, s.reads, s.writes, s.errors, s.fallback_reads,
               s.shadow_mismatches, percentile(lat, 0.5), percentile(lat, 0.99));
  }
  auto old_check = check_store(m.store(Side::kOld), model);
  auto new_check = check_store(m.store(Side::kNew), model);
  if (!old_check.ok() || !new_check.ok() || !drained.ok() || !repairs_left.ok()) {
    for (const Status* s :
         {&old_check.status(), &new_check.status(), &drained.status(), &repairs_left.status()}) {
      if (!s->ok()) fmt::print(stderr, "tandem demo: final check failed to run: {}\n", s->to_string());
    }
    return kExitError;
  }
  int64_t live = 0, deleted = 0;
  for (const auto& [id, r] : model.records) (r ? live : deleted) += 1;
  int64_t repairs = (*repairs_left)[Side::kOld] + (*repairs_left)[Side::kNew];
  fmt::print("\nmodel: {} live records, {} deleted through tandem\n", live, deleted);
  fmt::print(
      "old (write primary throughout): {} records, {} equal to the model, {} different, {} zombies, {} "
      "unknown, {} missing\n",
      old_check->records, old_check->equal, old_check->different, old_check->zombies, old_check->unknown,
      old_check->missing);
  fmt::print(
      "new (write secondary since step 2): {} records, {} equal to the model, {} different, {} zombies, {} "
      "unknown; {} not yet copied (the backfill's job)\n",
      new_check->records, new_check->equal, new_check->different, new_check->zombies, new_check->unknown,
      new_check->missing);
  fmt::print(
      "reads checked against the model: {} wrong; unexpected errors: {}; repair queue: {} repaired, {} "
      "left\n",
      w.read_violations.load(), w.unexpected_errors.load(), *drained, repairs);
  bool ok = old_check->different == 0 && old_check->zombies == 0 && old_check->unknown == 0 &&
            old_check->missing == 0 && new_check->different == 0 && new_check->zombies == 0 &&
            new_check->unknown == 0 && w.read_violations == 0 && w.unexpected_errors == 0 &&
            total_errors == 0 && repairs == 0;
  if (!ok) {
    std::string first = !w.first_violation.empty()          ? w.first_violation
                        : !old_check->first_problem.empty() ? old_check->first_problem
                                                            : new_check->first_problem;
    fmt::print("CHECK FAILED: {}\n", first.empty() ? "errors during the run (see above)" : first);
    return kExitCheckFailed;
  }
  fmt::print("CHECK PASSED: lost writes 0, zombies 0, old holds exactly the service's writes\n");
  fmt::print(
      "\nThe migration is left at step {}. Look around:\n  tandem --config {} status\n  tandem --config {} "
      "plan\n",
      last_step + 1, config_path, config_path);
  return exit_code;
}

}  // namespace tandem::cli
