// The stress harness's setup, threads and worker processes (see stress_harness.h).
#include "stress/stress_harness.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "tandem/operator_tools.h"

extern char** environ;

namespace tandem::stress {

int Harness::run() {
  if (Status s = setup(); !s.ok()) {
    fmt::print(stderr, "tandem-stress: setup failed: {}\n", s.to_string());
    return 2;
  }
  auto start = Clock::now();
  deadline_ = start + std::chrono::milliseconds(static_cast<int64_t>(o_.duration * 1000));
  for (int w = 1; w < o_.processes; ++w) worker_pids_.push_back(spawn_worker(w));
  std::vector<std::thread> threads;
  for (int c = 0; c < o_.clients; ++c) threads.emplace_back([this, c] { client(c); });
  std::thread walker([this] { walk(); });
  std::thread backfiller([this] { backfill(); });
  std::thread repairer([this] { repair_loop(); });
  std::thread restarter([this] { restart_server(); });
  std::thread control_restarter([this] { restart_control(); });
  std::thread pauser([this] { pause_workers(); });
  std::thread partitioner([this] { partition_workers(); });
  for (auto& t : threads) t.join();
  stop_ = true;
  std::ofstream(dir_ + "/stop") << "stop\n";
  walker.join();
  backfiller.join();
  repairer.join();
  restarter.join();
  control_restarter.join();
  pauser.join();
  partitioner.join();
  own_failed_closed_ = counters_.failed_closed;
  for (size_t w = 0; w < worker_pids_.size(); ++w) collect_worker(worker_pids_[w], static_cast<int>(w) + 1);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  finish();
  int code = report(seconds);
  // The run's databases and logs are kept only when they explain a violation.
  m_.reset();
  control_.reset();
  server_db_.reset();
  control_db_.reset();
  if (code == 0) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  return code;
}

Status Harness::setup() {
  char templ[] = "/tmp/tandem-stress-XXXXXX";
  if (mkdtemp(templ) == nullptr) return Status::Internal("cannot create a temporary folder");
  dir_ = templ;
  shared_ = map_counters(dir_ + "/counters", true);
  if (shared_ == nullptr) return Status::Internal("cannot map the shared counters");
  history_ = std::make_unique<History>(o_.keys, &shared_->clock);
  config_.migration_name = "stress";
  config_.old_url = "sqlite:" + dir_ + "/old.db";
  config_.control_url = "sqlite:" + dir_ + "/control.db";
  if (o_.control == "postgres" || o_.control == "mariadb") {
    if (o_.control_server.empty()) {
      return Status::Config(fmt::format("--control {} needs --control-server URL (or TANDEM_TEST_{}_URL)",
                                        o_.control, o_.control == "postgres" ? "POSTGRES" : "MARIADB"));
    }
    TANDEM_ASSIGN_OR_RETURN(
        control_db_,
        ServerDatabase::create(o_.control, o_.control_server, fmt::format("tandem_stress_ctl_{}", getpid())));
    config_.control_url = control_db_->url();
  } else if (o_.control != "sqlite") {
    return Status::Config(fmt::format("--control {}: use sqlite, postgres or mariadb", o_.control));
  }
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
    TANDEM_ASSIGN_OR_RETURN(
        server_db_, ServerDatabase::create(o_.engine, o_.server, fmt::format("tandem_stress_{}", getpid())));
    config_.new_url = server_db_->url();
  } else {
    return Status::Config(fmt::format("--engine {}: use sqlite, postgres or mariadb", o_.engine));
  }
  {  // Old as the service has it: half of the keys seeded.
    TANDEM_ASSIGN_OR_RETURN(auto seed,
                            open_store("old", config_.old_url, StoreOptions{.keep_tombstones = false}));
    TANDEM_RETURN_IF_ERROR(seed->ensure_collection(users_schema(), true));
    std::vector<Record> records;
    for (size_t k = 0; k < o_.keys; k += 2) {
      records.push_back(record_for(k, "init"));
      history_->set_initial(k, "init");
    }
    TANDEM_RETURN_IF_ERROR(seed->insert_if_absent("users", records, LockPolicy::kNone).status());
    // What `tandem init` does: a Migration's open creates no table.
    TANDEM_ASSIGN_OR_RETURN(auto new_store, open_store("new", config_.new_url));
    TANDEM_RETURN_IF_ERROR(init_new_tables(config_, *seed, new_store.get(), /*dry_run=*/false).status());
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
  TANDEM_RETURN_IF_ERROR(write_config(dir_ + "/tandem.toml", config_.control_url, config_.new_url));
  // --partitions: each worker process reaches the servers through proxies
  // of its own, which partition_workers() cuts.
  for (int w = 1; o_.partitions > 0 && w < o_.processes; ++w) {
    auto& links = links_.emplace_back();
    std::string control_url = config_.control_url, new_url = config_.new_url;
    for (std::string* url : {&control_url, &new_url}) {
      if (url_port(*url) == 0) continue;  // a file (SQLite)
      links.push_back(std::make_unique<TcpProxy>(url_port(*url)));
      if (!links.back()->ok()) return Status::Internal("cannot start a TCP proxy on loopback");
      *url = url_with_port(*url, links.back()->port());
    }
    TANDEM_RETURN_IF_ERROR(
        write_config(fmt::format("{}/tandem-worker-{}.toml", dir_, w), control_url, new_url));
  }
  old_faults_->enable(true);
  new_faults_->enable(true);
  return Status::Ok();
}

Status Harness::write_config(const std::string& path, const std::string& control_url,
                             const std::string& new_url) const {
  std::ofstream toml(path);
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
                      control_url, config_.old_url, new_url);
  toml.close();
  return toml ? Status::Ok() : Status::Internal(fmt::format("cannot write {}", path));
}

pid_t Harness::spawn_worker(int index) {
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  return spawn({self.string(), "--worker", std::to_string(index), "--dir", dir_, "--keys",
                std::to_string(o_.keys), "--clients", std::to_string(o_.clients), "--seed",
                std::to_string(o_.seed), "--fault-rate", fmt::format("{}", o_.fault_rate)});
}

// Waits for a worker and adds its history and counts to this run's.
void Harness::collect_worker(pid_t pid, int index) {
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
  int64_t closed = 0;
  in >> word >> ops >> word >> closed;
  counters_.worker_ops += ops;
  counters_.failed_closed += closed;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (!history_->read_line(line))
      violation(fmt::format("worker {}: unreadable history line '{}'", index, line));
  }
}

bool Harness::running() const {
  if (stop_) return false;
  if (o_.ops > 0 && counters_.ops >= o_.ops) return false;
  return Clock::now() < deadline_;
}

void Harness::client(int index) {
  run_client(o_, o_.seed * 1000 + static_cast<uint64_t>(index), *m_, *users_, *history_, *shared_, counters_,
             [this] { return running(); });
}

pid_t Harness::spawn(const std::vector<std::string>& args) {
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

void Harness::violation(std::string what) {
  ++violations_;
  if (listed_.size() < 5) listed_.push_back(std::move(what));
}

}  // namespace tandem::stress
