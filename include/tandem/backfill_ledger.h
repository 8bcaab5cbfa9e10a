// The backfill ledger: the records the control store keeps about each
// collection's backfill (see backfill.h for the copy, control_store.h for the
// methods that read and write them). Keys are Key::encode()d.
//
// Thread safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "tandem/clock.h"

namespace tandem {

// What a backfill did with the rows it read; scanned is the sum of the rest.
struct BackfillCounts {
  int64_t scanned = 0;
  int64_t copied = 0;
  int64_t present = 0;      // already in new (the live path wrote or transferred it)
  int64_t locked = 0;       // being transferred by the live path at that moment
  int64_t tombstoned = 0;   // deleted through tandem meanwhile
  int64_t quarantined = 0;  // could not be read or converted
  BackfillCounts& operator+=(const BackfillCounts& o) {
    scanned += o.scanned;
    copied += o.copied;
    present += o.present;
    locked += o.locked;
    tombstoned += o.tombstoned;
    quarantined += o.quarantined;
    return *this;
  }
};

// One key range of a collection's backfill: its bounds, how far it got, and
// which worker holds its lease.
struct BackfillRange {
  std::string collection;
  int64_t id = 0;
  std::optional<std::string> begin;   // inclusive; nullopt = from the first key
  std::optional<std::string> end;     // exclusive; nullopt = to the last key
  std::optional<std::string> cursor;  // last key read; the copy resumes after it
  bool done = false;
  std::string lease_owner;
  WallTime lease_until{};
  BackfillCounts counts;
  // When its current owner claimed it (the control store's clock) and its
  // counts.scanned then: the owner's rate is (counts.scanned -
  // scanned_at_claim) / (now - claimed_at). Zero for a range never claimed
  // since the control store gained these columns.
  WallTime claimed_at{};
  int64_t scanned_at_claim = 0;
  // Set by claim_backfill_range when the claim took the range over from
  // another owner that had not released it (its lease lapsed, or it is gone).
  std::string taken_from;
};

// A collection's backfill as a whole: the sum of its ranges.
struct BackfillState {
  bool planned = false;
  bool paused = false;
  bool complete = false;  // planned and every range done
  int64_t total_estimate = 0;
  WallTime started_at{};
  WallTime completed_at{};
  size_t ranges = 0;
  size_t ranges_done = 0;
  BackfillCounts counts;
};

}  // namespace tandem
