// `tandem serve`: the data gateway, admin API, metrics and dashboard
// (serve/server.h) until SIGINT or SIGTERM.
#include <fmt/format.h>

#include <pthread.h>
#include <unistd.h>
#include <csignal>

#include "cli/common.h"
#include "serve/admin.h"
#include "serve/server.h"
#include "tandem/config.h"

namespace tandem::cli {

int run_serve_command(const GlobalOptions& global, const ServeCommandOptions& options) {
  serve::ServeOptions serve_options;
  const size_t colon = options.listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(options.listen.substr(colon + 1));
    } catch (const std::exception&) {
      port = -1;
    }
  }
  if (colon == std::string::npos || port < 0 || port > 65535)
    return report(Status::InvalidArgument(fmt::format(
        "--listen {}: expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any free port)", options.listen)));
  serve_options.host = options.listen.substr(0, colon);
  serve_options.port = port;
  serve_options.threads = options.threads;
  serve_options.max_body_bytes = options.max_body_kb * 1024;
  serve_options.tls_cert = options.tls_cert;
  serve_options.tls_key = options.tls_key;
  auto token = serve::load_admin_token(options.admin_token_file);
  if (!token.ok()) return report(token.status());
  serve_options.admin_token = std::move(*token);

  // SIGINT and SIGTERM are taken by sigwait below: blocked before any thread
  // starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto config = Config::load_file(global.config_path);
  if (!config.ok()) return report(config.status());
  MigrationOptions migration_options;
  // Unique per process: every `tandem serve` of a migration is an instance of its own.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  migration_options.instance_label = fmt::format("serve@{}:{}", host, getpid());
  auto migration = Migration::open(*config, migration_options);
  if (!migration.ok()) return report(migration.status());
  auto server = serve::Server::start(**migration, serve_options);
  if (!server.ok()) return report(server.status());
  const char* scheme = serve_options.tls_cert.empty() ? "http" : "https";
  fmt::print(
      "tandem serve: listening on {}://{}:{} (data /v1/, admin /admin/v1/ {}, metrics /metrics, dashboard "
      "/)\n",
      scheme, serve_options.host, (*server)->port(),
      serve_options.admin_token ? "with the token" : "OFF: no token given");
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  fmt::print("tandem serve: {} received; stopping\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->stop();
  return kExitOk;
}

}  // namespace tandem::cli
