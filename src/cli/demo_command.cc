// `tandem demo`: a live migration on the embedded default (SQLite).
//
// A simulated service (several threads) reads, puts, patches and deletes
// through the router while the plan is walked step by step. Every operation on
// a key runs under that key's stripe lock in the demo, so the in-memory model
// (per key, the last acknowledged write) is exact, and every read is checked
// against it. At the end old and new are compared with the model.
//
// Split by what it does: the demo's folder and config, seeding old, the
// service threads walking the plan (with the backfill and the verifies), and
// the report; the simulated service and its model are in demo_workload.h.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "cli/commands.h"
#include "cli/demo_workload.h"
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

using demo::check_store;
using demo::make_user;
using demo::Model;
using demo::StoreCheck;
using demo::Workload;

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

std::string make_temp_dir() {
  std::string templ = (std::filesystem::temp_directory_path() / "tandem-demo-XXXXXX").string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) return {};
  return buf.data();
}

// Makes dir (old's, new's and the control store's files removed) and writes
// dir/tandem.toml for options; returns the config file's path.
std::string write_demo_config(const std::string& dir, const DemoOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (const char* f : {"old.db", "new.db", "control.db"}) {
    for (const char* suffix : {"", "-wal", "-shm", ".tandem-locks"})
      std::filesystem::remove(std::filesystem::path(dir) / (std::string(f) + suffix), ec);
  }
  std::string config_path = (std::filesystem::path(dir) / "tandem.toml").string();
  std::ofstream out(config_path);
  out << fmt::format(fmt::runtime(kDemoConfig), fmt::arg("dir", dir),
                     fmt::arg("old_url", options.old_url.empty() ? "sqlite:old.db" : options.old_url),
                     fmt::arg("new_url", options.new_url.empty() ? "sqlite:new.db" : options.new_url));
  if (options.old_documents) out << kDocumentMapping;
  return config_path;
}

// The service's existing database: old, with its users table, seeded with
// options.records users (each also set in the model). Prints what failed;
// returns an exit code.
int seed_old(const Config& config, const DemoOptions& options, Model& model) {
  // As the service made it: tandem's own tables are never added to old.
  auto opened = open_store("old", config.old_url, StoreOptions{.keep_tombstones = false});
  if (!opened.ok()) return fmt::print(stderr, "tandem demo: {}\n", opened.status().to_string()), kExitError;
  // Seeded in new's shape; with a mapping, written as old's documents.
  auto old_store = MappedStore::create(opened->get(), config.collections, config.mappings);
  if (!old_store.ok())
    return fmt::print(stderr, "tandem demo: {}\n", old_store.status().to_string()), kExitError;
  Status s = (*old_store)->ensure_collection(config.collections[0], true);
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
  return kExitOk;
}

// What the walk through the plan measured, for the report.
struct WalkResult {
  BackfillSummary::PerCollection backfill;
  CollectionVerify first_verify, last_verify;
  StoreCheck old_check;  // old at the end of step 4
};

// The service threads and the operator's moves, as an operator would make
// them: each move waits until every live instance has acknowledged the
// current step (its operations of the previous step have returned).
class DemoWalk {
 public:
  DemoWalk(Migration& m, Workload& w, const DemoOptions& options) : m_(m), w_(w), options_(options) {}
  ~DemoWalk() { stop_service(); }

