// tandem-bench-load: the live-load benchmark's workload. Sends a fixed rate of
// mixed reads and writes through the router (a registered Migration instance,
// like a service) to the benchmark's users collection, and prints one line of
// figures when it stops (after --seconds, or at SIGINT/SIGTERM):
//
//   ops 60012 errors 0 rate 1000.2 p50_us 412 p99_us 2210 max_us 9120 read_p50_us 250 read_p99_us 900
//   write_p50_us 800 write_p99_us 3100 service_p99_us 1900
//
// (one line). Reads are gets; writes are puts, patches and removes. With
// --reads-only every operation is a get; with --http URL each get is a GET of
// `tandem serve`'s gateway at URL instead of a call of the library (one
// keep-alive connection per thread): the two runs at the same rate give the
// gateway's added latency (bench/serve.sh). The
// service time counts from when an operation began instead of when it was
// due: the difference is time spent queued behind a slow operation.
//
// The schedule is open-loop: operation i of a thread is due at start + i /
// rate, and its latency counts from when it was due, so a stall shows in the
// percentiles instead of silently lowering the rate (no coordinated omission).
#include <fmt/format.h>

#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/logging.h"
#include "tandem/migration.h"
#include "tandem/store.h"

namespace {

using Clock = std::chrono::steady_clock;
std::atomic<bool> g_stop{false};

void on_signal(int /*signal*/) { g_stop = true; }

struct Options {
  std::string config = "tandem.toml";
  std::string collection = "users";
  double rate = 1000;
  double seconds = 0;  // 0: until a signal
  int64_t keys = 1000000;
  int threads = 4;
  uint64_t seed = 1;
  bool reads_only = false;
  std::string http;  // a `tandem serve` base URL: gets through it
};

// The benchmark's row shape (bench/sql/mariadb_generate.sql; created_at a DATETIME, so a
// datetime), varied by rng.
tandem::Record make_user(int64_t id, std::mt19937_64& rng) {
  using tandem::Value;
  tandem::Record r;
  r.key = tandem::Key{Value(id)};
  r.fields["email"] = Value(fmt::format("user{}@example.com", id));
  r.fields["name"] = Value(fmt::format("Load {}", id));
  r.fields["age"] = Value(static_cast<int64_t>(18 + rng() % 60));
  r.fields["balance"] =
      Value(tandem::Decimal::parse(fmt::format("{}.{:02}", rng() % 100000, rng() % 100)).value());
  r.fields["created_at"] =
      Value(tandem::DateTime{1600000000000000 + static_cast<int64_t>(rng() % 1000000000)});
  r.fields["doc"] =
      Value(tandem::Json::parse(fmt::format(R"({{"plan":"pro","score":{},"tags":["t1","t2"],"bio":"{}"}})",
                                            rng() % 1000, std::string(128, 'x')))
                .value());
  r.fields["active"] = Value(rng() % 4 != 0);
  return r;
}

struct ThreadResult {
  std::vector<uint32_t> micros;          // every operation
  std::vector<uint32_t> read_micros;     // gets only
  std::vector<uint32_t> write_micros;    // puts, patches and removes
  std::vector<uint32_t> service_micros;  // every operation, from when it began (not when it was due)
  int64_t errors = 0;
  std::string first_error;
};

// A get through the gateway: 200 and 404 are answers, anything else an error.
tandem::Status http_get(httplib::Client& client, const Options& o, int64_t id) {
  auto res = client.Get(fmt::format("/v1/collections/{}/records/{}", o.collection, id));
  if (!res)
    return tandem::Status::Unavailable(fmt::format("GET {}: {}", o.http, httplib::to_string(res.error())));
  if (res->status != 200 && res->status != 404)
    return tandem::Status::Internal(fmt::format("GET: HTTP {}: {}", res->status, res->body));
  return tandem::Status::Ok();
}

void run_thread(tandem::Collection* users, const Options& o, int index, Clock::time_point start,
                ThreadResult& out) {
  std::mt19937_64 rng(o.seed * 7919 + static_cast<uint64_t>(index));
  std::unique_ptr<httplib::Client> client;
  if (!o.http.empty()) {
    client = std::make_unique<httplib::Client>(o.http);
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
  }
  const double per_thread = o.rate / o.threads;
  int64_t next_new_id = o.keys + 1 + index;  // inserts: ids above the dataset, one residue per thread
  for (uint64_t i = 0;; ++i) {
    auto due = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(i) / per_thread));
    if (g_stop.load()) return;
    if (o.seconds > 0 && due - start > std::chrono::duration<double>(o.seconds)) return;
    std::this_thread::sleep_until(due);
    auto began = Clock::now();
    int64_t id = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(o.keys));
    unsigned pick = o.reads_only ? 0 : rng() % 100;
    tandem::Status s;
    if (client) {
      s = http_get(*client, o, id);
    } else if (pick < 60) {
      s = users->get(tandem::Key{tandem::Value(id)}).status();
    } else if (pick < 75) {
      s = users->put(make_user(id, rng));
    } else if (pick < 85) {
      s = users->put(make_user(next_new_id, rng));
      next_new_id += o.threads;
    } else if (pick < 95) {
      tandem::FieldMap f;
      f["balance"] = tandem::Value(tandem::Decimal::parse(fmt::format("{}.50", rng() % 1000)).value());
      s = users->patch(tandem::Key{tandem::Value(id)}, f);
      if (s.code() == tandem::Code::kNotFound) s = tandem::Status::Ok();
    } else {
      s = users->remove(tandem::Key{tandem::Value(id)});
    }
    auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - due).count();
    auto micros = static_cast<uint32_t>(std::min<int64_t>(took, UINT32_MAX));
    out.micros.push_back(micros);
    (pick < 60 ? out.read_micros : out.write_micros).push_back(micros);
    out.service_micros.push_back(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - began).count()));
    if (!s.ok()) {
      if (out.errors++ == 0) out.first_error = s.to_string();
    }
  }
}

