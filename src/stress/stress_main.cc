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
#include <sys/mman.h>
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
#include "stores/postgres/postgres_connection.h"
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
  int processes = 1;              // client processes sharing the control store (this one included)
  bool restart = false;           // stop and start new's server mid-run (servers only)
  bool require_coverage = false;  // fail unless every fault kind, kills and moves back happened
  int worker = -1;                // set in the worker processes the harness starts
  std::string dir;                // the harness's folder (workers)
};

// Counters every process of a run shares through a file mapping: the logical
// clock of the history and the write ids.
struct SharedCounters {
  std::atomic<uint64_t> clock{0};
  std::atomic<int64_t> next_id{0};
};

SharedCounters* map_counters(const std::string& path, bool create) {
  int fd = open(path.c_str(), O_RDWR | (create ? O_CREAT : 0), 0600);
  if (fd < 0) return nullptr;
  if (create && ftruncate(fd, sizeof(SharedCounters)) != 0) {
    close(fd);
    return nullptr;
  }
  void* p = mmap(nullptr, sizeof(SharedCounters), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return nullptr;
  if (create) new (p) SharedCounters();
  return static_cast<SharedCounters*>(p);
}

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
  std::atomic<int64_t> repaired{0}, restarts{0}, worker_ops{0};
};

// One client: a random mix of reads, puts, patches and deletes on the key
// space (one op in five on a hot key), each recorded with its logical times.
void run_client(const Options& o, uint64_t seed, Migration& m, Collection& users, History& history,
                SharedCounters& shared, Counters& counters, const std::function<bool()>& running) {
  std::mt19937_64 rng(seed);
  while (running()) {
    size_t key = rng() % 5 == 0 ? rng() % o.hot_keys : rng() % o.keys;
    int dice = static_cast<int>(rng() % 100);
    Op op;
    int64_t id = ++shared.next_id;
    Key k{Value(static_cast<int64_t>(key))};
    const size_t routed = m.applied_step().step_index;
    op.step = static_cast<int>(routed) + 1;
    const Step& plan_step = m.plan().at(routed);
    op.read_from_secondary = plan_step.write_secondary == plan_step.read_primary;
    FaultStore::take_write_fault();
    op.inv = history.tick();
    if (dice < 40) {
      op.kind = Op::Kind::kRead;
      auto r = users.get(k);
      op.resp = history.tick();
      op.outcome = r.ok() ? Op::Outcome::kOk : Op::Outcome::kFailed;
      if (r.ok()) op.state = state_of(*r);
      ++counters.reads;
    } else {
      Status s;
      if (dice < 70) {
        op.kind = Op::Kind::kPut;
        op.state = fmt::format("w{}", id);
        s = users.put(record_for(key, op.state));
      } else if (dice < 88) {
        op.kind = Op::Kind::kPatch;
        op.state = fmt::format("p{}", id);
        s = users.patch(k, {{"name", Value(op.state)}, {"age", Value(id % 100)}});
      } else {
        op.kind = Op::Kind::kDelete;
        op.state = "absent";
        s = users.remove(k);
      }
      op.resp = history.tick();
      op.outcome = outcome_of(s);
      op.secondary_missed = s.ok() && FaultStore::take_write_fault();
      ++counters.writes;
    }
    if (op.outcome != Op::Outcome::kOk) ++counters.errors;
    history.add(key, std::move(op));
    ++counters.ops;
  }
}

// Both databases as tandem opens them, each behind a FaultStore, and the migration.
struct Opened {
  std::unique_ptr<Store> old_store, new_store;
  std::unique_ptr<FaultStore> old_faults, new_faults;
  std::unique_ptr<ControlStore> control;
  std::unique_ptr<Migration> m;
  Collection* users = nullptr;
};

Result<Opened> open_with_faults(const Config& config, const Options& o, uint64_t seed,
                                const std::string& label) {
  Opened out;
  TANDEM_ASSIGN_OR_RETURN(out.old_store,
                          open_store("old", config.old_url, StoreOptions{false, false, false}));
  TANDEM_ASSIGN_OR_RETURN(out.new_store, open_store("new", config.new_url));
  out.old_faults = std::make_unique<FaultStore>(out.old_store.get(), o.fault_rate, seed * 31 + 1);
  out.new_faults = std::make_unique<FaultStore>(out.new_store.get(), o.fault_rate, seed * 31 + 2);
  TANDEM_ASSIGN_OR_RETURN(out.control, open_control_store(config.control_url));
  MigrationOptions mo;
  mo.instance_label = label;
  TANDEM_ASSIGN_OR_RETURN(
      out.m, Migration::open_with(config, out.old_faults.get(), out.new_faults.get(), out.control.get(), mo));
  TANDEM_ASSIGN_OR_RETURN(out.users, out.m->collection("users"));
  return out;
}

