#include "stores/secrets.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>

namespace tandem {

Status refuse_password_in_url(std::string_view url, std::string_view display) {
  size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? std::string_view() : url.substr(scheme + 3);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  rest = rest.substr(0, rest.find('/'));
  bool in_userinfo = false;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    in_userinfo = rest.substr(0, at).find(':') != std::string_view::npos;
  }
  bool in_query = false;
  for (size_t start = 0; start <= query.size();) {
    size_t end = query.find('&', start);
    std::string_view part = query.substr(start, end == std::string_view::npos ? query.npos : end - start);
    if (part.substr(0, part.find('=')) == "password") in_query = true;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (!in_userinfo && !in_query) return Status::Ok();
  return Status::Config(fmt::format(
      "{}: a password written in the URL is refused (it would show in the config, logs and process lists); "
      "remove it and give it as password_file=PATH (a file readable only by this account, the password on "
      "its first line) or password_env=VAR",
      display));
}

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
