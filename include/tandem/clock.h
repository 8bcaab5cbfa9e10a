// The wall clock of the control state: every time the control store records
// (step changes, heartbeats, leases, ledgers) is a TimePoint of the system
// clock in microseconds since the Unix epoch, the unit the stores keep.
//
// Thread safety: free functions, safe from any thread.
#pragma once

#include <chrono>
#include <string>

namespace tandem {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::microseconds>;

// Now, truncated to microseconds.
TimePoint now_micros();
// "2026-11-25T10:00:00.000000Z" (UTC).
std::string format_time(TimePoint t);

}  // namespace tandem
