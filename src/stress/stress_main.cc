// tandem-stress: client threads write and read through the router on a small
// key space with hot keys while the plan is walked forward and back at
// random, the backfill runs in separate processes that are SIGKILLed and
// resumed, and faults are injected into both databases. At the end every
// invariant is checked against the history of acknowledged operations.
// Exit 0: no violation; 1: violations (the first ones printed with the
// history of their key); 2: the harness itself could not run.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stores/mariadb/mariadb_connection.h"
#include "stores/postgres/pg_connection.h"
#include "stress/fault_store.h"
#include "stress/history.h"
#include "tandem/backfill.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/verify.h"

extern char** environ;

namespace tandem::stress {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  uint64_t seed = 1;
  double duration = 10;
  int64_t ops = 0;  // 0: until the duration
  int clients = 4;
  std::string engine = "sqlite";
  std::string server;  // admin URL of the engine's server (default from TANDEM_TEST_*_URL)
  size_t keys = 300;
  size_t hot_keys = 8;
  double fault_rate = 0.03;
  int max_kills = 6;
  std::string tandem;  // the CLI, for the backfill processes that get killed
  bool soak = false;
};

CollectionSchema users_schema() {
  CollectionSchema s;
  s.name = "users";
  s.key_columns = {{"id", Type::kInt, false}};
  s.columns = {{"email", Type::kText, false}, {"name", Type::kText, true}, {"age", Type::kInt, true}};
  return s;
}

// The record a state stands for: "init", or "w<id>" / "p<id>".
Record record_for(size_t key, const std::string& state) {
  Record r;
  r.key = Key{Value(static_cast<int64_t>(key))};
  int64_t age = state == "init" ? 0 : std::atoll(state.c_str() + 1) % 100;
  r.fields = {
      {"email", Value(fmt::format("k{}@example.com", key))}, {"name", Value(state)}, {"age", Value(age)}};
  return r;
}

std::string state_of(const std::optional<Record>& r) {
  if (!r) return "absent";
  auto it = r->fields.find("name");
  return it == r->fields.end() || it->second.is_null() ? "?" : it->second.as<std::string>();
}

Op::Outcome outcome_of(const Status& s) {
  if (s.ok()) return Op::Outcome::kOk;
  return s.is_outcome_unknown() ? Op::Outcome::kUnknown : Op::Outcome::kFailed;
}

struct Counters {
  std::atomic<int64_t> ops{0}, reads{0}, writes{0}, errors{0};
  std::atomic<int64_t> forward{0}, back{0}, refused{0}, kills{0}, verifies{0}, unclean_verifies{0};
  std::atomic<int64_t> repaired{0};
};

// A server database made for this run and dropped at the end.
class ServerDatabase {
 public:
  static Result<std::unique_ptr<ServerDatabase>> create(const std::string& engine, const std::string& admin,
                                                        const std::string& name) {
    auto db = std::unique_ptr<ServerDatabase>(new ServerDatabase(engine, admin, name));
    TANDEM_RETURN_IF_ERROR(db->exec(fmt::format("CREATE DATABASE {}", name)));
    return db;
  }
  ~ServerDatabase() {
    (void)exec(engine_ == "postgres" ? fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name_)
                                     : fmt::format("DROP DATABASE IF EXISTS {}", name_));
  }
  std::string url() const { return admin_.substr(0, admin_.rfind('/') + 1) + name_; }

 private:
  ServerDatabase(std::string engine, std::string admin, std::string name)
      : engine_(std::move(engine)), admin_(std::move(admin)), name_(std::move(name)) {}
  Status exec(const std::string& sql) const {
    if (engine_ == "postgres") {
      TANDEM_ASSIGN_OR_RETURN(auto spec, pg::ConnectionSpec::parse(admin_));
      TANDEM_ASSIGN_OR_RETURN(auto conn, pg::Connection::open(spec));
      return conn->exec_simple(sql, "administering the stress database");
    }
    TANDEM_ASSIGN_OR_RETURN(auto spec, maria::ConnectionSpec::parse(admin_));
    TANDEM_ASSIGN_OR_RETURN(auto conn, maria::Connection::open(spec));
    return conn->exec_simple(sql, "administering the stress database");
  }
  std::string engine_, admin_, name_;
};

