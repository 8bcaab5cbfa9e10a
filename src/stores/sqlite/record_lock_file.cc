#include "stores/sqlite/record_lock_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/encoding.h"
#include "core/lock_wait.h"

namespace tandem::sqlite {

namespace {

// Sets (F_WRLCK) or clears (F_UNLCK) the one-byte lock at slot on fd; 0 or errno.
int set_byte_lock(int fd, uint64_t slot, short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(slot);
  fl.l_len = 1;
  return fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : errno;
}

}  // namespace

// The slots one descriptor holds; released (and the descriptor returned) on destruction.
class RecordLockFile::Held : public RecordLock::Handle {
 public:
  Held(std::shared_ptr<RecordLockFile> file, int fd) : file_(std::move(file)), fd_(fd) {}
  ~Held() override {
    for (uint64_t slot : slots_) {
      if (set_byte_lock(fd_, slot, F_UNLCK) != 0) {
        ::close(fd_);  // closing releases every lock of this descriptor
        return;
      }
    }
    file_->return_fd(fd_);
  }
  int fd() const { return fd_; }
  void add(uint64_t slot) { slots_.push_back(slot); }
  bool empty() const { return slots_.empty(); }

 private:
  std::shared_ptr<RecordLockFile> file_;
  int fd_;
  std::vector<uint64_t> slots_;
};

Result<RecordLock> RecordLockFile::try_lock_batch(std::span<const uint64_t> slots, std::vector<bool>& held,
                                                  std::string_view what) {
  held.assign(slots.size(), false);
  TANDEM_ASSIGN_OR_RETURN(int fd, take_fd());
  auto handle = std::make_unique<Held>(shared_from_this(), fd);
  // Locks on one descriptor never conflict with each other; records that
  // share a slot (a hash collision, or the same key twice) are both held.
  for (size_t i = 0; i < slots.size(); ++i) {
    int err = set_byte_lock(fd, slots[i], F_WRLCK);
    if (err == 0) {
      held[i] = true;
      handle->add(slots[i]);
    } else if (err != EAGAIN && err != EACCES) {
      return Status::IoError(fmt::format("locking {}: {}", what, std::strerror(err)));  // handle releases
    }
  }
  return RecordLock(std::move(handle));
}

std::shared_ptr<RecordLockFile> RecordLockFile::create(const std::string& path) {
  return std::shared_ptr<RecordLockFile>(new RecordLockFile(path));
}

RecordLockFile::~RecordLockFile() {
  for (int fd : idle_fds_) ::close(fd);
}

uint64_t RecordLockFile::slot_for(std::string_view collection, std::string_view encoded_key) {
  return record_lock_hash(collection, encoded_key) & ((uint64_t{1} << 62) - 1);
}

Result<int> RecordLockFile::take_fd() {
  {
    MutexLock lock(mutex_);
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
  MutexLock lock(mutex_);
  idle_fds_.push_back(fd);
}

Result<RecordLock> RecordLockFile::try_lock(uint64_t slot, std::string_view what) {
  std::vector<bool> held;
  TANDEM_ASSIGN_OR_RETURN(RecordLock lock, try_lock_batch(std::span<const uint64_t>(&slot, 1), held, what));
  if (!held[0]) return RecordLock();  // another holder has it; our descriptor goes back to the pool
  return lock;
}

Result<RecordLock> RecordLockFile::lock(uint64_t slot, std::chrono::milliseconds timeout,
                                        std::string_view what) {
  return wait_for_lock([&] { return try_lock(slot, what); }, timeout, what);
}

}  // namespace tandem::sqlite
