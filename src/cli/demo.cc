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
#include "mapping/mapped_store.h"
#include "tandem/backfill.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"
#include "tandem/verify.h"

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
old = "{old_url}"
new = "{new_url}"

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

// With --old-documents: old keeps each user as one JSON document (a document
// store's collection in a SQL table), and the mapping turns it into new's typed
// columns: a nested member, a decimal scale, nested objects to a JSON column.
const char* kDocumentMapping = R"toml(
[collections.old]
table = "user_docs"
key = ["id"]
columns = [ { name = "id", type = "int" }, { name = "doc", type = "json", nullable = false } ]
document = "doc"
unknown_fields = "error"
map = [
  { column = "email", from = "contact.email" },
  { column = "balance", from = "balance", convert = "decimal:2" },
  { column = "created_at", from = "created" },
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

// Per key: never written, a record, or deleted through tandem. One slot per
// key of the key space, allocated before the service threads start, so that
// the stripe locks guard disjoint slots (a shared hash map would not be safe:
// an insert can rehash or relink what another stripe reads).
class Model {
 public:
  explicit Model(int64_t key_space) : slots_(static_cast<size_t>(key_space) + 1) {}
  // nullptr: never written; else the record, or nullopt once deleted.
  const std::optional<Record>* find(int64_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= slots_.size() || !slots_[static_cast<size_t>(id)])
      return nullptr;
    return &*slots_[static_cast<size_t>(id)];
  }
  void set(int64_t id, std::optional<Record> value) { slots_[static_cast<size_t>(id)] = std::move(value); }
  template <typename F>
  void for_each(F f) const {
    for (size_t id = 0; id < slots_.size(); ++id) {
      if (slots_[id]) f(static_cast<int64_t>(id), *slots_[id]);
    }
  }
  std::mutex& stripe(int64_t id) { return stripes_[static_cast<size_t>(id) % kStripes]; }

 private:
  std::vector<std::optional<std::optional<Record>>> slots_;
  std::array<std::mutex, kStripes> stripes_;
};

