// Thread-safety annotations, checked by clang's -Wthread-safety (scripts/test.sh
// runs a clang build with -Wthread-safety -Werror) and empty under GCC.
//
// Contract: state that a comment would call "guarded by m" is declared
// GUARDED_BY(m) with m a tandem::Mutex; a function that expects the caller to
// hold m says REQUIRES(m). Lock with MutexLock (scoped) or, where a condition
// variable waits, with std::unique_lock<Mutex> and std::condition_variable_any
// (clang cannot follow a unique_lock: such functions read the state under the
// lock through a helper that REQUIRES the mutex, or say NO_THREAD_SAFETY_ANALYSIS
// with the reason). std::mutex is not annotated by libstdc++, hence Mutex.
#pragma once

#include <mutex>

#if defined(__clang__)
#define TANDEM_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TANDEM_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) TANDEM_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY TANDEM_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) TANDEM_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) TANDEM_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) TANDEM_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) TANDEM_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) TANDEM_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) TANDEM_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) TANDEM_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS TANDEM_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace tandem {

// A std::mutex that clang's analysis knows to be a capability. Lockable, so
// std::unique_lock<Mutex> and std::condition_variable_any work with it.
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mutex_.try_lock(); }

 private:
  std::mutex mutex_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() RELEASE() { mutex_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mutex_;
};

// Holds a Mutex for its scope and can let go of it and take it back: a
// BasicLockable for std::condition_variable_any::wait. A predicate given to
// wait reads guarded state, so it is declared `[&]() REQUIRES(mutex) {...}`.
class SCOPED_CAPABILITY UniqueLock {
 public:
  explicit UniqueLock(Mutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~UniqueLock() RELEASE() {
    if (held_) mutex_.unlock();
  }
  void lock() ACQUIRE() {
    mutex_.lock();
    held_ = true;
  }
  void unlock() RELEASE() {
    held_ = false;
    mutex_.unlock();
  }
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;

 private:
  Mutex& mutex_;
  bool held_ = true;
};

}  // namespace tandem
