#include "core/lock_wait.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

namespace tandem {

Result<RecordLock> wait_for_lock(const std::function<Result<RecordLock>()>& try_once,
                                 std::chrono::milliseconds timeout, std::string_view what) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(RecordLock held, try_once());
    if (held.held()) return held;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Timeout(fmt::format(
          "could not lock {} within {} ms: another copier (transfer, backfill or repair) holds it", what,
          timeout.count()));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(5));
  }
}

}  // namespace tandem
