#include "core/logging.h"

#include <atomic>
#include <cstdio>
#include <memory>

#include "core/thread_annotations.h"

namespace tandem {

namespace {

std::atomic<LogLevel> g_level{LogLevel::kWarn};

struct HandlerSlot {
  Mutex mutex;
  std::shared_ptr<const LogHandler> handler GUARDED_BY(mutex);
};

HandlerSlot& slot() {
  static HandlerSlot* s = new HandlerSlot();  // never destroyed: threads may log during exit
  return *s;
}

}  // namespace

void set_log_handler(LogHandler handler) {
  auto next = handler ? std::make_shared<const LogHandler>(std::move(handler)) : nullptr;
  HandlerSlot& s = slot();
  MutexLock lock(s.mutex);
  s.handler = std::move(next);
}

void set_log_level(LogLevel min_level) { g_level.store(min_level); }

LogLevel log_level() { return g_level.load(); }

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "unknown";
}

namespace logging {

bool enabled(LogLevel level) {
  LogLevel min = g_level.load(std::memory_order_relaxed);
  return min != LogLevel::kOff && level >= min;
}

void write(LogLevel level, const std::string& message) {
  std::shared_ptr<const LogHandler> handler;
  {
    HandlerSlot& s = slot();
    MutexLock lock(s.mutex);
    handler = s.handler;
  }
  if (handler) {
    (*handler)(level, message);
    return;
  }
  std::string line = fmt::format("tandem {}: {}\n", log_level_name(level), message);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace logging

}  // namespace tandem
