// Shared by verify's two modes (verify.cc: key ranges; verify_hashed.cc:
// buckets of identities). Internal to src/verify.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "tandem/key.h"
#include "tandem/key_identity.h"
#include "tandem/record.h"
#include "tandem/verify.h"

namespace tandem::verify_internal {

// How the copy differs from the source for one key (nullptr: no record
// there), or nullopt if it does not. A row in the copy under a tombstone is
// resurrected even when it equals the source's.
std::optional<Difference> classify(const Key& key, const Record* source, const Record* copy, bool tombstoned);

// key's identity under identity (tandem/key_identity.h); its encoding when
// identity cannot identify it (a key outside what a narrower new holds: it
// is never there and has no tombstone there, so its spelling stands for it).
std::string id_or_spelling(const KeyIdentity* identity, const Key& key);

// Runs copy on another thread while source runs on this one (the two sides
// are different databases; stores are thread-safe); the source's error
// first.
Status on_both_sides(const std::function<Status()>& source, const std::function<Status()>& copy);

}  // namespace tandem::verify_internal
