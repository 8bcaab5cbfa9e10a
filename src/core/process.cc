#include "core/process.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

namespace tandem {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown-host";
  return buf;
}

std::string actor_name() {
  const passwd* pw = getpwuid(geteuid());
  return fmt::format("{}@{} pid {}", pw != nullptr ? pw->pw_name : "unknown", host_name(), getpid());
}

}  // namespace tandem
