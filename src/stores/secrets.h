// tandem's own connection-URL options that name where a password is, so that
// the password never travels in a URL, an error message or argv:
// password_file=PATH (its first line) and password_env=VAR.
#pragma once

#include <string>
#include <string_view>

#include "tandem/status.h"

namespace tandem {

bool is_password_option(std::string_view option);

// The password that option (password_file or password_env) names; kConfig
// naming the option and the redacted URL (display) if it cannot be read.
Result<std::string> read_password_option(std::string_view option, const std::string& value,
                                         std::string_view display);

}  // namespace tandem
