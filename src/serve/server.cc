#include "serve/server.h"

#include <fmt/format.h>
#include <httplib.h>

#include "core/logging.h"
#include "serve/admin.h"
#include "serve/dashboard.h"
#include "serve/gateway.h"
#include "serve/responses.h"

namespace tandem::serve {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

Result<std::unique_ptr<Server>> Server::start(Migration& migration, ServeOptions options) {
  std::unique_ptr<Server> server(new Server());
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() || options.tls_key.empty())
      return Status::InvalidArgument("--tls-cert and --tls-key go together");
    auto tls = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    if (!tls->is_valid())
      return Status::InvalidArgument(
          fmt::format("--tls-cert {} / --tls-key {}: cannot be read as a certificate and its key",
                      options.tls_cert, options.tls_key));
    server->http_ = std::move(tls);
  } else {
    server->http_ = std::make_unique<httplib::Server>();
  }
  httplib::Server& http = *server->http_;
  const size_t threads = std::max<size_t>(options.threads, 2);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.max_body_bytes);
  http.set_read_timeout(options.io_timeout_seconds, 0);
  http.set_write_timeout(options.io_timeout_seconds, 0);
  http.set_keep_alive_timeout(options.idle_timeout_seconds);
  http.set_keep_alive_max_count(100000);
  http.set_tcp_nodelay(true);  // else a response waits on the client's delayed ACK (40 ms)

  server->gateway_ = std::make_unique<Gateway>(migration, GatewayOptions{options.max_batch_keys});
  server->admin_ = std::make_unique<Admin>(migration, options.admin_token);
  Admin* admin = server->admin_.get();
  http.set_pre_routing_handler([admin](const httplib::Request& req, httplib::Response& res) {
    if (starts_with(req.path, "/admin/") && !admin->authorized(req, res))
      return httplib::Server::HandlerResponse::Handled;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server->gateway_->install(http);
  server->admin_->install(http);
  Gateway* gateway = server->gateway_.get();
  http.Get("/metrics", [gateway, &migration](const httplib::Request&, httplib::Response& res) {
    std::string out;
    gateway->metrics().write(out);
    Status s = write_migration_metrics(migration, out);
    if (!s.ok()) return send_error(res, s);
    res.set_content(out, "text/plain; version=0.0.4; charset=utf-8");
  });
  install_dashboard(http);
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler's own error
    switch (res.status) {
      case 404:
        send_json(res, 404,
                  error_json(Status::NotFound(
                      fmt::format("no such endpoint: {} {}", req.method, req.path.substr(0, 100)))));
        break;
      case 413:
        send_json(res, 413, error_json(Status::InvalidArgument("the request body is larger than the limit")));
        break;
      case 414:
        send_json(res, 414, error_json(Status::InvalidArgument("the request line is longer than 8 kB")));
        break;
      default:
        break;
    }
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, const std::exception_ptr& ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        logging::error("tandem serve: a request failed: {}", what);
        send_error(res, Status::Internal("the request failed inside tandem serve; see its log"));
      });

  if (options.port == 0) {
    int port = http.bind_to_any_port(options.host);
    if (port <= 0) return Status::InvalidArgument(fmt::format("--listen {}:0: cannot bind", options.host));
    server->port_ = port;
  } else {
    if (!http.bind_to_port(options.host, options.port))
      return Status::InvalidArgument(
          fmt::format("--listen {}:{}: cannot bind (in use, or not an address of this host)", options.host,
                      options.port));
    server->port_ = options.port;
  }
  server->thread_ = std::thread([&http] { http.listen_after_bind(); });
  return server;
}

void Server::stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

Server::~Server() { stop(); }

}  // namespace tandem::serve