struct Workload {
  Collection* users = nullptr;
  Migration* migration = nullptr;
  Model* model = nullptr;
  int64_t key_space = 0;
  std::atomic<bool> stop{false};
  std::atomic<bool> paused{false};
  std::atomic<int> parked{0};
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
      if (paused.load()) {
        ++parked;
        while (paused.load() && !stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        --parked;
        continue;
      }
      int64_t id = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(key_space));
      Key key{Value(id)};
      int dice = static_cast<int>(rng() % 100);
      size_t step = migration->applied_step().step_index;
      std::lock_guard stripe(model->stripe(id));
      const std::optional<Record>* expected = model->find(id);
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
          model->set(id, std::move(r));
        } else if (!(s.code() == Code::kNotFound && !exists)) {
          unexpected_errors.fetch_add(1);
          note_violation(
              fmt::format("patch of {}: {} (model: {})", id, s.to_string(), exists ? "exists" : "absent"));
        }
      } else if (dice < 92) {
        Record r = make_user(id, rng);
        Status s = users->put(r);
        if (s.ok()) {
          model->set(id, std::move(r));
        } else {
          unexpected_errors.fetch_add(1);
          note_violation(fmt::format("put of {}: {}", id, s.to_string()));
        }
      } else {
        Status s = users->remove(key);
        if (s.ok()) {
          model->set(id, std::nullopt);
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

// Parks every service thread between operations (for a check that needs the
// databases quiet) and lets them go again.
void pause_workload(Workload& w, int threads) {
  w.paused = true;
  while (w.parked.load() < threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
void resume_workload(Workload& w) { w.paused = false; }

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
      const std::optional<Record>* expected = model.find(id);
      auto note = [&](std::string what) {
        if (c.first_problem.empty()) c.first_problem = std::move(what);
      };
      if (expected == nullptr) {
        ++c.unknown;
        note(fmt::format("{} holds {}, which the service never wrote", store.name(), r.to_display()));
      } else if (!*expected) {
        ++c.zombies;
        note(fmt::format("{} holds {}, which the service deleted", store.name(), r.to_display()));
      } else if (**expected != r) {
        ++c.different;
        note(fmt::format("{} holds {} but the model holds {}", store.name(), r.to_display(),
                         (*expected)->to_display()));
      } else {
        ++c.equal;
      }
    }
    range.begin = Key{Value(batch.back().key[0].as<int64_t>() + 1)};
  }
  model.for_each([&](int64_t id, const std::optional<Record>& rec) {
    if (rec && !seen.contains(id)) ++c.missing;
  });
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
    out << fmt::format(fmt::runtime(kDemoConfig), fmt::arg("dir", dir),
                       fmt::arg("old_url", options.old_url.empty() ? "sqlite:old.db" : options.old_url),
                       fmt::arg("new_url", options.new_url.empty() ? "sqlite:new.db" : options.new_url));
    if (options.old_documents) out << kDocumentMapping;
  }
  auto config = Config::load_file(config_path);
  if (!config.ok()) {
    fmt::print(stderr, "tandem demo: {}\n", config.status().to_string());
    return kExitConfig;
  }
  fmt::print("tandem demo in {}\n", dir);

  // The service's existing database: old, with its users table.
  Model model(options.records + options.records / 10);
  auto seed_start = std::chrono::steady_clock::now();
  {
    // As the service made it: tandem's own tables are never added to old.
    auto opened = open_store("old", config->old_url, StoreOptions{.keep_tombstones = false});
    if (!opened.ok()) return fmt::print(stderr, "tandem demo: {}\n", opened.status().to_string()), kExitError;
    // Seeded in new's shape; with a mapping, written as old's documents.
    auto old_store = MappedStore::create(opened->get(), *config);
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
        for (Record& r : batch) {
          int64_t id = r.key[0].as<int64_t>();  // before r is moved from
          model.set(id, std::move(r));
        }
        batch.clear();
      }
    }
  }
  double seed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - seed_start).count();
  fmt::print("old: {} users written in {:.2f}s\n", options.records, seed_seconds);

  auto migration = Migration::open(*config, MigrationOptions{.instance_label = "demo-service"});
  if (!migration.ok())
    return fmt::print(stderr, "tandem demo: {}\n", migration.status().to_string()), kExitError;
  Migration& m = **migration;
  Workload w;
  w.users = m.collection("users").value();
  w.migration = &m;
  w.model = &model;
  w.key_space = options.records + options.records / 10;  // some inserts of new keys
  w.latency_by_step.resize(m.plan().size());

  fmt::print(
      "walking the 7 steps with {} service threads, {:.1f}s of workload at each step; the backfill runs at\n"
      "step 2 and a verify before step 4 and at step 5, all while the service keeps going.\n\n",
      options.threads, options.seconds_per_step);
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t) {
    threads.emplace_back([&w, &options, t] { w.run(options.seed * 1000 + static_cast<uint64_t>(t)); });
  }
  auto stop_workload = [&] {
    w.stop = true;
    for (auto& t : threads) t.join();
    threads.clear();
  };
  auto fail = [&](const std::string& what, const Status& s) {
    stop_workload();
    fmt::print(stderr, "tandem demo: {}: {}\n", what, s.to_string());
    return kExitError;
  };
  auto pause = std::chrono::duration<double>(options.seconds_per_step);
  // As an operator would: wait until every live instance has acknowledged
  // the current step (its operations of the previous step have returned).
  auto wait_acknowledged = [&]() -> Status {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(StepState current, OperatorTools(m).control().current_step());
      TANDEM_ASSIGN_OR_RETURN(std::vector<InstanceHeartbeat> instances,
                              OperatorTools(m).control().instances());
      bool all = true;
      for (const InstanceHeartbeat& h : instances) all = all && h.applied_version == current.version;
      if (all) return Status::Ok();
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::Timeout("the service instance did not acknowledge the step within 30 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  auto move_to = [&](size_t index) -> Status {
    TANDEM_RETURN_IF_ERROR(wait_acknowledged());
    auto moved = m.change_step(index, "tandem demo", false);
    if (!moved.ok()) return moved.status();
    fmt::print("step {} ({}: {})\n", index + 1, m.plan().at(index).name, m.plan().at(index).roles_display());
    return wait_acknowledged();
  };
  auto verify = [&](const char* when) -> Result<CollectionVerify> {
    auto report = run_verify(m, VerifyOptions{});
    if (!report.ok()) return report.status();
    const CollectionVerify& c = report->collections[0];
    fmt::print("  verify {}: {} records in {:.2f}s ({:.0f}/s), {} is the source of truth: {}\n", when,
               c.records, c.seconds, c.seconds > 0 ? static_cast<double>(c.records) / c.seconds : 0.0,
               side_name(c.source),
               c.clean() ? "clean"
                         : fmt::format("{} missing, {} extra, {} different, {} resurrected", c.missing,
                                       c.extra, c.different, c.resurrected));
    return c;
  };

  fmt::print("step 1 (old-only: {})\n", m.plan().at(0).roles_display());
  std::this_thread::sleep_for(pause);
  if (Status s = move_to(1); !s.ok()) return fail("moving to step 2", s);
  // Backfill while the service writes; new already receives every write.
  BackfillOptions bo;
  bo.workers = 2;
  bo.progress_interval = std::chrono::milliseconds(1000);
  bo.on_progress = [](const BackfillProgress& p) {
    fmt::print("  backfill: {}/{} rows, {:.0f} rows/s\n", p.counts.scanned, p.total_estimate,
               p.rows_per_second);
  };
  auto backfill = run_backfill(m, bo);
  if (!backfill.ok()) return fail("backfill", backfill.status());
  const auto& bf = backfill->collections[0];
  fmt::print(
      "  backfill done: {} rows in {:.2f}s ({:.0f} rows/s): {} copied, {} already present, {} locked, {} "
      "tombstoned, {} quarantined\n",
      bf.this_run.scanned, bf.seconds, bf.rows_per_second, bf.this_run.copied, bf.this_run.present,
      bf.this_run.locked, bf.this_run.tombstoned, bf.this_run.quarantined);
  std::this_thread::sleep_for(pause);
  if (Status s = move_to(2); !s.ok()) return fail("moving to step 3", s);
  std::this_thread::sleep_for(pause);
  auto first_verify = verify("before step 4");
  if (!first_verify.ok()) return fail("verify", first_verify.status());
  if (Status s = move_to(3); !s.ok()) return fail("moving to step 4", s);
  std::this_thread::sleep_for(pause);

  // Old has been the write primary until now: it must hold exactly the
  // service's own writes (tandem only read it).
  pause_workload(w, options.threads);
  auto old_check = check_store(OperatorTools(m).store(Side::kOld), model);
  resume_workload(w);
  if (!old_check.ok()) return fail("checking old", old_check.status());

  if (Status s = move_to(4); !s.ok()) return fail("moving to step 5", s);
  std::this_thread::sleep_for(pause);
  auto last_verify = verify("at step 5");
  if (!last_verify.ok()) return fail("verify", last_verify.status());
  for (size_t step : {size_t{5}, size_t{6}}) {
    if (Status s = move_to(step); !s.ok()) return fail(fmt::format("moving to step {}", step + 1), s);
    std::this_thread::sleep_for(pause);
  }
  stop_workload();

  auto drained = m.drain_repair_queue(1000000);
  auto repairs_left = OperatorTools(m).control().repair_counts();
  auto new_check = check_store(OperatorTools(m).store(Side::kNew), model);
  if (!new_check.ok() || !drained.ok() || !repairs_left.ok()) {
    for (const Status* s : {&new_check.status(), &drained.status(), &repairs_left.status()}) {
      if (!s->ok()) fmt::print(stderr, "tandem demo: final check failed to run: {}\n", s->to_string());
    }
    return kExitError;
  }
  auto stats = m.stats();
  fmt::print("\n{:>4} {:<14} {:>9} {:>8} {:>8} {:>6} {:>9} {:>10} {:>9} {:>8} {:>8}\n", "step", "name", "ops",
             "reads", "writes", "errors", "fallback", "shadow-mm", "transfers", "p50 us", "p99 us");
  int64_t total_errors = 0;
  for (size_t i = 0; i < m.plan().size(); ++i) {
    const StepStats& st = stats[i];
    total_errors += st.errors;
    auto& lat = w.latency_by_step[i].micros;
    fmt::print("{:>4} {:<14} {:>9} {:>8} {:>8} {:>6} {:>9} {:>10} {:>9} {:>8.0f} {:>8.0f}\n", i + 1,
               m.plan().at(i).name, st.reads + st.writes, st.reads, st.writes, st.errors, st.fallback_reads,
               st.shadow_mismatches, st.transfers, percentile(lat, 0.5), percentile(lat, 0.99));
  }
  int64_t live = 0, deleted = 0;
  model.for_each([&](int64_t, const std::optional<Record>& r) { (r ? live : deleted) += 1; });
  int64_t repairs = (*repairs_left)[Side::kOld] + (*repairs_left)[Side::kNew];
  const StoreCheck& o = *old_check;
  const StoreCheck& n = *new_check;
  int64_t lost = n.missing + n.different;
  int64_t zombies = n.zombies + o.zombies;
  int64_t old_touched = o.different + o.unknown + o.missing + o.zombies;
  fmt::print("\nrecords: {} in old at the start; at the end {} live, {} deleted through tandem\n",
             options.records, live, deleted);
  fmt::print("backfill: {:.0f} rows/s; verify: {} before step 4 ({:.2f}s), {} at step 5 ({:.2f}s)\n",
             bf.rows_per_second, first_verify->clean() ? "clean" : "NOT clean", first_verify->seconds,
             last_verify->clean() ? "clean" : "NOT clean", last_verify->seconds);
  fmt::print(
      "old at the end of step 4 (write primary until then): {} records, {} equal to the model, {} different, "
      "{} zombies, {} unknown, {} missing\n",
      o.records, o.equal, o.different, o.zombies, o.unknown, o.missing);
  fmt::print(
      "new at the end (step 7): {} records, {} equal to the model, {} different, {} zombies, {} unknown, {} "
      "missing\n",
      n.records, n.equal, n.different, n.zombies, n.unknown, n.missing);
  fmt::print("reads checked against the model: {} wrong; unexpected errors: {}; repair queue: {} left\n",
             w.read_violations.load(), w.unexpected_errors.load(), repairs);
  fmt::print("lost writes {}, zombies {}, old touched by tandem during steps 1-4: {}\n", lost, zombies,
             old_touched == 0 ? "no" : "YES");
  bool ok = lost == 0 && zombies == 0 && old_touched == 0 && n.unknown == 0 && w.read_violations == 0 &&
            w.unexpected_errors == 0 && total_errors == 0 && repairs == 0 && first_verify->clean() &&
            last_verify->clean();
  if (!ok) {
    std::string first = !w.first_violation.empty() ? w.first_violation
                        : !o.first_problem.empty() ? o.first_problem
                                                   : n.first_problem;
    fmt::print("CHECK FAILED: {}\n", first.empty() ? "see the figures above" : first);
    return kExitCheckFailed;
  }
  fmt::print(
      "CHECK PASSED: every acknowledged write is in new, nothing deleted came back, old was only read\n");
  fmt::print("\nLook around:\n  tandem --config {} status\n  tandem --config {} plan\n", config_path,
             config_path);
  return kExitOk;
}

}  // namespace tandem::cli