uint32_t percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
  return sorted[i];
}

int run(int argc, char** argv) {
  Options o;
  CLI::App app{"tandem-bench-load: a fixed-rate workload through the router (the live-load benchmark)"};
  app.add_option("--config", o.config, "The migration's config")->capture_default_str();
  app.add_option("--collection", o.collection, "Collection")->capture_default_str();
  app.add_option("--rate", o.rate, "Operations per second, all threads together")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--seconds", o.seconds, "Stop after this long (0: at SIGINT/SIGTERM)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--keys", o.keys, "Existing ids are 1..keys")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", o.threads, "Client threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str();
  app.add_flag("--reads-only", o.reads_only, "Every operation a get");
  app.add_option("--http", o.http,
                 "Gets through `tandem serve` at this base URL (e.g. http://127.0.0.1:8080) instead of the "
                 "library; implies --reads-only");
  CLI11_PARSE(app, argc, argv);
  if (!o.http.empty()) o.reads_only = true;
  tandem::set_log_level(tandem::LogLevel::kWarn);

  std::unique_ptr<tandem::Migration> migration;
  tandem::Collection* users = nullptr;
  if (o.http.empty()) {
    auto config = tandem::Config::load_file(o.config);
    if (!config.ok()) {
      fmt::print(stderr, "tandem-bench-load: {}\n", config.status().to_string());
      return 2;
    }
    tandem::MigrationOptions mo;
    mo.instance_label = "bench-load";
    auto opened = tandem::Migration::open(*config, mo);
    if (!opened.ok()) {
      fmt::print(stderr, "tandem-bench-load: {}\n", opened.status().to_string());
      return 2;
    }
    migration = std::move(*opened);
    auto collection = migration->collection(o.collection);
    if (!collection.ok()) {
      fmt::print(stderr, "tandem-bench-load: {}\n", collection.status().to_string());
      return 2;
    }
    users = *collection;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  auto start = Clock::now() + std::chrono::milliseconds(50);
  std::vector<ThreadResult> results(static_cast<size_t>(o.threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back(run_thread, users, std::cref(o), t, start,
                         std::ref(results[static_cast<size_t>(t)]));
  }
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<uint32_t> all, reads, writes, service;
  int64_t errors = 0;
  std::string first_error;
  for (auto& r : results) {
    all.insert(all.end(), r.micros.begin(), r.micros.end());
    reads.insert(reads.end(), r.read_micros.begin(), r.read_micros.end());
    writes.insert(writes.end(), r.write_micros.begin(), r.write_micros.end());
    service.insert(service.end(), r.service_micros.begin(), r.service_micros.end());
    errors += r.errors;
    if (first_error.empty()) first_error = r.first_error;
  }
  std::sort(all.begin(), all.end());
  std::sort(reads.begin(), reads.end());
  std::sort(writes.begin(), writes.end());
  std::sort(service.begin(), service.end());
  fmt::print(
      "ops {} errors {} rate {:.1f} p50_us {} p99_us {} max_us {} read_p50_us {} read_p99_us {} "
      "write_p50_us {} write_p99_us {} service_p99_us {}\n",
      all.size(), errors, elapsed > 0 ? static_cast<double>(all.size()) / elapsed : 0.0,
      percentile(all, 0.50), percentile(all, 0.99), all.empty() ? 0 : all.back(), percentile(reads, 0.50),
      percentile(reads, 0.99), percentile(writes, 0.50), percentile(writes, 0.99), percentile(service, 0.99));
  if (!first_error.empty()) fmt::print(stderr, "first error: {}\n", first_error);
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tandem-bench-load: {}\n", e.what());
    return 2;
  }
}
