// Per-record locks for the SQLite store, as open-file-description (OFD) byte
// locks on a side file ("<database>.tandem-locks"). A record maps to one byte
// offset (a 62-bit hash of collection and key). OFD locks conflict between
// different open file descriptions even within one process, so they exclude
// across threads and processes alike, and the kernel drops them when a
// process dies: a killed copier never leaves a record locked. Two records
// whose hashes collide share a lock: harmless, only extra waiting.
// Thread safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/thread_annotations.h"
#include "tandem/store.h"

namespace tandem::sqlite {

class RecordLockFile : public std::enable_shared_from_this<RecordLockFile> {
 public:
  // The file is created on first use, so a store that never locks (old, in
  // steps 1-4) leaves no file behind.
  static std::shared_ptr<RecordLockFile> create(const std::string& path);
  ~RecordLockFile();

  // The byte a record locks: record_lock_hash(collection, Key::encode()),
  // kept within off_t's positive range.
  static uint64_t slot_for(std::string_view collection, std::string_view encoded_key);
  // An unheld RecordLock if another holder has the slot.
  Result<RecordLock> try_lock(uint64_t slot, std::string_view what);
  // Tries the locks of many slots on one descriptor (a batch of records held
  // together, whatever its size, costs one file descriptor): held[i] says
  // whether slots[i] was taken. The returned lock releases all of them.
  Result<RecordLock> try_lock_batch(std::span<const uint64_t> slots, std::vector<bool>& held,
                                    std::string_view what);
  // kTimeout (retryable) naming what after timeout.
  Result<RecordLock> lock(uint64_t slot, std::chrono::milliseconds timeout, std::string_view what);

 private:
  class Held;
  explicit RecordLockFile(std::string path) : path_(std::move(path)) {}
  Result<int> take_fd();
  void return_fd(int fd);

  std::string path_;
  Mutex mutex_;
  std::vector<int> idle_fds_ GUARDED_BY(mutex_);
};

}  // namespace tandem::sqlite
