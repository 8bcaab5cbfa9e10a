// Waiting for a record lock: every store offers a non-blocking try; this
// turns it into a wait with a deadline, backing off from 50 us to 5 ms.
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include "tandem/store.h"

namespace tandem {

// Calls try_once until it returns a held lock, an error, or timeout passes
// (kTimeout, retryable, naming what).
Result<RecordLock> wait_for_lock(const std::function<Result<RecordLock>()>& try_once,
                                 std::chrono::milliseconds timeout, std::string_view what);

}  // namespace tandem
