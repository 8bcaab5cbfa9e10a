// History: every operation the stress clients made, per key, with the
// logical times it was invoked and acknowledged, and the checks against it.
//
// A key's state is named by the write that made it: "init" (the seeded
// record), "absent", or "w<id>" / "p<id>" (the put or patch with that id; ids
// are unique). A read may return the state of a write w if w began before the
// read ended and no acknowledged write began after w ended and ended before
// the read began; a final state likewise, with the read at the end of time.
// An operation whose outcome is unknown may or may not have happened.
//
// Thread safety: add() and tick() from any thread; the checks after the run.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

namespace tandem::stress {

struct Op {
  enum class Kind : uint8_t { kRead, kPut, kPatch, kDelete };
  enum class Outcome : uint8_t { kOk, kFailed, kUnknown };
  Kind kind = Kind::kRead;
  uint64_t inv = 0;   // logical time of the call
  uint64_t resp = 0;  // logical time of the answer
  Outcome outcome = Outcome::kOk;
  std::string state;  // a write: the state it leaves; a read: the state it saw
  int step = 0;       // the plan step (1-based) the client's instance routed by at the call
  // A write acknowledged although its copy to the write secondary failed (it
  // is in the repair queue); a read served by a read primary that is the
  // write secondary may not see it until it is repaired.
  bool secondary_missed = false;
  // A read at a step whose read primary is the write secondary.
  bool read_from_secondary = false;
};

class History {
 public:
  // clock: the logical clock, shared by every process of a run (see
  // SharedCounters); it must outlive the History.
  History(size_t keys, std::atomic<uint64_t>* clock)
      : clock_(clock), ops_(keys), mutexes_(keys), initial_(keys) {}
  uint64_t tick() { return ++*clock_; }
  // Before the run: the key's seeded state ("absent" if not called).
  void set_initial(size_t key, std::string state) { initial_[key] = std::move(state); }
  void add(size_t key, Op op);

  // Reads that saw a state no order of the writes allows: one line each.
  std::vector<std::string> check_reads(size_t max_listed) const;
  // Whether state is an allowed final state of key.
  bool final_allowed(size_t key, const std::string& state) const;
  // One line per operation, for a worker process to hand its part to the
  // harness; parse_into adds such lines back (kInvalidArgument on a bad line).
  void write_to(std::ostream& out) const;
  bool read_line(const std::string& line);

  // Pairs of writes to the same key that were in flight at the same time.
  int64_t collisions() const;
  // The key's history around logical time `around` (the end if 0), readable:
  // "t=12..15 step 2 put w7 ok; t=13..20 step 2 read -> w7; ...".
  std::string describe(size_t key, uint64_t around = 0, size_t max_ops = 24) const;

 private:
  bool allowed(size_t key, const std::string& state, uint64_t before, uint64_t since,
               bool from_secondary) const;

  std::atomic<uint64_t>* clock_;
  std::vector<std::vector<Op>> ops_;
  mutable std::vector<std::mutex> mutexes_;
  std::vector<std::string> initial_;
};

}  // namespace tandem::stress
