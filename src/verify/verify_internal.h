// Shared by verify's two modes (verify.cc: key ranges; verify_hashed.cc:
// buckets of identities). Internal to src/verify.
#pragma once

#include <optional>

#include "tandem/key.h"
#include "tandem/record.h"
#include "tandem/verify.h"

namespace tandem::verify_internal {

// How the copy differs from the source for one key (nullptr: no record
// there), or nullopt if it does not. A row in the copy under a tombstone is
// resurrected even when it equals the source's.
std::optional<Difference> classify(const Key& key, const Record* source, const Record* copy, bool tombstoned);

}  // namespace tandem::verify_internal
