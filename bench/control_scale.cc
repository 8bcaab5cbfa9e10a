// tandem-bench-control: the control store's scale figures (issue 15, item 6;
// run by bench/control_scale.sh). N simulated service instances, threads of
// this process, each its own Migration (open_with: old and new are shared
// SQLite stores, the control store is each instance's own PostgreSQL
// connection pool) on one PostgreSQL control store. Measures:
//
//   steady state: the control database's statements/s over --window seconds
//     (pg_stat_statements calls, when the extension is loaded, and
//     pg_stat_database xact_commit + xact_rollback, both without this
//     program's own sampling queries), and the CPU time of the postgres
//     processes (the postmaster given by --postmaster-pid and its children,
//     from /proc) and of this process over the same window;
//   moves: --moves forced step moves by an operator Migration (no instance
//     registered), each at a random phase; for each, the time from just before
//     change_step until every instance's applied_step() shows the new version
//     (polled every 0.5 ms).
//
// Instances are opened over one refresh interval, so their refreshes have
// evenly spread phases (opened all at once, they would refresh in step and a
// move would reach them all almost together). Prints one line `RESULT key=value ...` for the script's table,
// and details.
#include <fmt/format.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <dirent.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/logging.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "tandem-bench-control: {}\n", what);
  std::exit(1);
}

template <typename T>
T must(tandem::Result<T> r, std::string_view what) {
  if (!r.ok()) die(fmt::format("{}: {}", what, r.status().to_string()));
  return std::move(r).value();
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// CPU time (user + system, in clock ticks) of one process, 0 if gone.
long long cpu_ticks(int pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) return 0;
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(line.substr(paren + 2));
  std::string field;
  long long utime = 0, stime = 0;
  // Fields after the command: state(3) ppid(4) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  return utime + stime;
}

int parent_of(int pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) return -1;
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(line.substr(paren + 2));
  std::string state;
  int ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

// CPU ticks of the postmaster and all its children (the backends and the
// server's own processes). A backend that exits mid-window loses its ticks;
// at steady state none does.
long long server_ticks(int postmaster) {
  long long total = cpu_ticks(postmaster);
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return total;
  while (dirent* e = readdir(proc)) {
    int pid = std::atoi(e->d_name);
    if (pid > 0 && parent_of(pid) == postmaster) total += cpu_ticks(pid);
  }
  closedir(proc);
  return total;
}

// A plain libpq connection for the counters (not a tandem store).
class Stats {
 public:
  explicit Stats(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) die(fmt::format("stats connection: {}", PQerrorMessage(conn_)));
    PGresult* r = PQexec(conn_, "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
    statements_ = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
  }
  ~Stats() { PQfinish(conn_); }
  bool has_statements() const { return statements_; }
  // Statements executed in this database, without the ones of this connection.
  long long statement_calls() {
    if (!statements_) return -1;
    return number(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements s JOIN pg_database d ON d.oid = "
        "s.dbid "
        "WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat%'");
  }
  // Transactions of this database (committed and rolled back), as flushed.
  long long transactions() {
    return number(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database "
        "WHERE datname = current_database()");
  }
  int backends() { return static_cast<int>(number("SELECT count(*) FROM pg_stat_activity")); }

 private:
  long long number(const char* sql) {
    PGresult* r = PQexec(conn_, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
      std::string e = PQerrorMessage(conn_);
      PQclear(r);
      die(fmt::format("{}: {}", sql, e));
    }
    long long v = std::atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
  }
  PGconn* conn_;
  bool statements_ = false;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tandem-bench-control: N instances on one PostgreSQL control store (bench/control_scale.sh)"};
  std::string control_url, conninfo, dir;
  int instances = 10, moves = 10, postmaster = 0, open_threads = 4;
  double window = 10, refresh_ms = 1000, settle = 3;
  app.add_option("--control", control_url, "the control store's URL (postgres://...)")->required();
  app.add_option("--conninfo", conninfo, "libpq conninfo of the same database, for the counters")->required();
  app.add_option("--dir", dir, "a folder for old.db and new.db (SQLite)")->required();
  app.add_option("--instances", instances, "N instances (threads of this process)");
  app.add_option("--moves", moves, "step moves to time");
  app.add_option("--window", window, "seconds of the steady-state load window");
  app.add_option("--settle", settle, "seconds to wait after the last open before the window");
  app.add_option("--refresh-ms", refresh_ms, "refresh_interval of every instance");
  app.add_option("--postmaster-pid", postmaster, "the server's postmaster, for its CPU time");
  app.add_option("--open-threads", open_threads, "threads that open the instances");
  CLI11_PARSE(app, argc, argv);
  tandem::set_log_level(tandem::LogLevel::kWarn);

