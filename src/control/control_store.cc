// What every control store shares, whatever its engine: opening by URL, the
// mismatch kinds' names and the liveness of an instance.
#include "tandem/control_store.h"

#include <fmt/format.h>

#include "control/fence_ahead.h"
#include "control/sql/sql_control_store.h"
#include "control/sqlite/sqlite_control_store.h"
#include "tandem/store.h"

namespace tandem {

std::string_view mismatch_kind_name(MismatchKind kind) {
  switch (kind) {
    case MismatchKind::kMissingInSecondary:
      return "missing-in-secondary";
    case MismatchKind::kExtraInSecondary:
      return "extra-in-secondary";
    case MismatchKind::kDifferent:
      return "different";
    case MismatchKind::kSecondaryError:
      return "secondary-error";
  }
  return "unknown";
}

bool instance_is_live(const InstanceHeartbeat& heartbeat, WallTime now,
                      std::chrono::milliseconds instance_timeout) {
  return now - heartbeat.heartbeat_at <=
         std::chrono::duration_cast<std::chrono::microseconds>(std::max(instance_timeout, heartbeat.lease));
}

Status refuse_live_forget(std::string_view instance_id, std::string_view host, int64_t pid, int64_t age_us,
                          int64_t lease_ms) {
  if (age_us > lease_ms * 1000) return Status::Ok();
  return Status::FailedPrecondition(fmt::format(
      "instance {} (host {}, pid {}) renewed its lease {} ms ago (lease {} ms): it is running and may be "
      "routing; stop its process first, or wait for it to apply the current step",
      instance_id, host, pid, age_us / 1000, lease_ms));
}

Result<std::unique_ptr<ControlStore>> open_control_store(std::string_view url) {
  if (url.find(':') == std::string_view::npos) return open_sqlite_control_store(url);
  std::string_view scheme = url.substr(0, url.find(':'));
  if (scheme == "sqlite") return open_sqlite_control_store(url);
  if (scheme == "postgres" || scheme == "postgresql" || scheme == "mariadb" || scheme == "mysql") {
    return control_sql::open_sql_control_store(scheme, url);
  }
  return Status::Config(
      fmt::format("control store: unsupported URL scheme '{}' in '{}' (supported: sqlite:PATH, "
                  "postgres://USER@HOST:PORT/DB, "
                  "mariadb://USER@HOST:PORT/DB)",
                  scheme, redact_url(url)));
}

Status fence_ahead(std::string_view control, const StepState& current, int64_t fence_version) {
  return Status::FailedPrecondition(fmt::format(
      "new's fence is at step version {}, ahead of control store '{}' (step {}, version {}): another "
      "control store has moved this migration's steps on this new database, so two control stores steer "
      "one new database. Use one control store for every instance and tool of the migration (the "
      "`control` of the config); new would refuse this one's writes as older than its fence",
      fence_version, control, current.step_index + 1, current.version));
}

}  // namespace tandem
