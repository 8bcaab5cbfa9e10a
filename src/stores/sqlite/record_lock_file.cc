#include "stores/sqlite/record_lock_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "core/encoding.h"

namespace tandem::sqlite {

class RecordLockFile::Held : public RecordLock::Handle {
 public:
  Held(std::shared_ptr<RecordLockFile> file, int fd, uint64_t slot)
      : file_(std::move(file)), fd_(fd), slot_(slot) {}
  ~Held() override {
    struct flock fl {};
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(slot_);
    fl.l_len = 1;
    if (fcntl(fd_, F_OFD_SETLK, &fl) != 0) {
      // Cannot unlock: close the descriptor, which releases its locks.
      ::close(fd_);
      return;
    }
    file_->return_fd(fd_);
  }

 private:
  std::shared_ptr<RecordLockFile> file_;
  int fd_;
  uint64_t slot_;
};

class RecordLockFile::BatchHeld : public RecordLock::Handle {
 public:
  BatchHeld(std::shared_ptr<RecordLockFile> file, int fd, std::vector<uint64_t> slots)
      : file_(std::move(file)), fd_(fd), slots_(std::move(slots)) {}
  ~BatchHeld() override {
    for (uint64_t slot : slots_) {
      struct flock fl {};
      fl.l_type = F_UNLCK;
      fl.l_whence = SEEK_SET;
      fl.l_start = static_cast<off_t>(slot);
      fl.l_len = 1;
      if (fcntl(fd_, F_OFD_SETLK, &fl) != 0) {
        ::close(fd_);  // closing releases every lock of this descriptor
        return;
      }
    }
    file_->return_fd(fd_);
  }

 private:
  std::shared_ptr<RecordLockFile> file_;
  int fd_;
  std::vector<uint64_t> slots_;
};

Result<RecordLock> RecordLockFile::try_lock_batch(std::span<const uint64_t> slots, std::vector<bool>& held,
                                                  std::string_view what) {
  held.assign(slots.size(), false);
  TANDEM_ASSIGN_OR_RETURN(int fd, take_fd());
  std::vector<uint64_t> taken;
  taken.reserve(slots.size());
  // Locks on one descriptor never conflict with each other; records that
  // share a slot (a hash collision, or the same key twice) are both held.
  auto handle = std::make_unique<BatchHeld>(shared_from_this(), fd, std::vector<uint64_t>{});
  for (size_t i = 0; i < slots.size(); ++i) {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(slots[i]);
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
      held[i] = true;
      taken.push_back(slots[i]);
      continue;
    }
    int err = errno;
    if (err != EAGAIN && err != EACCES) {
      handle = std::make_unique<BatchHeld>(shared_from_this(), fd, std::move(taken));
      return Status::IoError(fmt::format("locking {}: {}", what, std::strerror(err)));
    }
  }
  handle = std::make_unique<BatchHeld>(shared_from_this(), fd, std::move(taken));
  return RecordLock(std::move(handle));
}

std::shared_ptr<RecordLockFile> RecordLockFile::create(const std::string& path) {
  return std::shared_ptr<RecordLockFile>(new RecordLockFile(path));
}

RecordLockFile::~RecordLockFile() {
  for (int fd : idle_fds_) ::close(fd);
}

uint64_t RecordLockFile::slot_for(std::string_view collection, const std::string& encoded_key) {
  std::string buf;
  buf.reserve(collection.size() + 1 + encoded_key.size());
  buf.append(collection);
  buf += '\0';
  buf.append(encoded_key);
  return hash_bytes(buf) & ((uint64_t{1} << 62) - 1);
}

Result<int> RecordLockFile::take_fd() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_fds_.empty()) {
      int fd = idle_fds_.back();
      idle_fds_.pop_back();
      return fd;
    }
  }
  int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Unavailable(
        fmt::format("cannot open record lock file '{}': {}", path_, std::strerror(errno)));
  }
  return fd;
}

void RecordLockFile::return_fd(int fd) {
  std::lock_guard lock(mutex_);
  idle_fds_.push_back(fd);
}

Result<RecordLock> RecordLockFile::try_lock(uint64_t slot, std::string_view what) {
  TANDEM_ASSIGN_OR_RETURN(int fd, take_fd());
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(slot);
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
    return RecordLock(std::make_unique<Held>(shared_from_this(), fd, slot));
  }
  int err = errno;
  return_fd(fd);
  if (err == EAGAIN || err == EACCES) return RecordLock();
  return Status::IoError(fmt::format("locking {}: {}", what, std::strerror(err)));
}

Result<RecordLock> RecordLockFile::lock(uint64_t slot, std::chrono::milliseconds timeout,
                                        std::string_view what) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(RecordLock held, try_lock(slot, what));
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

}  // namespace tandem::sqlite
