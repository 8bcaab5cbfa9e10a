// The wall clock of the control state: every time the control store records
// (step changes, heartbeats, leases, ledgers) is a WallTime of the system
// clock in microseconds since the Unix epoch, the unit the stores keep.
//
// The clock is named WallClock (not Clock): a service that writes
// `using namespace tandem;` next to its own `using Clock = ...` or
// `using namespace std::chrono;` meets no ambiguity (tests/public_names_test.cc).
//
// Thread safety: free functions, safe from any thread.
#pragma once

#include <chrono>
#include <string>

namespace tandem {

using WallClock = std::chrono::system_clock;
using WallTime = std::chrono::time_point<WallClock, std::chrono::microseconds>;

// Now, truncated to microseconds.
WallTime now_micros();
// "2026-11-25T10:00:00.000000Z" (UTC).
std::string format_time(WallTime t);

}  // namespace tandem
