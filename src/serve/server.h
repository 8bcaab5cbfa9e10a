// `tandem serve`: one HTTP server for the data gateway (/v1/), the admin API
// (/admin/v1/), the metrics (/metrics) and the dashboard (/), over one
// Migration that is an instance like any other (docs/SERVE.md).
//
// Limits: a request body above max_body_bytes is refused with 413 before it
// is read; a request line above 8 kB with 414; a connection idle for
// idle_timeout is closed; reads and writes of a request time out after
// io_timeout. Unknown paths: 404 with a JSON error. Requests are not logged
// (a key or a token must not reach a log); errors of the server are.
// Thread safety: start() once; stop() from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "tandem/migration.h"
#include "tandem/status.h"

namespace httplib {
class Server;
}

namespace tandem::serve {

class Admin;
class Gateway;

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                         // 0: any free port (port() tells which)
  std::optional<std::string> admin_token;  // nullopt: the admin API is off
  size_t threads = 16;                     // requests served at once (a keep-alive connection holds one)
  size_t max_body_bytes = 1 << 20;
  size_t max_batch_keys = 1000;
  int io_timeout_seconds = 10;
  int idle_timeout_seconds = 5;
  std::string tls_cert, tls_key;  // both set: HTTPS
};

class Server {
 public:
  // Binds and starts serving on a thread of its own. kInvalidArgument naming
  // the option when the address cannot be bound or the TLS files not read.
  static Result<std::unique_ptr<Server>> start(Migration& migration, ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  // Stops accepting, finishes what is in flight, joins.
  void stop();

 private:
  Server() = default;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<Admin> admin_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace tandem::serve
