// Verify: proves the copy equal to the source of truth, or lists every
// difference.
//
// The source of truth is the current step's write primary; the copy is the
// other database. Each collection is cut into ranges; each range's digest
// (count + order-independent hash, computed by each store) is compared; a
// mismatching range is bisected until it is small enough to compare record by
// record. A candidate difference is re-checked a few times so that a write in
// flight (written to the primary, not yet copied) is not reported. With
// repair, the source of truth's current version is copied over each
// difference under the copy's record lock (a record deleted in the source is
// deleted in the copy, leaving a tombstone), and the keys are checked again.
// Verify only reads the source when old is the source: it works with a
// read-only account on old. Each run is recorded in the control store as a
// VerifyRun (verify_ledger.h).
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "tandem/key.h"
#include "tandem/plan.h"
#include "tandem/status.h"
#include "tandem/verify_ledger.h"

namespace tandem {

class Migration;

enum class DifferenceKind : uint8_t {
  kMissing,      // the source of truth has it, the copy does not
  kExtra,        // the copy has it, the source does not
  kDifferent,    // both have it, with different fields
  kResurrected,  // the copy has it although it was deleted through tandem (tombstone)
};
std::string_view difference_kind_name(DifferenceKind kind);

struct Difference {
  Key key;
  DifferenceKind kind = DifferenceKind::kDifferent;
  std::string source;  // the source's record, abbreviated ("(absent)" if none)
  std::string copy;
  bool repaired = false;
};

struct VerifyOptions {
  std::vector<std::string> collections;  // empty: all
  size_t ranges = 64;                    // top-level ranges per collection
  size_t leaf_records = 256;             // compare record by record below this
  bool repair = false;
  int rechecks = 3;
  std::chrono::milliseconds recheck_delay{50};
  size_t max_listed = 1000;  // differences kept in the report per collection
  // Forces the hashed mode: records are compared in buckets of a hash of
  // their key's identity (under the source's collation) instead of key
  // ranges, reading both sides in full, each in its own order. Used anyway
  // when the two sides identify keys alike but order them differently (both
  // key identities collated, with different digests). For tests, and for a
  // user who wants it.
  bool hashed = false;
  // Hashed mode: records of mismatching buckets held in memory at once (more
  // are compared in several passes).
  size_t hashed_group_records = 200000;
};

struct CollectionVerify {
  std::string collection;
  Side source = Side::kOld;
  int64_t records = 0;            // in the source of truth
  int64_t undecodable = 0;        // rows of the source that do not decode (see the quarantine)
  int64_t quarantined = 0;        // records of the source absent from the copy because quarantined
  std::string mode;               // "ranges", or "hashed" (VerifyOptions::hashed)
  int64_t ranges_checked = 0;     // in hashed mode, buckets compared
  int64_t ranges_mismatched = 0;  // in hashed mode, buckets that differed
  int64_t missing = 0, extra = 0, different = 0, resurrected = 0;
  int64_t repaired = 0;
  int64_t remaining = 0;  // differences still there at the end
  // Ranges whose digests differ although no record differs and no row of
  // the source fails to decode, still after the rechecks: a difference that
  // tandem's decoding of both sides hides (the databases' own text differs).
  // Never clean; the ranges are listed.
  int64_t unexplained = 0;
  std::vector<std::string> unexplained_ranges;
  std::vector<Difference> differences;
  double seconds = 0;
  // Per relation whose child is this collection (verify_relations.cc): child
  // records whose reference matches no parent, in the source and the copy.
  struct RelationOrphans {
    std::string relation;
    int64_t in_source = 0, in_copy = 0;
    std::vector<std::string> sample;  // keys of the copy's orphans, first ones in key order
    std::string error;                // when a database could not count them (then not clean)
  };
  std::vector<RelationOrphans> orphans;
  // Orphans in the copy that the source does not have (more of them), or a
  // count that failed (verify cannot say there are none).
  bool orphaned() const {
    for (const RelationOrphans& o : orphans) {
      if (o.in_copy > o.in_source || !o.error.empty()) return true;
    }
    return false;
  }
  bool clean() const { return remaining == 0 && unexplained == 0 && !orphaned(); }
};

struct VerifyReport {
  std::vector<CollectionVerify> collections;
  bool clean() const {
    for (const auto& c : collections) {
      if (!c.clean()) return false;
    }
    return true;
  }
};

// Counts the orphans of every relation whose child is result.collection in
// the source of truth and in the copy, into result.orphans.
Status count_orphans(Migration& migration, Side source, CollectionVerify& result);

// Runs verify (and repair) and records each collection's result in the
// control store, where `tandem step` reads it.
Result<VerifyReport> run_verify(Migration& migration, const VerifyOptions& options);

}  // namespace tandem
