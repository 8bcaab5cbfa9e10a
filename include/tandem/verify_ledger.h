// The verify ledger: the record the control store keeps of each verify run
// (see verify.h for the verify itself, control_store.h for the methods that
// record and read it). A step move into reading new reads the latest run.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <string>

#include "tandem/clock.h"

namespace tandem {

struct VerifyRun {
  int64_t id = 0;
  std::string collection;
  WallTime at{};
  int64_t step_version = 0;  // the step version the verify ran at
  bool clean = false;
  int64_t records = 0;  // records in the source of truth
  int64_t missing = 0;
  int64_t extra = 0;
  int64_t different = 0;
  int64_t resurrected = 0;
  double seconds = 0;
};

}  // namespace tandem
