#include "stores/secrets.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>

namespace tandem {

bool is_password_option(std::string_view option) {
  return option == "password_file" || option == "password_env";
}

Result<std::string> read_password_option(std::string_view option, const std::string& value,
                                         std::string_view display) {
  if (option == "password_env") {
    const char* v = std::getenv(value.c_str());
    if (v == nullptr) {
      return Status::Config(
          fmt::format("{}: the environment variable '{}' named by password_env is not set", display, value));
    }
    return std::string(v);
  }
  std::ifstream in(value);
  if (!in) {
    return Status::Config(
        fmt::format("{}: cannot read the password file '{}' named by password_file", display, value));
  }
  std::string password;
  std::getline(in, password);
  while (!password.empty() && (password.back() == '\r' || password.back() == ' ')) password.pop_back();
  return password;
}

}  // namespace tandem
