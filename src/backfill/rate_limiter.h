// RateLimiter: the backfill's --max-rows-per-second, shared by the workers of
// one run. Thread safety: acquire() from any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <thread>

#include "core/thread_annotations.h"

namespace tandem {

// Shared by the workers of one run: rows/s limit across all of them.
class RateLimiter {
 public:
  using SteadyClock = std::chrono::steady_clock;
  explicit RateLimiter(double rows_per_second) : rate_(rows_per_second) {}
  void acquire(size_t rows) {
    if (rate_ <= 0) return;
    SteadyClock::time_point start;
    {
      MutexLock lock(mutex_);
      start = std::max(SteadyClock::now(), next_free_);
      next_free_ = start + std::chrono::duration_cast<SteadyClock::duration>(
                               std::chrono::duration<double>(static_cast<double>(rows) / rate_));
    }
    std::this_thread::sleep_until(start);
  }

 private:
  double rate_;
  Mutex mutex_;
  SteadyClock::time_point next_free_ GUARDED_BY(mutex_) = {};
};

}  // namespace tandem
