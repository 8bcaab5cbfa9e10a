// Facts about this process that several components report.
#pragma once

#include <string>

namespace tandem {

// This machine's host name ("unknown-host" if it cannot be read).
std::string host_name();

}  // namespace tandem
