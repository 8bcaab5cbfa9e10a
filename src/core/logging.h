// The library's internal logging calls (the public side is
// include/tandem/logging.h): logging::warn("...{}...", x) formats only when
// the level is enabled, then hands the line to the service's handler or, by
// default, to stderr. Never stdout.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>

#include "tandem/logging.h"

namespace tandem::logging {

bool enabled(LogLevel level);
void write(LogLevel level, const std::string& message);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(LogLevel::kDebug)) write(LogLevel::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(LogLevel::kInfo)) write(LogLevel::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(LogLevel::kWarn)) write(LogLevel::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(LogLevel::kError)) write(LogLevel::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace tandem::logging
