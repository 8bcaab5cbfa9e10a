// How a SQL store fences a write (tandem/store.h, FenceScope): inside the
// write's transaction the engine reads new's fence row under a shared lock
// (tandem_fence, one row), asks judge_fence, and either writes, refuses with
// fence_refusal, or raises the fence first (raise_fence_sql) and reads again.
// The shared lock keeps a raise from committing between the read and the
// write's commit, so a write routed by an older version never lands after a
// write that raised the fence.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/sync_point.h"
#include "tandem/status.h"
#include "tandem/store.h"

namespace tandem::sql {

enum class FenceVerdict : uint8_t {
  kWrite,   // the token's role, at a version not older than the fence's
  kRefuse,  // older than the fence (or its version with another role)
  kRaise,   // newer, with another role: raise the fence to it, then read again
};
// fence: the row as read (its version and role: a FenceToken too).
FenceVerdict judge_fence(const FenceToken& fence, const FenceToken& token);

// kUnavailable, retryable, is_fenced(): what new refused and why.
Status fence_refusal(std::string_view store, const FenceToken& fence, const FenceToken& token);

// The token a write of a store with these options is fenced by: the
// thread's FenceScope if the store keeps tombstones (new), else nullptr.
const FenceToken* fence_for(const StoreOptions& options);

// A role stored as an integer, checked (kCorruption naming the table).
Result<FenceRole> fence_role_of(int64_t stored);

// How many times a write raises the fence and reads it again before giving
// up (another instance raising it to yet another role each time).
inline constexpr int kFenceAttempts = 4;

// How long a raise waits for the writes in progress under an older version
// (they hold the fence's shared lock) before it gives up: a stalled process
// in the middle of a write must not stop every write by the new role for
// longer (writes queue behind a waiting raise).
inline constexpr int kFenceRaiseTimeoutMs = 2000;
// The raise's kBusy (retryable) when that wait ran out.
Status fence_raise_timed_out(std::string_view store, const FenceToken& token);

// Begins a write's transaction fenced by token, for an engine whose locking
// read waits for a raise in progress (PostgreSQL, MariaDB): begin() opens
// the transaction, read() reads the fence row under a shared lock inside it,
// raise() raises the fence to token in its own transaction (so that it holds
// nothing another fenced write waits for). Returns the open transaction to
// write in, or the refusal.
template <class Begin, class Read, class Raise>
auto begin_fenced(std::string_view store, const FenceToken& token, const Begin& begin, const Read& read,
                  const Raise& raise) -> decltype(begin()) {
  for (int attempt = 1;; ++attempt) {
    auto tx = begin();
    if (!tx.ok()) return tx;
    Result<FenceToken> fence = read();
    if (!fence.ok()) return fence.status();
    switch (judge_fence(*fence, token)) {
      case FenceVerdict::kWrite:
        TANDEM_SYNC_POINT("fence.passed");  // holding the fence's shared lock until the write commits
        return tx;
      case FenceVerdict::kRefuse:
        return fence_refusal(store, *fence, token);
      case FenceVerdict::kRaise:
        break;
    }
    if (attempt == kFenceAttempts) {
      return Status::Busy(fmt::format(
          "{}: tandem_fence changed role {} times while a write routed by step version {} raised it", store,
          kFenceAttempts, token.version));
    }
    { auto rolled_back = std::move(*tx); }  // holds nothing while the raise waits
    TANDEM_RETURN_IF_ERROR(raise());
  }
}

}  // namespace tandem::sql
