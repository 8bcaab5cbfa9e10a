// Facts about this process that several components report.
#pragma once

#include <string>

namespace tandem {

// This machine's host name ("unknown-host" if it cannot be read).
std::string host_name();
// Who runs this process, for the step history and the finish record: "user@host pid N".
std::string actor_name();

}  // namespace tandem
