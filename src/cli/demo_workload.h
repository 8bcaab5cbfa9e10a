// The demo's simulated service and its checks: the users it writes, an
// in-memory model of what every key should hold (per key, the last
// acknowledged write), the service threads that read, put, patch and delete
// through the router under the key's stripe lock (so the model is exact and
// every read is checked against it), and the comparison of a database with
// the model.
//
// Thread safety: Workload::run from many threads (each key under its stripe);
// the model's for_each and check_store only while the workload is paused or
// stopped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/thread_annotations.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/store.h"

namespace tandem::cli::demo {

constexpr size_t kStripes = 1024;

// A user of the demo's users table, random but for its id.
Record make_user(int64_t id, std::mt19937_64& rng);

struct Latencies {
  std::vector<uint32_t> micros;
};

// The p-th percentile (0..1) of v (reordered); 0 when v is empty.
double percentile(std::vector<uint32_t>& v, double p);

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
  // Writes reported as of unknown outcome (in flight across a move, new
  // refused their copy): the record is read back and the model takes what
  // the service now reads, the value the repair converges to.
  std::atomic<int64_t> unknown_outcomes{0};
  Mutex latency_mutex;
  std::vector<Latencies> latency_by_step GUARDED_BY(latency_mutex);
  std::string first_violation GUARDED_BY(latency_mutex);

  void note_violation(std::string what) {
    MutexLock lock(latency_mutex);
    if (first_violation.empty()) first_violation = std::move(what);
  }

  // After a write of unknown outcome to id: reads the record back (retrying
  // briefly) and puts it into the model; false if it cannot be read.
  bool adopt_current(int64_t id);
  // One service thread: random operations until stop, each checked against
  // the model; its latencies added per step at the end.
  void run(uint64_t seed);
};

// Parks every service thread between operations (for a check that needs the
// databases quiet) and lets them go again.
void pause_workload(Workload& w, int threads);
void resume_workload(Workload& w);

struct StoreCheck {
  int64_t records = 0;
  int64_t equal = 0;
  int64_t different = 0;  // present but not equal to the model
  int64_t zombies = 0;    // present although deleted through tandem
  int64_t unknown = 0;    // present although the model never had it
  int64_t missing = 0;    // in the model but not here
  std::string first_problem;
};

// Compares store's users table with the model.
Result<StoreCheck> check_store(Store& store, const Model& model);

}  // namespace tandem::cli::demo
