// tandem's own connection-URL options that name where a password is, so that
// the password never travels in a URL, an error message or argv:
// password_file=PATH (its first line) and password_env=VAR.
#pragma once

#include <string>
#include <string_view>

#include "tandem/status.h"

namespace tandem {

bool is_password_option(std::string_view option);

// kConfig if url carries a password itself (`scheme://user:PASSWORD@host/...`
// or a `password=` query parameter): it would show in the config file, the
// process list of any tool it is passed to, and shell history. The error names
// the fix (password_file= / password_env=) and shows only display (the
// redacted URL), never the password.
Status refuse_password_in_url(std::string_view url, std::string_view display);

// The password that option (password_file or password_env) names; kConfig
// naming the option and the redacted URL (display) if it cannot be read.
Result<std::string> read_password_option(std::string_view option, const std::string& value,
                                         std::string_view display);

}  // namespace tandem
