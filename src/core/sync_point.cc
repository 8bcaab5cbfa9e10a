#include "core/sync_point.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "core/thread_annotations.h"

namespace tandem {

namespace {
struct Registry {
  Mutex mutex;
  std::map<std::string, std::shared_ptr<std::function<void()>>, std::less<>> callbacks GUARDED_BY(mutex);
  std::atomic<bool> any{false};
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

void SyncPoints::set(std::string_view name, std::function<void()> callback) {
  Registry& r = registry();
  MutexLock lock(r.mutex);
  r.callbacks[std::string(name)] = std::make_shared<std::function<void()>>(std::move(callback));
  r.any = true;
}

void SyncPoints::clear_all() {
  Registry& r = registry();
  MutexLock lock(r.mutex);
  r.callbacks.clear();
  r.any = false;
}

void SyncPoints::hit(std::string_view name) {
  Registry& r = registry();
  if (!r.any.load(std::memory_order_relaxed)) return;
  std::shared_ptr<std::function<void()>> callback;
  {
    MutexLock lock(r.mutex);
    auto it = r.callbacks.find(name);
    if (it == r.callbacks.end()) return;
    callback = it->second;
  }
  (*callback)();  // outside the lock: the callback may block
}

}  // namespace tandem
