// copy_current_record: how tandem brings one record of one database up to
// date with another, shared by the write-secondary sync, the repair queue
// (router) and verify --repair.
//
// Thread safety: safe from any thread (the stores are); concurrent copies of
// one key serialize on the target's record lock.
// Errors: the lock's (kBusy / kTimeout when the lock is not had within
// lock_timeout) or either store's.
#pragma once

#include <chrono>

#include "tandem/key.h"
#include "tandem/schema.h"
#include "tandem/status.h"
#include "tandem/store.h"

namespace tandem {

// Copies from's current version of key into to, under to's record lock:
// present -> upsert, absent or tombstoned -> remove. Never replays the
// caller's write, so the last copy to run always leaves to equal to from.
Status copy_current_record(Store& from, Store& to, const CollectionSchema& schema, const Key& key,
                           std::chrono::milliseconds lock_timeout);

}  // namespace tandem
