// RateLimiter: the backfill's --max-rows-per-second, shared by the workers of
// one run. Thread safety: acquire() from any thread.
#pragma once

#include <algorithm>
#include <atomic>
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
    const auto now = SteadyClock::now();
    if (start > now) {
      waited_micros_.fetch_add(std::chrono::duration_cast<std::chrono::microseconds>(start - now).count(),
                               std::memory_order_relaxed);
    }
    sleepers_.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_until(start);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }
  // Whether a worker is waiting for the limit now.
  bool waiting() const { return sleepers_.load(std::memory_order_relaxed) > 0; }
  // Time the workers have waited for the limit, summed over them.
  double waited_seconds() const {
    return static_cast<double>(waited_micros_.load(std::memory_order_relaxed)) / 1e6;
  }

 private:
  double rate_;
  Mutex mutex_;
  SteadyClock::time_point next_free_ GUARDED_BY(mutex_) = {};
  std::atomic<int64_t> waited_micros_{0};
  std::atomic<int> sleepers_{0};
};

}  // namespace tandem
