// What every client process of a stress run does (see stress_workers.h).
#include "stress/stress_workers.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace tandem::stress {

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

namespace {

Op::Outcome outcome_of(const Status& s) {
  if (s.ok()) return Op::Outcome::kOk;
  return s.is_outcome_unknown() ? Op::Outcome::kUnknown : Op::Outcome::kFailed;
}

// The instance refused to route: its lease lapsed (migration_state.cc).
bool failed_closed(const Status& s) {
  return s.code() == Code::kUnavailable &&
         s.message().find("cannot confirm the migration's step") != std::string::npos;
}

}  // namespace

// One client: a random mix of reads, puts, patches and deletes on the key
// space (one op in five on a hot key), each recorded with its logical times.
void run_client(const Options& o, uint64_t seed, Migration& m, Collection& users, History& history,
                SharedCounters& shared, Counters& counters, const std::function<bool()>& running) {
  std::mt19937_64 rng(seed);
  while (running()) {
    size_t key = rng() % 5 == 0 ? rng() % o.hot_keys : rng() % o.keys;
    int dice = static_cast<int>(rng() % 100);
    Op op;
    bool fenced = false, closed = false;
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
      closed = !r.ok() && failed_closed(r.status());
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
      fenced = s.is_fenced();
      closed = failed_closed(s);
      op.secondary_missed = s.ok() && FaultStore::take_write_fault();
      ++counters.writes;
    }
    if (op.outcome != Op::Outcome::kOk) ++counters.errors;
    if (closed) ++counters.failed_closed;
    if (fenced) ++counters.fenced;
    history.add(key, std::move(op));
    ++counters.ops;
    // As a service would: an instance that is not routing is retried after a pause, not in a tight loop.
    if (closed) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Result<Opened> open_with_faults(const Config& config, const Options& o, uint64_t seed,
                                const std::string& label) {
  Opened out;
  TANDEM_ASSIGN_OR_RETURN(
      out.old_store,
      open_store("old", config.old_url, StoreOptions{.keep_tombstones = false, .configure = false}));
  TANDEM_ASSIGN_OR_RETURN(out.new_store, open_store("new", config.new_url));
  out.old_faults = std::make_unique<FaultStore>(out.old_store.get(), o.fault_rate, seed * 31 + 1);
  // New's routed writes also stall now and then (one in 500), past their
  // last lease check: what new's fence must refuse once the step moved.
  out.new_faults =
      std::make_unique<FaultStore>(out.new_store.get(), o.fault_rate, seed * 31 + 2, /*stall_one_in=*/500);
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
  // Its own configuration when the harness routes it through proxies (--partitions).
  std::string toml = fmt::format("{}/tandem-worker-{}.toml", o.dir, o.worker);
  if (!std::filesystem::exists(toml)) toml = o.dir + "/tandem.toml";
  auto config = Config::load_file(toml);
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
        << opened->old_faults->injected(static_cast<FaultKind>(k)) +
               opened->new_faults->injected(static_cast<FaultKind>(k));
  }
  out << " ops " << counters.ops.load() << " closed " << counters.failed_closed.load() << '\n';
  history.write_to(out);
  return out ? 0 : 2;
}

}  // namespace tandem::stress
