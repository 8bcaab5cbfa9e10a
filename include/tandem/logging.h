// Where the tandem library's own messages go (a step applied, a repair that
// failed, a backfill retrying): the library never writes to the service's
// stdout, and writes to its stderr only as stated here.
//
// Default: messages at warn and above are written to stderr, one line each
// ("tandem warn: ..."); info and debug are dropped. A service routes them into
// its own logging with set_log_handler (e.g. a function that calls its spdlog
// logger), and chooses how much with set_log_level (LogLevel::kOff: nothing at
// all, not even to stderr).
//
//   tandem::set_log_handler([&](tandem::LogLevel level, std::string_view message) {
//     my_logger->log(level >= tandem::LogLevel::kWarn ? spdlog::level::warn : spdlog::level::info,
//                    "tandem: {}", message);
//   });
//   tandem::set_log_level(tandem::LogLevel::kInfo);
//
// Messages never contain a password (URLs are shown redacted).
//
// Thread safety: every function may be called from any thread at any time.
// The handler is called from the thread that logs (a request thread, the
// refresh thread, a backfill worker), possibly from several at once: it must
// be thread-safe and must not call back into tandem. A handler set while
// another is running takes effect for the next message.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace tandem {

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError, kOff };

// Receives each message at or above the log level, without a trailing newline.
using LogHandler = std::function<void(LogLevel level, std::string_view message)>;

// Routes the library's messages to handler; an empty handler restores the
// default (stderr).
void set_log_handler(LogHandler handler);
// Messages below min_level are dropped (not even formatted). Default kWarn.
void set_log_level(LogLevel min_level);
LogLevel log_level();

// "debug", "info", "warn", "error", "off".
std::string_view log_level_name(LogLevel level);

}  // namespace tandem