// A worker process: clients of its own Migration instance on the harness's
// databases and control store, until the harness says stop; then it hands
// its history and fault counts over in a file.
int run_worker(const Options& o) {
  SharedCounters* shared = map_counters(o.dir + "/counters", false);
  if (shared == nullptr) return 2;
  History history(o.keys, &shared->clock);
  auto config = Config::load_file(o.dir + "/tandem.toml");
  if (!config.ok()) return 2;
  auto opened = open_with_faults(*config, o, o.seed * 1000 + static_cast<uint64_t>(o.worker),
                                 fmt::format("tandem-stress-worker-{}", o.worker));
  if (!opened.ok()) {
    fmt::print(stderr, "tandem-stress worker {}: {}\n", o.worker, opened.status().to_string());
    return 2;
  }
  opened->old_faults->enable(true);
  opened->new_faults->enable(true);
  Counters counters;
  const std::string stop_file = o.dir + "/stop";
  auto running = [&] { return !std::filesystem::exists(stop_file); };
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      run_client(o, o.seed * 1000 + static_cast<uint64_t>(o.worker * 100 + c), *opened->m, *opened->users,
                 history, *shared, counters, running);
    });
  }
  for (auto& t : threads) t.join();
  std::ofstream out(fmt::format("{}/history-{}.txt", o.dir, o.worker));
  out << "faults";
  for (int k = 0; k < kFaultKinds; ++k) {
    out << ' '
        << opened->old_faults->count(static_cast<FaultKind>(k)) +
               opened->new_faults->count(static_cast<FaultKind>(k));
  }
  out << " ops " << counters.ops.load() << '\n';
  history.write_to(out);
  return out ? 0 : 2;
}

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
  explicit Harness(Options o) : o_(std::move(o)), rng_(o_.seed) {}

  int run() {
    if (Status s = setup(); !s.ok()) {
      fmt::print(stderr, "tandem-stress: setup failed: {}\n", s.to_string());
      return 2;
    }
    auto start = Clock::now();
    deadline_ = start + std::chrono::milliseconds(static_cast<int64_t>(o_.duration * 1000));
    std::vector<pid_t> workers;
    for (int w = 1; w < o_.processes; ++w) workers.push_back(spawn_worker(w));
    std::vector<std::thread> threads;
    for (int c = 0; c < o_.clients; ++c) threads.emplace_back([this, c] { client(c); });
    std::thread walker([this] { walk(); });
    std::thread backfiller([this] { backfill(); });
    std::thread repairer([this] { repair_loop(); });
    std::thread restarter([this] { restart_server(); });
    for (auto& t : threads) t.join();
    stop_ = true;
    std::ofstream(dir_ + "/stop") << "stop\n";
    walker.join();
    backfiller.join();
    repairer.join();
    restarter.join();
    for (size_t w = 0; w < workers.size(); ++w) collect_worker(workers[w], static_cast<int>(w) + 1);
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    finish();
    int code = report(seconds);
    // The run's databases and logs are kept only when they explain a violation.
    m_.reset();
    server_db_.reset();
    if (code == 0) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
    return code;
  }

 private:
  Status setup() {
    char templ[] = "/tmp/tandem-stress-XXXXXX";
    if (mkdtemp(templ) == nullptr) return Status::Internal("cannot create a temporary folder");
    dir_ = templ;
    shared_ = map_counters(dir_ + "/counters", true);
    if (shared_ == nullptr) return Status::Internal("cannot map the shared counters");
    history_ = std::make_unique<History>(o_.keys, &shared_->clock);
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
        history_->set_initial(k, "init");
      }
      TANDEM_RETURN_IF_ERROR(seed->insert_if_absent("users", records, LockPolicy::kNone).status());
    }
    TANDEM_ASSIGN_OR_RETURN(Opened opened, open_with_faults(config_, o_, o_.seed, "tandem-stress"));
    old_ = std::move(opened.old_store);
    new_ = std::move(opened.new_store);
    old_faults_ = std::move(opened.old_faults);
    new_faults_ = std::move(opened.new_faults);
    control_ = std::move(opened.control);
    m_ = std::move(opened.m);
    users_ = opened.users;
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

  pid_t spawn_worker(int index) {
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    return spawn({self.string(), "--worker", std::to_string(index), "--dir", dir_, "--keys",
                  std::to_string(o_.keys), "--clients", std::to_string(o_.clients), "--seed",
                  std::to_string(o_.seed), "--fault-rate", fmt::format("{}", o_.fault_rate)});
  }

  // Waits for a worker and adds its history and counts to this run's.
  void collect_worker(pid_t pid, int index) {
    int status = 0;
    if (pid <= 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      violation(fmt::format("worker process {} failed (see {}/backfill.log)", index, dir_));
      return;
    }
    std::ifstream in(fmt::format("{}/history-{}.txt", dir_, index));
    std::string word, line;
    int64_t ops = 0;
    in >> word;
    for (int64_t& n : worker_faults_) {
      int64_t v = 0;
      in >> v;
      n += v;
    }
    in >> word >> ops;
    counters_.worker_ops += ops;
    std::getline(in, line);
    while (std::getline(in, line)) {
      if (!history_->read_line(line))
        violation(fmt::format("worker {}: unreadable history line '{}'", index, line));
    }
  }

  // Stops new's server for 1.5 s in the middle of the run, and starts it again.
  void restart_server() {
    if (!o_.restart) return;
    std::string engine = o_.engine == "postgres" ? "POSTGRES" : "MARIADB";
    const char* stop = std::getenv(fmt::format("TANDEM_TEST_{}_RESTART_STOP", engine).c_str());
    const char* start = std::getenv(fmt::format("TANDEM_TEST_{}_RESTART_START", engine).c_str());
    if (stop == nullptr || start == nullptr) {
      violation(fmt::format(
          "--restart needs TANDEM_TEST_{}_RESTART_STOP and _START (scripts/test.sh sets them)", engine));
      return;
    }
    auto at = Clock::now() + (deadline_ - Clock::now()) * 2 / 5;
    while (running() && Clock::now() < at) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!running()) return;
    if (std::system(fmt::format("{} >/dev/null 2>&1", stop).c_str()) != 0) {
      violation("stopping new's server failed");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    if (std::system(start) != 0) violation("starting new's server again failed");
    ++counters_.restarts;
  }

  bool running() const {
    if (stop_) return false;
    if (o_.ops > 0 && counters_.ops >= o_.ops) return false;
    return Clock::now() < deadline_;
  }

  void client(int index) {
    run_client(o_, o_.seed * 1000 + static_cast<uint64_t>(index), *m_, *users_, *history_, *shared_,
               counters_, [this] { return running(); });
  }

  // Walks the plan between dual-write (index 1) and write-new (index 4), the
  // steps where both databases are written (old-read-only stops writing old,
  // after which no move back is allowed), forward and back, as far as the
  // preconditions let.
  void walk() {
    std::mt19937_64 rng(o_.seed * 7 + 3);
    while (running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 150));
      auto current = m_->control().current_step();
      if (!current.ok()) continue;
      size_t at = current->step_index;
      size_t to = at;
      if (rng() % 2 == 0 && at < 4) {
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
    auto report = run_verify(*m_, VerifyOptions{});
    if (!report.ok()) {
      violation("the final verify failed: " + report.status().to_string());
    } else if (!report->clean()) {
      // Once the repair queue is drained the write secondary must have
      // converged to the write primary: every difference is a violation.
      const auto& c = report->collections[0];
      for (const Difference& d : c.differences) {
        if (listed_.size() >= 3) break;
        int64_t key = d.key[0].as<int64_t>();
        violation(
            fmt::format("after the repair queue was drained, key {} is {}: write primary {}, write "
                        "secondary {}. History: {}",
                        key, difference_kind_name(d.kind), d.source, d.copy,
                        history_->describe(static_cast<size_t>(key), 0)));
      }
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
        if (!history_->final_allowed(key, state)) {
          violation(
              fmt::format("{} database, key {}: ends as {}, which no order of the acknowledged writes "
                          "allows{}. History: {}",
                          store->name(), key, state, state == "absent" ? "" : " (lost write or zombie)",
                          history_->describe(key, 0)));
        } else if (rec && *rec != record_for(key, state)) {
          violation(fmt::format("{} database, key {}: record {} is not the one written as {}", store->name(),
                                key, rec->to_display(), state));
        }
      }
    }
    auto reads = history_->check_reads(5);
    for (auto& r : reads) violation(r.empty() ? "a read saw a state no order allows" : r);
  }

  int report(double seconds) {
    fmt::print("tandem-stress: engine {} (old sqlite), seed {}, {} clients, {} keys ({} hot), {:.1f} s\n",
               o_.engine, o_.seed, o_.clients, o_.keys, o_.hot_keys, seconds);
    const int64_t all_ops = counters_.ops + counters_.worker_ops;
    fmt::print(
        "operations: {} in all, {:.0f} ops/s (this process: {} reads, {} writes, {} returned an error)\n",
        all_ops, static_cast<double>(all_ops) / seconds, counters_.reads.load(), counters_.writes.load(),
        counters_.errors.load());
    fmt::print("collisions: {} writes in flight together on one key\n", history_->collisions());
    fmt::print(
        "step moves: {} forward, {} back, {} refused by a precondition; verifies before read-new: {} ({} not "
        "clean)\n",
        counters_.forward.load(), counters_.back.load(), counters_.refused.load(), counters_.verifies.load(),
        counters_.unclean_verifies.load());
    fmt::print("backfill processes killed: {}; repairs drained during the run: {}\n", counters_.kills.load(),
               counters_.repaired.load());
    fmt::print("faults injected:");
    int64_t faults[kFaultKinds];
    for (int k = 0; k < kFaultKinds; ++k) {
      auto kind = static_cast<FaultKind>(k);
      faults[k] = old_faults_->count(kind) + new_faults_->count(kind) + worker_faults_[k];
      fmt::print(" {} {}{}", fault_kind_name(kind), faults[k], k + 1 < kFaultKinds ? "," : "\n");
    }
    if (o_.processes > 1 || o_.restart) {
      fmt::print("worker processes: {} ({} operations of the total); server restarts: {}\n", o_.processes - 1,
                 counters_.worker_ops.load(), counters_.restarts.load());
    }
    if (o_.require_coverage) {  // the run must have exercised what it claims to
      for (int k = 0; k < kFaultKinds; ++k) {
        if (faults[k] == 0)
          violation(fmt::format("coverage: no {} was injected", fault_kind_name(static_cast<FaultKind>(k))));
      }
      if (counters_.kills == 0) violation("coverage: no backfill process was killed");
      if (counters_.back == 0) violation("coverage: the plan never moved back");
      if (o_.restart && counters_.restarts == 0) violation("coverage: the server was not restarted");
      if (o_.processes > 1 && counters_.worker_ops == 0)
        violation("coverage: the worker processes made no operation");
    }
    fmt::print("violations: {}\n", violations_);
    for (const std::string& v : listed_) fmt::print("  VIOLATION {}\n", v);
    if (violations_ > 0) {
      fmt::print("re-run: tandem-stress --engine {} --seed {}; the run's files are kept in {}\n", o_.engine,
                 o_.seed, dir_);
    }
    return violations_ == 0 ? 0 : 1;
  }

  Options o_;
  SharedCounters* shared_ = nullptr;
  std::unique_ptr<History> history_;
  int64_t worker_faults_[kFaultKinds] = {};
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
  Counters counters_;
  BackfillSummary backfill_;
  int64_t violations_ = 0;
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
  app.add_option("--processes", o.processes, "Client processes sharing one control store (this one included)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app.add_flag(
      "--restart", o.restart,
      "Stop and start new's server mid-run (uses TANDEM_TEST_<ENGINE>_RESTART_URL, _STOP and _START)");
  app.add_flag("--require-coverage", o.require_coverage,
               "Count it a violation if a fault kind, a kill, a move back (or a restart) did not happen");
  app.add_option("--worker", o.worker, "(internal) run as worker N of the harness in --dir");
  app.add_option("--dir", o.dir, "(internal) the harness's folder");
  CLI11_PARSE(app, argc, argv);
  if (o.soak) o.ops = 0;
  if (o.tandem.empty()) {
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    o.tandem = (self.parent_path() / "tandem").string();
  }
  if (o.worker >= 0) return tandem::stress::run_worker(o);
  if (o.server.empty() && o.engine != "sqlite") {
    std::string name = fmt::format("TANDEM_TEST_{}_{}URL", o.engine == "postgres" ? "POSTGRES" : "MARIADB",
                                   o.restart ? "RESTART_" : "");
    if (const char* env = std::getenv(name.c_str())) o.server = env;
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
