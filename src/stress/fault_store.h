// FaultStore: a StoreWrapper that injects faults at random into the calls the
// router, backfill, verify and repair make: a failed call (nothing done), a
// dropped connection (nothing done, reported after a pause), a delay, and a
// write whose outcome is unknown (done, but the caller gets an error). Where
// enabled (new), also a stall: a routed write (one made in a FenceScope,
// after the operation's last lease check) held for 0.2-0.6 s while its
// process goes on renewing its lease, so that the step may move under it and
// only new's fence (tandem/store.h) keeps it from landing by the old step.
//
// Thread safety: every method may be called from many threads; the random
// source is per thread. Faults are off until enable(true).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "tandem/store_wrapper.h"

namespace tandem::stress {

enum class FaultKind : uint8_t { kFail, kDrop, kDelay, kUnknownOutcome, kStall };
constexpr int kFaultKinds = 5;
constexpr int kDrawnKinds =
    4;  // drawn by probability (and required by --require-coverage); a stall has its own rate
std::string_view fault_kind_name(FaultKind kind);

class FaultStore : public StoreWrapper {
 public:
  // probability: of a fault per call, split evenly between the drawn kinds;
  // stall_one_in: one routed write in that many stalls (0: never).
  FaultStore(Store* inner, double probability, uint64_t seed, uint64_t stall_one_in = 0);
  void enable(bool on) { enabled_ = on; }
  // Whether a write fault (not a delay) was injected in this thread since the
  // last call; clears the flag. The router writes in the caller's thread, so
  // a client learns that its acknowledged write missed the write secondary.
  static bool take_write_fault();
  // How many faults of kind were injected.
  int64_t injected(FaultKind kind) const { return counts_[static_cast<int>(kind)]; }

  Result<Lookup> get(std::string_view c, const Key& k) override;
  Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view c, std::span<const Record> r,
                                                      LockPolicy p) override;
  Status upsert(std::string_view c, const Record& r) override;
  Result<PatchOutcome> patch(std::string_view c, const Key& k, const FieldMap& f) override;
  Status remove(std::string_view c, const Key& k) override;

 private:
  // The fault to inject now, if any; a delay is served here and reported as none.
  std::optional<FaultKind> draw(bool write);
  Status failure(FaultKind kind, std::string_view what);

  double probability_;
  uint64_t seed_;
  uint64_t stall_one_in_;
  std::atomic<bool> enabled_{false};
  std::atomic<int64_t> counts_[kFaultKinds] = {};
};

}  // namespace tandem::stress
