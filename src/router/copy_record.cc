#include "router/copy_record.h"

#include "core/sync_point.h"

namespace tandem {

Status copy_current_record(Store& from, Store& to, Store& lock_in, const CollectionSchema& schema,
                           const Key& key, std::chrono::milliseconds lock_timeout, const CopyFence& fence) {
  TANDEM_ASSIGN_OR_RETURN(RecordLock lock, lock_in.lock(schema.name, key, lock_timeout));
  if (fence) TANDEM_RETURN_IF_ERROR(fence());
  // A copy that stalls here passed its last lease check: new itself refuses
  // its write if new's role changed meanwhile (FenceScope, tandem/store.h).
  TANDEM_SYNC_POINT("copy.after_lease_check");
  // Read the source only once the lock is held: whoever copies last reads a
  // version at least as new as every write acknowledged before it started.
  TANDEM_ASSIGN_OR_RETURN(Lookup current, from.get(schema.name, key));
  if (current.present()) return to.upsert(schema.name, current.record);
  return to.remove(schema.name, key);
}

}  // namespace tandem
