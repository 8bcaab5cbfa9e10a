// What a backfill worker needs to know about a batch and a range's owner,
// apart from the copy itself (backfill.cc).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tandem/backfill_ledger.h"
#include "tandem/store.h"

namespace tandem {

// Owner ids are "host:pid:worker". True when the owner is on this host and
// its process is gone (killed): its ranges are then taken over at once,
// without waiting for the lease to lapse.
bool owner_is_gone(const std::string& owner);

// About what the batch's records take in memory, in bytes, estimated from up
// to 64 records spread over the batch.
size_t batch_bytes(const ScanBatch& read);

// Adds each insert's outcome to the counts (copied, present, locked, tombstoned).
void count_outcomes(const std::vector<InsertOutcome>& outcomes, BackfillCounts& delta);

}  // namespace tandem
