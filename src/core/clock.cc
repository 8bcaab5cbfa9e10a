#include "tandem/clock.h"

#include "tandem/value.h"

namespace tandem {

TimePoint now_micros() { return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::now()); }

std::string format_time(TimePoint t) { return Timestamp{t.time_since_epoch().count()}.to_string(); }

}  // namespace tandem
