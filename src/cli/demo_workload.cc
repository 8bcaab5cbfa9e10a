// The demo's simulated service and its checks (see demo_workload.h).
#include "cli/demo_workload.h"

#include "tandem/operator_tools.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <unordered_map>

namespace tandem::cli::demo {

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

double percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void Workload::run(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Latencies> local;
  {
    MutexLock lock(latency_mutex);
    local.resize(latency_by_step.size());
  }
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
      } else if (s.is_outcome_unknown() && adopt_current(id)) {
        unknown_outcomes.fetch_add(1);
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
      } else if (s.is_outcome_unknown() && adopt_current(id)) {
        unknown_outcomes.fetch_add(1);
      } else {
        unexpected_errors.fetch_add(1);
        note_violation(fmt::format("put of {}: {}", id, s.to_string()));
      }
    } else {
      Status s = users->remove(key);
      if (s.ok()) {
        model->set(id, std::nullopt);
      } else if (s.is_outcome_unknown() && adopt_current(id)) {
        unknown_outcomes.fetch_add(1);
      } else {
        unexpected_errors.fetch_add(1);
        note_violation(fmt::format("remove of {}: {}", id, s.to_string()));
      }
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start)
                  .count();
    local[step].micros.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
  }
  MutexLock lock(latency_mutex);
  for (size_t i = 0; i < local.size(); ++i) {
    auto& dst = latency_by_step[i].micros;
    dst.insert(dst.end(), local[i].micros.begin(), local[i].micros.end());
  }
}

bool Workload::adopt_current(int64_t id) {
  // The demo never moves back: an unknown outcome comes from a write in
  // flight across the move to write-new whose copy new refused. Its repair
  // copies new, the write primary from then on, into old, so new's record
  // is what both will hold (read from new itself: a routed read could fall
  // back to old's copy, which the repair replaces).
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto got = OperatorTools(*migration).store(Side::kNew).get("users", Key{Value(id)});
    if (got.ok()) {
      model->set(id, got->present() ? std::optional<Record>(std::move(got->record)) : std::nullopt);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void pause_workload(Workload& w, int threads) {
  w.paused = true;
  while (w.parked.load() < threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
void resume_workload(Workload& w) { w.paused = false; }

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

}  // namespace tandem::cli::demo