  tandem::Config config;
  config.migration_name = "scale";
  config.control_url = control_url;
  config.old_url = "sqlite:" + dir + "/old.db";
  config.new_url = "sqlite:" + dir + "/new.db";
  config.refresh_interval = std::chrono::milliseconds(static_cast<int64_t>(refresh_ms));
  config.instance_timeout = std::chrono::milliseconds(static_cast<int64_t>(refresh_ms * 10));
  tandem::CollectionSchema users;  // tests/test_support.cc users_schema()
  users.name = "users";
  users.key_columns = {{"id", tandem::Type::kInt, false}};
  users.columns = {{"email", tandem::Type::kText, false},
                   {"name", tandem::Type::kText, true},
                   {"age", tandem::Type::kInt, true},
                   {"balance", tandem::Type::kDecimal, true}};
  config.collections = {users};

  // Old's table, then `tandem init` for new's; old reopened as a service opens it.
  {
    auto setup = must(tandem::open_store("old-setup", config.old_url), "creating old");
    if (auto s = setup->ensure_collection(users, true); !s.ok()) die("old's table: " + s.to_string());
  }
  auto old_store =
      must(tandem::open_store("old", config.old_url,
                              tandem::StoreOptions{.keep_tombstones = false, .configure = false}),
           "opening old");
  auto new_store = must(tandem::open_store("new", config.new_url), "opening new");
  must(tandem::init_new_tables(config, *old_store, new_store.get(), /*dry_run=*/false), "tandem init");

  auto operator_control = must(tandem::open_control_store(control_url), "opening the control store");
  tandem::MigrationOptions operator_options;
  operator_options.register_instance = false;
  auto op = must(tandem::Migration::open_with(config, old_store.get(), new_store.get(),
                                              operator_control.get(), operator_options),
                 "opening the operator's migration");

  // The instances: each its own control store (its own connections) and
  // Migration, instance i opened at i/N of a refresh interval.
  std::vector<std::unique_ptr<tandem::ControlStore>> controls(instances);
  std::vector<std::unique_ptr<tandem::Migration>> ms(instances);
  auto open_start = Clock::now();
  {
    std::atomic<int> next{0};
    std::vector<std::thread> openers;
    for (int t = 0; t < open_threads; ++t) {
      openers.emplace_back([&] {
        for (int i = next++; i < instances; i = next++) {
          // Spread the instances' refresh phases over one interval, as
          // independently started services have them.
          std::this_thread::sleep_until(open_start + std::chrono::microseconds(static_cast<int64_t>(
                                                         1000.0 * refresh_ms * i / instances)));
          controls[i] = must(tandem::open_control_store(control_url), "opening an instance's control store");
          tandem::MigrationOptions o;
          o.instance_label = fmt::format("bench-{}", i);
          ms[i] = must(
              tandem::Migration::open_with(config, old_store.get(), new_store.get(), controls[i].get(), o),
              fmt::format("opening instance {}", i));
        }
      });
    }
    for (auto& t : openers) t.join();
  }
  double open_s = ms_since(open_start) / 1000;
  std::this_thread::sleep_for(std::chrono::duration<double>(settle));

