// Named pause points for deterministic race tests (the idea of RocksDB's
// test_util/sync_point.h). TANDEM_SYNC_POINT("backfill.after_read") calls the
// callback a test installed under that name, on the thread that reaches it;
// the test's callback can block until another thread has done its part, so a
// race is reproduced exactly instead of hoped for with sleeps.
//
// Compiled only into test builds (TANDEM_SYNC_POINTS, set when BUILD_TESTING
// is on); in other builds the macro is empty and costs nothing.
// Thread safety: set/clear and hits may come from any thread.
#pragma once

#include <functional>
#include <string_view>

namespace tandem {

class SyncPoints {
 public:
  // Installs callback for name (replacing any); called on every hit.
  static void set(std::string_view name, std::function<void()> callback);
  static void clear_all();
  static void hit(std::string_view name);
};

}  // namespace tandem

#ifdef TANDEM_SYNC_POINTS
#define TANDEM_SYNC_POINT(name) ::tandem::SyncPoints::hit(name)
#else
#define TANDEM_SYNC_POINT(name) \
  do {                          \
  } while (0)
#endif
