#include "tandem/clock.h"

#include "tandem/value.h"

namespace tandem {

WallTime now_micros() { return std::chrono::time_point_cast<std::chrono::microseconds>(WallClock::now()); }

std::string format_time(WallTime t) { return Timestamp{t.time_since_epoch().count()}.to_string(); }

}  // namespace tandem
