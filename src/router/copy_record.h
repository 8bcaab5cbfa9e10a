// copy_current_record: how tandem brings one record of one database up to
// date with another, shared by the write-secondary sync, the repair queue
// (router) and verify --repair.
//
// Thread safety: safe from any thread (the stores are); concurrent copies of
// one key serialize on new's record lock for that key, whichever way they copy.
// One lock for both directions matters where instances with different write
// primaries coexist (a move between read-new and write-new, or back several
// steps): a copy old -> new under new's lock and a copy new -> old under old's
// lock could each read its source before the other wrote it, and leave the
// two databases different with nothing queued. Found by tandem-stress.
// Errors: the lock's (kBusy / kTimeout when the lock is not had within
// lock_timeout) or either store's.
#pragma once

#include <chrono>
#include <functional>

#include "tandem/key.h"
#include "tandem/schema.h"
#include "tandem/status.h"
#include "tandem/store.h"

namespace tandem {

// Checked once a copy holds its record lock, right before it reads the
// source and writes: a routed copy passes its instance's lease check
// (MigrationState::check_lease), so that however long it waited for the
// lock, it writes nothing by a step it can no longer confirm. A non-Ok
// result is returned unchanged and nothing is written. Empty: no check.
using CopyFence = std::function<Status()>;

// Copies from's current version of key into to, under lock_in's record lock
// (lock_in is new, the database tandem locks in; old is never locked):
// present -> upsert, absent or tombstoned -> remove. Never replays the
// caller's write, so the last copy to run always leaves to equal to from.
Status copy_current_record(Store& from, Store& to, Store& lock_in, const CollectionSchema& schema,
                           const Key& key, std::chrono::milliseconds lock_timeout,
                           const CopyFence& fence = {});

}  // namespace tandem