class Harness {
 public:
  explicit Harness(Options o) : o_(std::move(o)), history_(o_.keys), rng_(o_.seed) {}

  int run() {
    if (Status s = setup(); !s.ok()) {
      fmt::print(stderr, "tandem-stress: setup failed: {}\n", s.to_string());
      return 2;
    }
    auto start = Clock::now();
    deadline_ = start + std::chrono::milliseconds(static_cast<int64_t>(o_.duration * 1000));
    std::vector<std::thread> threads;
    for (int c = 0; c < o_.clients; ++c) threads.emplace_back([this, c] { client(c); });
    std::thread walker([this] { walk(); });
    std::thread backfiller([this] { backfill(); });
    std::thread repairer([this] { repair_loop(); });
    for (auto& t : threads) t.join();
    stop_ = true;
    walker.join();
    backfiller.join();
    repairer.join();
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    finish();
    return report(seconds);
  }

 private:
  Status setup() {
    char templ[] = "/tmp/tandem-stress-XXXXXX";
    if (mkdtemp(templ) == nullptr) return Status::Internal("cannot create a temporary folder");
    dir_ = templ;
    config_.migration_name = "stress";
    config_.old_url = "sqlite:" + dir_ + "/old.db";
    config_.control_url = "sqlite:" + dir_ + "/control.db";
    config_.refresh_interval = std::chrono::milliseconds(50);
    config_.instance_timeout = std::chrono::milliseconds(3000);
    config_.lock_timeout = std::chrono::milliseconds(5000);
    config_.collections = {users_schema()};
    if (o_.engine == "sqlite") {
      config_.new_url = "sqlite:" + dir_ + "/new.db";
    } else if (o_.engine == "postgres" || o_.engine == "mariadb") {
      if (o_.server.empty()) {
        return Status::Config(fmt::format("--engine {} needs --server URL (or TANDEM_TEST_{}_URL)", o_.engine,
                                          o_.engine == "postgres" ? "POSTGRES" : "MARIADB"));
      }
      TANDEM_ASSIGN_OR_RETURN(server_db_, ServerDatabase::create(o_.engine, o_.server,
                                                                 fmt::format("tandem_stress_{}", getpid())));
      config_.new_url = server_db_->url();
    } else {
      return Status::Config(fmt::format("--engine {}: use sqlite, postgres or mariadb", o_.engine));
    }
    {  // Old as the service has it: half of the keys seeded.
      TANDEM_ASSIGN_OR_RETURN(auto seed,
                              open_store("old", config_.old_url, StoreOptions{false, true, false}));
      TANDEM_RETURN_IF_ERROR(seed->ensure_collection(users_schema(), true));
      std::vector<Record> records;
      for (size_t k = 0; k < o_.keys; k += 2) {
        records.push_back(record_for(k, "init"));
        history_.set_initial(k, "init");
      }
      TANDEM_RETURN_IF_ERROR(seed->insert_if_absent("users", records, LockPolicy::kNone).status());
    }
    TANDEM_ASSIGN_OR_RETURN(old_, open_store("old", config_.old_url, StoreOptions{false, false, false}));
    TANDEM_ASSIGN_OR_RETURN(new_, open_store("new", config_.new_url));
    old_faults_ = std::make_unique<FaultStore>(old_.get(), o_.fault_rate, o_.seed * 31 + 1);
    new_faults_ = std::make_unique<FaultStore>(new_.get(), o_.fault_rate, o_.seed * 31 + 2);
    TANDEM_ASSIGN_OR_RETURN(control_, open_control_store(config_.control_url));
    MigrationOptions mo;
    mo.instance_label = "tandem-stress";
    TANDEM_ASSIGN_OR_RETURN(
        m_, Migration::open_with(config_, old_faults_.get(), new_faults_.get(), control_.get(), mo));
    TANDEM_ASSIGN_OR_RETURN(users_, m_->collection("users"));
    TANDEM_RETURN_IF_ERROR(m_->change_step(1, "stress: start dual-write", false).status());
    TANDEM_RETURN_IF_ERROR(m_->refresh());
    std::ofstream toml(dir_ + "/tandem.toml");
    toml << fmt::format(R"toml([migration]
name = "stress"
control = "{}"
refresh_interval_ms = 50
instance_timeout_ms = 3000

[databases]
old = "{}"
new = "{}"

[[collections]]
name = "users"
key = "id"
columns = [
  {{ name = "id", type = "int" }},
  {{ name = "email", type = "text", nullable = false }},
  {{ name = "name", type = "text" }},
  {{ name = "age", type = "int" }},
]
)toml",
                        config_.control_url, config_.old_url, config_.new_url);
    old_faults_->enable(true);
    new_faults_->enable(true);
    return Status::Ok();
  }

  bool running() const {
    if (stop_) return false;
    if (o_.ops > 0 && counters_.ops >= o_.ops) return false;
    return Clock::now() < deadline_;
  }

  void client(int index) {
    std::mt19937_64 rng(o_.seed * 1000 + static_cast<uint64_t>(index));
    while (running()) {
      size_t key = rng() % 5 == 0 ? rng() % o_.hot_keys : rng() % o_.keys;
      int dice = static_cast<int>(rng() % 100);
      Op op;
      int64_t id = ++next_id_;
      Key k{Value(static_cast<int64_t>(key))};
      const size_t routed = m_->applied_step().step_index;
      op.step = static_cast<int>(routed) + 1;
      const Step& plan_step = m_->plan().at(routed);
      op.read_from_secondary = plan_step.write_secondary == plan_step.read_primary;
      FaultStore::take_write_fault();
      op.inv = history_.tick();
      if (dice < 40) {
        op.kind = Op::Kind::kRead;
        auto r = users_->get(k);
        op.resp = history_.tick();
        op.outcome = r.ok() ? Op::Outcome::kOk : Op::Outcome::kFailed;
        if (r.ok()) op.state = state_of(*r);
        ++counters_.reads;
      } else {
        Status s;
        if (dice < 70) {
          op.kind = Op::Kind::kPut;
          op.state = fmt::format("w{}", id);
          s = users_->put(record_for(key, op.state));
        } else if (dice < 88) {
          op.kind = Op::Kind::kPatch;
          op.state = fmt::format("p{}", id);
          s = users_->patch(k, {{"name", Value(op.state)}, {"age", Value(id % 100)}});
        } else {
          op.kind = Op::Kind::kDelete;
          op.state = "absent";
          s = users_->remove(k);
        }
        op.resp = history_.tick();
        op.outcome = outcome_of(s);
        op.secondary_missed = s.ok() && FaultStore::take_write_fault();
        ++counters_.writes;
      }
      if (op.outcome != Op::Outcome::kOk) ++counters_.errors;
      history_.add(key, std::move(op));
      ++counters_.ops;
    }
  }

  // Walks the plan between dual-write (1) and old-read-only (5), where both
  // databases are written, forward and back, as far as the preconditions let.
  void walk() {
    std::mt19937_64 rng(o_.seed * 7 + 3);
    while (running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 150));
      auto current = m_->control().current_step();
      if (!current.ok()) continue;
      size_t at = current->step_index;
      size_t to = at;
      if (rng() % 2 == 0 && at < 5) {
        to = at + 1;
      } else if (at > 1) {
        to = 1 + rng() % (at - 1);
      } else {
        to = 2;
      }
      if (to == 3 && at == 2) {  // read-new needs a clean verify after a complete backfill
        (void)m_->drain_repair_queue(100000);
        auto report = run_verify(*m_, VerifyOptions{});
        ++counters_.verifies;
        if (!report.ok() || !report->clean()) ++counters_.unclean_verifies;
      }
      auto moved = m_->change_step(to, "stress walk", false);
      if (!moved.ok()) {
        ++counters_.refused;
        continue;
      }
      (void)m_->refresh();
      (to > at ? counters_.forward : counters_.back)++;
    }
  }

  // The backfill: separate `tandem backfill` processes killed at random
  // moments, then resumed in this process until complete.
  void backfill() {
    std::mt19937_64 rng(o_.seed * 11 + 5);
    bool complete = false;
    while (running() && !complete) {
      auto step = m_->control().current_step();
      if (!step.ok() || step->step_index < 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      if (counters_.kills < o_.max_kills && !o_.tandem.empty()) {
        pid_t pid = spawn({o_.tandem, "--config", dir_ + "/tandem.toml", "backfill", "--workers", "2"});
        std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 250));
        if (pid > 0 && kill(pid, SIGKILL) == 0) ++counters_.kills;
        int status = 0;
        if (pid > 0) waitpid(pid, &status, 0);
        continue;
      }
      BackfillOptions bo;
      bo.workers = 2;
      bo.initial_batch = 50;
      bo.min_batch = 10;
      bo.max_batch = 200;
      bo.lease = std::chrono::milliseconds(2000);
      bo.stop = &stop_;
      auto summary = run_backfill(*m_, bo);
      if (summary.ok()) complete = summary->complete;
      if (!complete) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  void repair_loop() {
    while (running()) {
      auto n = m_->drain_repair_queue(1000);
      if (n.ok()) counters_.repaired += static_cast<int64_t>(*n);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  pid_t spawn(const std::vector<std::string>& args) {
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log = dir_ + "/backfill.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    if (posix_spawn(&pid, copy[0].c_str(), &actions, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&actions);
    return pid;
  }

  void violation(std::string what) {
    ++violations_;
    if (listed_.size() < 5) listed_.push_back(std::move(what));
  }

  // Faults off: drain the repair queue, complete the backfill, verify, then
  // check both databases and every read against the history.
  void finish() {
    old_faults_->enable(false);
    new_faults_->enable(false);
    (void)m_->refresh();
    for (int i = 0; i < 100; ++i) {
      auto n = m_->drain_repair_queue(100000);
      auto left = m_->control().repair_counts();
      if (n.ok() && left.ok() && (*left)[Side::kOld] == 0 && (*left)[Side::kNew] == 0) break;
    }
    BackfillOptions bo;
    bo.workers = 2;
    bo.lease = std::chrono::milliseconds(2000);
    for (int i = 0; i < 10; ++i) {
      auto summary = run_backfill(*m_, bo);
      if (!summary.ok()) continue;
      backfill_ = *summary;
      if (summary->complete) break;
    }
    if (!backfill_.complete) violation("the backfill did not complete after the run");
    for (const auto& c : backfill_.collections) {
      const BackfillCounts& n = c.state.counts;
      if (n.scanned != n.copied + n.present + n.locked + n.tombstoned + n.quarantined) {
        violation(
            fmt::format("backfill counts do not balance: scanned {} != copied {} + present {} + locked {} + "
                        "tombstoned {} + quarantined {}",
                        n.scanned, n.copied, n.present, n.locked, n.tombstoned, n.quarantined));
      }
    }
    // Writes of unknown outcome may be in one database and not the other: a
    // verify with repair makes the source of truth win, then all is equal.
    VerifyOptions repair;
    repair.repair = true;
    auto repaired = run_verify(*m_, repair);
    if (repaired.ok()) repaired_by_verify_ = repaired->collections[0].repaired;
    auto report = run_verify(*m_, VerifyOptions{});
    if (!report.ok()) {
      violation("the final verify failed: " + report.status().to_string());
    } else if (!report->clean()) {
      const auto& c = report->collections[0];
      violation(fmt::format(
          "the final verify found differences: {} missing, {} extra, {} different, {} resurrected", c.missing,
          c.extra, c.different, c.resurrected));
    }
    // Both databases are written at every step the walk visits: each must hold
    // a state the history allows, and exactly the record of that state.
    for (Store* store : {old_.get(), new_.get()}) {
      for (size_t key = 0; key < o_.keys; ++key) {
        auto got = store->get("users", Key{Value(static_cast<int64_t>(key))});
        if (!got.ok()) {
          violation(fmt::format("{} key {}: {}", store->name(), key, got.status().to_string()));
          continue;
        }
        std::optional<Record> rec;
        if (got->present()) rec = got->record;
        std::string state = state_of(rec);
        if (!history_.final_allowed(key, state)) {
          violation(
              fmt::format("{} database, key {}: ends as {}, which no order of the acknowledged writes "
                          "allows{}. History: {}",
                          store->name(), key, state, state == "absent" ? "" : " (lost write or zombie)",
                          history_.describe(key, 0)));
        } else if (rec && *rec != record_for(key, state)) {
          violation(fmt::format("{} database, key {}: record {} is not the one written as {}", store->name(),
                                key, rec->to_display(), state));
        }
      }
    }
    auto reads = history_.check_reads(5);
    for (auto& r : reads) violation(r.empty() ? "a read saw a state no order allows" : r);
  }

  int report(double seconds) {
    fmt::print("tandem-stress: engine {} (old sqlite), seed {}, {} clients, {} keys ({} hot), {:.1f} s\n",
               o_.engine, o_.seed, o_.clients, o_.keys, o_.hot_keys, seconds);
    fmt::print("operations: {} ({} reads, {} writes, {} returned an error), {:.0f} ops/s\n",
               counters_.ops.load(), counters_.reads.load(), counters_.writes.load(), counters_.errors.load(),
               counters_.ops / seconds);
    fmt::print("collisions: {} writes in flight together on one key\n", history_.collisions());
    fmt::print(
        "step moves: {} forward, {} back, {} refused by a precondition; verifies before read-new: {} ({} not "
        "clean)\n",
        counters_.forward.load(), counters_.back.load(), counters_.refused.load(), counters_.verifies.load(),
        counters_.unclean_verifies.load());
    fmt::print(
        "backfill processes killed: {}; repairs drained during the run: {}; differences of unknown-outcome "
        "writes repaired by the final verify: {}\n",
        counters_.kills.load(), counters_.repaired.load(), repaired_by_verify_);
    fmt::print("faults injected:");
    for (int k = 0; k < kFaultKinds; ++k) {
      auto kind = static_cast<FaultKind>(k);
      fmt::print(" {} {}{}", fault_kind_name(kind), old_faults_->count(kind) + new_faults_->count(kind),
                 k + 1 < kFaultKinds ? "," : "\n");
    }
    fmt::print("violations: {}\n", violations_);
    for (const std::string& v : listed_) fmt::print("  VIOLATION {}\n", v);
    if (violations_ > 0) fmt::print("re-run: tandem-stress --engine {} --seed {}\n", o_.engine, o_.seed);
    return violations_ == 0 ? 0 : 1;
  }

  Options o_;
  History history_;
  std::mt19937_64 rng_;
  std::string dir_;
  Config config_;
  std::unique_ptr<ServerDatabase> server_db_;
  std::unique_ptr<Store> old_, new_;
  std::unique_ptr<FaultStore> old_faults_, new_faults_;
  std::unique_ptr<ControlStore> control_;
  std::unique_ptr<Migration> m_;
  Collection* users_ = nullptr;
  Clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_id_{0};
  Counters counters_;
  BackfillSummary backfill_;
  int64_t violations_ = 0;
  int64_t repaired_by_verify_ = 0;
  std::vector<std::string> listed_;
};

}  // namespace
}  // namespace tandem::stress

