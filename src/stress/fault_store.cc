#include "stress/fault_store.h"

#include <fmt/format.h>

#include <chrono>
#include <random>
#include <thread>

namespace tandem::stress {

std::string_view fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kFail:
      return "failed call";
    case FaultKind::kDrop:
      return "dropped connection";
    case FaultKind::kDelay:
      return "delay";
    case FaultKind::kUnknownOutcome:
      return "unknown outcome";
    case FaultKind::kStall:
      return "stall past the lease check";
  }
  return "?";
}

namespace {
thread_local bool write_fault_here = false;
}  // namespace

bool FaultStore::take_write_fault() {
  bool was = write_fault_here;
  write_fault_here = false;
  return was;
}

FaultStore::FaultStore(Store* inner, double probability, uint64_t seed, uint64_t stall_one_in)
    : StoreWrapper(inner), probability_(probability), seed_(seed), stall_one_in_(stall_one_in) {}

std::optional<FaultKind> FaultStore::draw(bool write) {
  if (!enabled_) return std::nullopt;
  thread_local std::mt19937_64 rng(seed_ ^ std::hash<std::thread::id>()(std::this_thread::get_id()));
  std::uniform_real_distribution<double> u(0, 1);
  if (write && stall_one_in_ > 0 && FenceScope::current() != nullptr && rng() % stall_one_in_ == 0) {
    ++counts_[static_cast<int>(FaultKind::kStall)];
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 400));
    return std::nullopt;
  }
  if (u(rng) >= probability_) return std::nullopt;
  // Reads fail or are delayed; writes may also lose their outcome.
  auto kind = static_cast<FaultKind>(rng() % (write ? kDrawnKinds : 3));
  ++counts_[static_cast<int>(kind)];
  if (kind == FaultKind::kDelay) {
    std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 3000));
    return std::nullopt;
  }
  if (kind == FaultKind::kDrop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  write_fault_here = true;  // a write, or the read of a copy made for a write
  return kind;
}

Status FaultStore::failure(FaultKind kind, std::string_view what) {
  std::string msg = fmt::format("injected {}: {} {}", fault_kind_name(kind), name(), what);
  if (kind == FaultKind::kUnknownOutcome) return Status::Unavailable(msg).outcome_unknown();
  return Status::Unavailable(msg);
}

Result<Lookup> FaultStore::get(std::string_view c, const Key& k) {
  if (auto f = draw(false)) return failure(*f, "get");
  return StoreWrapper::get(c, k);
}

Result<std::vector<InsertOutcome>> FaultStore::insert_if_absent(std::string_view c, std::span<const Record> r,
                                                                LockPolicy p) {
  auto f = draw(true);
  if (f && *f != FaultKind::kUnknownOutcome) return failure(*f, "insert_if_absent");
  auto out = StoreWrapper::insert_if_absent(c, r, p);
  if (f && out.ok()) return failure(*f, "insert_if_absent");
  return out;
}

Status FaultStore::upsert(std::string_view c, const Record& r) {
  auto f = draw(true);
  if (f && *f != FaultKind::kUnknownOutcome) return failure(*f, "upsert");
  Status s = StoreWrapper::upsert(c, r);
  if (f && s.ok()) return failure(*f, "upsert");
  return s;
}

Result<PatchOutcome> FaultStore::patch(std::string_view c, const Key& k, const FieldMap& fields) {
  auto f = draw(true);
  if (f && *f != FaultKind::kUnknownOutcome) return failure(*f, "patch");
  auto out = StoreWrapper::patch(c, k, fields);
  if (f && out.ok()) return failure(*f, "patch");
  return out;
}

Status FaultStore::remove(std::string_view c, const Key& k) {
  auto f = draw(true);
  if (f && *f != FaultKind::kUnknownOutcome) return failure(*f, "remove");
  Status s = StoreWrapper::remove(c, k);
  if (f && s.ok()) return failure(*f, "remove");
  return s;
}

}  // namespace tandem::stress