  void start_service() {
    for (int t = 0; t < options_.threads; ++t) {
      threads_.emplace_back([this, t] { w_.run(options_.seed * 1000 + static_cast<uint64_t>(t)); });
    }
  }
  void stop_service() {
    w_.stop = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  // The workload at the current step for --seconds-per-step.
  void pause() const {
    std::this_thread::sleep_for(std::chrono::duration<double>(options_.seconds_per_step));
  }

  Status wait_acknowledged() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(StepState current, OperatorTools(m_).control().current_step());
      TANDEM_ASSIGN_OR_RETURN(std::vector<InstanceHeartbeat> instances,
                              OperatorTools(m_).control().instances());
      bool all = true;
      for (const InstanceHeartbeat& h : instances) all = all && h.applied_version == current.version;
      if (all) return Status::Ok();
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::Timeout("the service instance did not acknowledge the step within 30 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  Status move_to(size_t index) {
    TANDEM_RETURN_IF_ERROR(wait_acknowledged());
    // As an operator would (`tandem repair`): drain the repair queue before
    // a move. A write in flight across the previous move may have queued its
    // key (new refused its copy: the step had moved); an entry for the write
    // primary is queued again for the other database, hence a few rounds.
    Result<StepState> moved = Status::Internal("not moved");
    for (int round = 0; round < 5; ++round) {
      TANDEM_RETURN_IF_ERROR(drain_repairs());
      moved = m_.change_step(index, "tandem demo", false);
      if (moved.ok() || moved.status().message().find("repair queue") == std::string::npos) break;
    }
    if (!moved.ok()) return moved.status();
    fmt::print("step {} ({}: {})\n", index + 1, m_.plan().at(index).name,
               m_.plan().at(index).roles_display());
    return wait_acknowledged();
  }

  // An entry for the write primary is queued again for the other database:
  // two rounds bring both up to date.
  Status drain_repairs() {
    for (int round = 0; round < 2; ++round) TANDEM_RETURN_IF_ERROR(m_.drain_repair_queue(1000000).status());
    return Status::Ok();
  }

  Result<CollectionVerify> verify(const char* when) {
    // As an operator would: repairs first (a write in flight across the last
    // move may have queued its key), then the verify.
    TANDEM_RETURN_IF_ERROR(drain_repairs());
    auto report = run_verify(m_, VerifyOptions{});
    if (!report.ok()) return report.status();
    const CollectionVerify& c = report->collections[0];
    fmt::print("  verify {}: {} records in {:.2f}s ({:.0f}/s), {} is the source of truth: {}\n", when,
               c.records, c.seconds, c.seconds > 0 ? static_cast<double>(c.records) / c.seconds : 0.0,
               side_name(c.source),
               c.clean() ? "clean"
                         : fmt::format("{} missing, {} extra, {} different, {} resurrected", c.missing,
                                       c.extra, c.different, c.resurrected));
    return c;
  }

  Result<BackfillSummary::PerCollection> backfill() {
    BackfillOptions bo;
    bo.workers = 2;
    bo.progress_interval = std::chrono::milliseconds(1000);
    bo.on_progress = [](const BackfillProgress& p) {
      fmt::print("  backfill: {}/{} rows, {:.0f} rows/s\n", p.counts.scanned, p.total_estimate,
                 p.rows_per_second);
    };
    auto backfill = run_backfill(m_, bo);
    if (!backfill.ok()) return backfill.status();
    const auto& bf = backfill->collections[0];
    fmt::print(
        "  backfill done: {} rows in {:.2f}s ({:.0f} rows/s): {} copied, {} already present, {} locked, {} "
        "tombstoned, {} quarantined\n",
        bf.this_run.scanned, bf.seconds, bf.rows_per_second, bf.this_run.copied, bf.this_run.present,
        bf.this_run.locked, bf.this_run.tombstoned, bf.this_run.quarantined);
    return bf;
  }

  // Stops the service and prints what failed; the exit code.
  int fail(const std::string& what, const Status& s) {
    stop_service();
    fmt::print(stderr, "tandem demo: {}: {}\n", what, s.to_string());
    return kExitError;
  }

 private:
  Migration& m_;
  Workload& w_;
  const DemoOptions& options_;
  std::vector<std::thread> threads_;
};

// Walks the 7 steps with the service running: the backfill at step 2, a
// verify before step 4 and at step 5, and old checked against the model at
// the end of step 4 (the write primary until then: it must hold exactly the
// service's own writes, tandem only read it). The service is stopped at the
// end. Prints what failed; returns an exit code.
int walk_the_plan(Migration& m, Workload& w, const Model& model, const DemoOptions& options,
                  WalkResult& out) {
  fmt::print(
      "walking the 7 steps with {} service threads, {:.1f}s of workload at each step; the backfill runs at\n"
      "step 2 and a verify before step 4 and at step 5, all while the service keeps going.\n\n",
      options.threads, options.seconds_per_step);
  DemoWalk walk(m, w, options);
  walk.start_service();
  fmt::print("step 1 (old-only: {})\n", m.plan().at(0).roles_display());
  walk.pause();
  if (Status s = walk.move_to(1); !s.ok()) return walk.fail("moving to step 2", s);
  // Backfill while the service writes; new already receives every write.
  auto backfill = walk.backfill();
  if (!backfill.ok()) return walk.fail("backfill", backfill.status());
  out.backfill = *backfill;
  walk.pause();
  if (Status s = walk.move_to(2); !s.ok()) return walk.fail("moving to step 3", s);
  walk.pause();
  auto first_verify = walk.verify("before step 4");
  if (!first_verify.ok()) return walk.fail("verify", first_verify.status());
  out.first_verify = *first_verify;
  if (Status s = walk.move_to(3); !s.ok()) return walk.fail("moving to step 4", s);
  walk.pause();

  demo::pause_workload(w, options.threads);
  auto old_check = check_store(OperatorTools(m).store(Side::kOld), model);
  demo::resume_workload(w);
  if (!old_check.ok()) return walk.fail("checking old", old_check.status());
  out.old_check = *old_check;

  if (Status s = walk.move_to(4); !s.ok()) return walk.fail("moving to step 5", s);
  walk.pause();
  auto last_verify = walk.verify("at step 5");
  if (!last_verify.ok()) return walk.fail("verify", last_verify.status());
  out.last_verify = *last_verify;
  for (size_t step : {size_t{5}, size_t{6}}) {
    if (Status s = walk.move_to(step); !s.ok())
      return walk.fail(fmt::format("moving to step {}", step + 1), s);
    walk.pause();
  }
  walk.stop_service();
  return kExitOk;
}

// The figures per step and the final check of old and new against the model.
// Returns kExitOk or kExitCheckFailed.
int report_demo(Migration& m, Workload& w, const Model& model, const DemoOptions& options,
                const WalkResult& walk, const StoreCheck& n, std::map<Side, int64_t> repairs_left,
                const std::string& config_path) {
  auto stats = m.stats();
  MutexLock latency_lock(w.latency_mutex);  // the service threads have stopped; for the analysis
  fmt::print("\n{:>4} {:<14} {:>9} {:>8} {:>8} {:>6} {:>9} {:>10} {:>9} {:>8} {:>8}\n", "step", "name", "ops",
             "reads", "writes", "errors", "fallback", "shadow-mm", "transfers", "p50 us", "p99 us");
  int64_t total_errors = 0;
  for (size_t i = 0; i < m.plan().size(); ++i) {
    const StepStats& st = stats[i];
    total_errors += st.errors;
    auto& lat = w.latency_by_step[i].micros;
    fmt::print("{:>4} {:<14} {:>9} {:>8} {:>8} {:>6} {:>9} {:>10} {:>9} {:>8.0f} {:>8.0f}\n", i + 1,
               m.plan().at(i).name, st.reads + st.writes, st.reads, st.writes, st.errors, st.fallback_reads,
               st.shadow_mismatches, st.transfers, demo::percentile(lat, 0.5), demo::percentile(lat, 0.99));
  }
  int64_t live = 0, deleted = 0;
  model.for_each([&](int64_t, const std::optional<Record>& r) { (r ? live : deleted) += 1; });
  int64_t repairs = repairs_left[Side::kOld] + repairs_left[Side::kNew];
  const StoreCheck& o = walk.old_check;
  int64_t lost = n.missing + n.different;
  int64_t zombies = n.zombies + o.zombies;
  int64_t old_touched = o.different + o.unknown + o.missing + o.zombies;
  fmt::print("\nrecords: {} in old at the start; at the end {} live, {} deleted through tandem\n",
             options.records, live, deleted);
  fmt::print("backfill: {:.0f} rows/s; verify: {} before step 4 ({:.2f}s), {} at step 5 ({:.2f}s)\n",
             walk.backfill.rows_per_second, walk.first_verify.clean() ? "clean" : "NOT clean",
             walk.first_verify.seconds, walk.last_verify.clean() ? "clean" : "NOT clean",
             walk.last_verify.seconds);
  fmt::print(
      "old at the end of step 4 (write primary until then): {} records, {} equal to the model, {} different, "
      "{} zombies, {} unknown, {} missing\n",
      o.records, o.equal, o.different, o.zombies, o.unknown, o.missing);
  fmt::print(
      "new at the end (step 7): {} records, {} equal to the model, {} different, {} zombies, {} unknown, {} "
      "missing\n",
      n.records, n.equal, n.different, n.zombies, n.unknown, n.missing);
  fmt::print(
      "reads checked against the model: {} wrong; unexpected errors: {}; writes of unknown outcome (in "
      "flight "
      "across a move, read back): {}; repair queue: {} left\n",
      w.read_violations.load(), w.unexpected_errors.load(), w.unknown_outcomes.load(), repairs);
  fmt::print("lost writes {}, zombies {}, old touched by tandem during steps 1-4: {}\n", lost, zombies,
             old_touched == 0 ? "no" : "YES");
  bool ok = lost == 0 && zombies == 0 && old_touched == 0 && n.unknown == 0 && w.read_violations == 0 &&
            w.unexpected_errors == 0 && total_errors == w.unknown_outcomes && repairs == 0 &&
            walk.first_verify.clean() && walk.last_verify.clean();
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

}  // namespace

int run_demo_command(const DemoOptions& options) {
  std::string dir = options.dir.empty() ? make_temp_dir() : options.dir;
  if (dir.empty()) {
    fmt::print(stderr, "tandem demo: cannot create a temporary folder\n");
    return kExitError;
  }
  const std::string config_path = write_demo_config(dir, options);
  auto config = Config::load_file(config_path);
  if (!config.ok()) {
    fmt::print(stderr, "tandem demo: {}\n", config.status().to_string());
    return kExitConfig;
  }
  fmt::print("tandem demo in {}\n", dir);

  Model model(options.records + options.records / 10);
  auto seed_start = std::chrono::steady_clock::now();
  if (int code = seed_old(*config, options, model); code != kExitOk) return code;
  double seed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - seed_start).count();
  fmt::print("old: {} users written in {:.2f}s\n", options.records, seed_seconds);