  // Steady state: no moves, only the instances' refreshes.
  Stats stats(conninfo);
  int backends = stats.backends();
  const long tick = sysconf(_SC_CLK_TCK);
  long long calls0 = stats.statement_calls(), tx0 = stats.transactions();
  long long server0 = postmaster > 0 ? server_ticks(postmaster) : 0, self0 = cpu_ticks(getpid());
  auto w0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(window));
  long long calls1 = stats.statement_calls(), tx1 = stats.transactions();
  long long server1 = postmaster > 0 ? server_ticks(postmaster) : 0, self1 = cpu_ticks(getpid());
  double secs = ms_since(w0) / 1000;
  // The sampling queries of this connection: 2 of pg_stat_statements (filtered
  // out) and 2 transactions of pg_stat_database (the first's own counted).
  double calls_per_s = stats.has_statements() ? static_cast<double>(calls1 - calls0) / secs : -1;
  double tx_per_s = static_cast<double>(tx1 - tx0 - (stats.has_statements() ? 2 : 1)) / secs;
  double server_cpu = 100.0 * static_cast<double>(server1 - server0) / static_cast<double>(tick) / secs;
  double self_cpu = 100.0 * static_cast<double>(self1 - self0) / static_cast<double>(tick) / secs;
  double qps = calls_per_s >= 0 ? calls_per_s : tx_per_s;

  // Moves: forced, one step forward each (wrapping to the first), each at a
  // random phase of the instances' refreshes.
  std::mt19937_64 rng(42);
  std::vector<double> all_ms, first_ms, change_ms;
  const size_t steps = op->plan().steps.size();
  for (int m = 0; m < moves; ++m) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % static_cast<uint64_t>(refresh_ms)));
    size_t to = (op->applied_step().step_index + 1) % steps;
    auto t0 = Clock::now();
    auto moved = must(op->change_step(to, "bench/control_scale", /*force=*/true), "moving the step");
    change_ms.push_back(ms_since(t0));
    std::vector<char> seen(instances, 0);
    int remaining = instances;
    double first = -1;
    while (remaining > 0) {
      for (int i = 0; i < instances; ++i) {
        if (!seen[i] && ms[i]->applied_step().version >= moved.version) {
          seen[i] = 1;
          --remaining;
          if (first < 0) first = ms_since(t0);
        }
      }
      if (remaining > 0) {
        if (ms_since(t0) > 30 * refresh_ms)
          die(fmt::format("move {}: {} instances never applied it", m, remaining));
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    }
    all_ms.push_back(ms_since(t0));
    first_ms.push_back(first);
    // The operator's own view, for the next move's target.
    if (auto s = op->refresh(); !s.ok()) die("operator refresh: " + s.to_string());
  }

  double med = percentile(all_ms, 0.5), mx = *std::max_element(all_ms.begin(), all_ms.end());
  fmt::print("instances {} opened in {:.1f} s; {} server backends; window {:.1f} s\n", instances, open_s,
             backends, secs);
  fmt::print("statements/s {} (pg_stat_statements), transactions/s {:.1f} (pg_stat_database)\n",
             calls_per_s >= 0 ? fmt::format("{:.1f}", calls_per_s) : "n/a", tx_per_s);
  fmt::print("postgres CPU {:.1f} % of one core; this process {:.1f} %\n", server_cpu, self_cpu);
  std::string each;
  for (double v : all_ms) each += fmt::format(" {:.0f}", v);
  fmt::print("move -> all applied (ms):{}; change_step median {:.1f} ms; first instance median {:.0f} ms\n",
             each, percentile(change_ms, 0.5), percentile(first_ms, 0.5));
  fmt::print(
      "RESULT n={} moves={} median_ms={:.0f} max_ms={:.0f} median_iv={:.2f} max_iv={:.2f} qps={:.1f} "
      "qps_per_instance={:.2f} tx_per_s={:.1f} pg_cpu={:.1f} bench_cpu={:.1f} open_s={:.1f}\n",
      instances, moves, med, mx, med / refresh_ms, mx / refresh_ms, qps, qps / instances, tx_per_s,
      server_cpu, self_cpu, open_s);
  std::fflush(stdout);
  // Instances close (deregistering) before their control stores.
  ms.clear();
  op.reset();
  return 0;
}
