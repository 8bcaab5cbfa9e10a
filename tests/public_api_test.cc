// Issue 14 item 5: the library as a service engineer meets it. Built with
// -Werror from the public headers only (as a service would):
// - the README's C++ snippet compiles without a warning ([[nodiscard]]
//   results are used);
// - `using namespace std::chrono; using namespace tandem;` beside a service's
//   own common aliases (Clock, TimePoint) compiles: tandem's clock names
//   (WallClock, WallTime) do not collide with them.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <tandem/clock.h>
#include <tandem/config.h>
#include <tandem/logging.h>
#include <tandem/migration.h>

// A service's own aliases, as many code bases have them.
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

using namespace std::chrono;
using namespace tandem;

namespace service {

TimePoint started_at() { return Clock::now(); }
milliseconds since(TimePoint t) { return duration_cast<milliseconds>(Clock::now() - t); }

// The README's snippet ("Using it"), as a function.
int serve() {
  // ---- README snippet begins
  auto config = tandem::Config::load_file("tandem.toml");
  if (!config.ok()) return std::fprintf(stderr, "%s\n", config.status().to_string().c_str()), 4;
  auto migration = tandem::Migration::open(*config);  // `tandem init` created new's tables
  if (!migration.ok()) return std::fprintf(stderr, "%s\n", migration.status().to_string().c_str()), 1;
  auto users = (*migration)->collection("users");
  if (!users.ok()) return std::fprintf(stderr, "%s\n", users.status().to_string().c_str()), 1;
  tandem::Record record{tandem::Key{tandem::Value(int64_t{42})}, {{"email", tandem::Value("a@example.org")}}};
  if (tandem::Status s = (*users)->put(record); !s.ok()) {  // routed by the current step
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return 1;
  }
  auto found = (*users)->get(tandem::Key{tandem::Value(int64_t{42})});
  if (!found.ok() || !*found) return 1;
  // ---- README snippet ends
  return 0;
}

}  // namespace service

TEST(PublicApi, CommonAliasesBesideUsingNamespaceTandemCompile) {
  TimePoint t = service::started_at();
  EXPECT_GE(service::since(t).count(), 0);
  WallTime wall = now_micros();  // tandem's own clock, by its specific name
  EXPECT_GT(wall.time_since_epoch().count(), 0);
}

TEST(PublicApi, TheReadmeSnippetReportsAMissingConfigAsAValue) {
  LogLevel before = log_level();
  set_log_level(LogLevel::kOff);
  EXPECT_EQ(service::serve(), 4);  // no tandem.toml in the test's directory: an error value, no throw
  set_log_level(before);
}