  {  // What an operator runs first, `tandem init`: a Migration's open creates no table.
    auto old_store =
        open_store("old", config->old_url, StoreOptions{.keep_tombstones = false, .configure = false});
    auto new_store = old_store.ok() ? open_store("new", config->new_url) : old_store.status();
    Status s = new_store.ok() ? init_new_tables(*config, **old_store, new_store->get(), false).status()
                              : new_store.status();
    if (!s.ok()) return fmt::print(stderr, "tandem demo: tandem init: {}\n", s.to_string()), kExitError;
    fmt::print("tandem init: new's users table created\n");
  }
  auto migration = Migration::open(*config, MigrationOptions{.instance_label = "demo-service"});
  if (!migration.ok())
    return fmt::print(stderr, "tandem demo: {}\n", migration.status().to_string()), kExitError;
  Migration& m = **migration;
  Workload w;
  w.users = m.collection("users").value();
  w.migration = &m;
  w.model = &model;
  w.key_space = options.records + options.records / 10;  // some inserts of new keys
  {
    MutexLock lock(w.latency_mutex);
    w.latency_by_step.resize(m.plan().size());
  }

  WalkResult walk;
  if (int code = walk_the_plan(m, w, model, options, walk); code != kExitOk) return code;

  auto drained = m.drain_repair_queue(1000000);
  auto repairs_left = OperatorTools(m).control().repair_counts();
  auto new_check = check_store(OperatorTools(m).store(Side::kNew), model);
  if (!new_check.ok() || !drained.ok() || !repairs_left.ok()) {
    for (const Status* s : {&new_check.status(), &drained.status(), &repairs_left.status()}) {
      if (!s->ok()) fmt::print(stderr, "tandem demo: final check failed to run: {}\n", s->to_string());
    }
    return kExitError;
  }
  return report_demo(m, w, model, options, walk, *new_check, *repairs_left, config_path);
}

}  // namespace tandem::cli