namespace {
int run(int argc, char** argv) {
  tandem::stress::Options o;
  CLI::App app{
      "tandem-stress: concurrent clients, step moves, backfill kills and faults, checked against a history"};
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str();
  app.add_option("--duration", o.duration, "Seconds to run")->capture_default_str();
  app.add_option("--ops", o.ops, "Stop after this many operations (0: run for --duration)")
      ->capture_default_str();
  app.add_option("--clients", o.clients, "Client threads")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--engine", o.engine, "New's engine: sqlite, postgres or mariadb")->capture_default_str();
  app.add_option("--server", o.server,
                 "Admin URL of the engine's server (default: TANDEM_TEST_<ENGINE>_URL)");
  app.add_option("--keys", o.keys, "Size of the key space")
      ->capture_default_str()
      ->check(CLI::Range(16, 1000000));
  app.add_option("--fault-rate", o.fault_rate, "Probability of a fault per database call")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.5));
  app.add_option("--kills", o.max_kills, "Backfill processes to SIGKILL")->capture_default_str();
  app.add_option("--tandem", o.tandem, "The tandem CLI (default: next to this program)");
  app.add_flag("--soak", o.soak, "Run for --duration whatever --ops says");
  CLI11_PARSE(app, argc, argv);
  if (o.soak) o.ops = 0;
  if (o.tandem.empty()) {
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    o.tandem = (self.parent_path() / "tandem").string();
  }
  if (o.server.empty()) {
    const char* env =
        std::getenv(o.engine == "postgres" ? "TANDEM_TEST_POSTGRES_URL" : "TANDEM_TEST_MARIADB_URL");
    if (env != nullptr && o.engine != "sqlite") o.server = env;
  }
  spdlog::set_level(spdlog::level::err);
  return tandem::stress::Harness(o).run();
}
}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tandem-stress: internal error: {}\n", e.what());
    return 2;
  }
}
