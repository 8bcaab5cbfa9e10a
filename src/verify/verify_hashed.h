// Verify's hashed mode (docs/design/collation-keys.md §3.5, computed by
// tandem): for a collection whose two sides identify keys alike but order
// them differently (old's text key under utf8mb4_general_ci, new's under an
// ICU collation ordered by bytes), a key range holds different records on
// each side, so verify partitions records by a hash of their identity
// instead (the source's KeyIdentity, tandem/key_identity.h).
//
// Pass 1 reads every record of both sides (at once, each in its own order)
// and keeps per bucket a count and an order-independent sum of record_hash:
// memory O(buckets). Pass 2 reads both sides again keeping only the records
// of the buckets that differ, keyed by identity, and classifies them (a
// spelling difference of one identity is kDifferent, not missing + extra);
// when those buckets hold many records, in groups, one pass per group.
// Internal to src/verify.
#pragma once

#include <map>
#include <string_view>

#include "tandem/schema.h"
#include "tandem/store.h"
#include "tandem/verify.h"

namespace tandem {

// Whether verify of collection uses the hashed mode: forced, or both sides'
// key identities are collated with different digests (alike identities,
// different orders).
bool verify_uses_hashed(const Store& source, const Store& copy, std::string_view collection, bool forced);

struct HashedVerifyOptions {
  size_t buckets = 65536;
  size_t group_records = 200000;  // records of pass 2 held in memory at once (per side, roughly)
  size_t batch = 1000;            // scan_batch limit
};

// Runs both passes over schema's collection. Adds to out: records,
// undecodable (the source's rows that do not decode), ranges_checked (buckets
// compared), ranges_mismatched (buckets that differ) and unexplained (rows of
// the copy whose key does not decode: no record to name); adds each
// difference seen to candidates (keyed by the source's key when it has the
// record, else the copy's), to be re-checked by the caller.
Status verify_hashed(Store& source, Store& copy, const CollectionSchema& schema,
                     const HashedVerifyOptions& options, CollectionVerify& out,
                     std::map<Key, Difference>& candidates);

}  // namespace tandem
