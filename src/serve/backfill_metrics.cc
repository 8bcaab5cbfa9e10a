#include "serve/backfill_metrics.h"

#include <fmt/format.h>
#include <httplib.h>

#include <charconv>
#include <chrono>

#include "serve/metrics.h"
#include "serve/responses.h"

namespace tandem::serve {

Result<std::pair<std::string, int>> parse_listen(const std::string& option, const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    const char* begin = listen.data() + colon + 1;
    const char* end = listen.data() + listen.size();
    auto [p, ec] = std::from_chars(begin, end, port);
    if (ec != std::errc() || p != end) port = -1;
  }
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535)
    return Status::InvalidArgument(fmt::format(
        "{} {}: expected HOST:PORT, e.g. 127.0.0.1:9100 (port 0: any free port)", option, listen));
  return std::pair<std::string, int>(listen.substr(0, colon), port);
}

Result<std::unique_ptr<BackfillMetricsServer>> BackfillMetricsServer::start(Migration& migration,
                                                                            const std::string& listen,
                                                                            const BackfillOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(auto address, parse_listen("--metrics-listen", listen));
  std::unique_ptr<BackfillMetricsServer> server(new BackfillMetricsServer());
  server->migration_ = &migration;
  server->max_rows_per_second_ = options.max_rows_per_second;
  server->min_batch_ = options.min_batch;
  server->http_ = std::make_unique<httplib::Server>();
  httplib::Server& http = *server->http_;
  http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  BackfillMetricsServer* self = server.get();
  http.Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    std::string out;
    self->write(out);
    Status s = write_migration_metrics(*self->migration_, out);
    if (!s.ok()) return send_error(res, s);
    res.set_content(out, "text/plain; version=0.0.4; charset=utf-8");
  });
  int port = address.second;
  if (port == 0) {
    port = http.bind_to_any_port(address.first);
  } else if (!http.bind_to_port(address.first, port)) {
    port = -1;
  }
  if (port <= 0) return Status::InvalidArgument(fmt::format("--metrics-listen {}: cannot bind", listen));
  server->port_ = port;
  server->thread_ = std::thread([&http] { http.listen_after_bind(); });
  return server;
}

BackfillMetricsServer::~BackfillMetricsServer() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void BackfillMetricsServer::update(const BackfillProgress& progress) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  MutexLock lock(mu_);
  auto it = seen_.find(progress.collection);
  const double waited_before = it == seen_.end() ? 0 : it->second.progress.rate_limit_wait_seconds;
  seen_[progress.collection] =
      Seen{progress, now, progress.rate_limited || progress.rate_limit_wait_seconds > waited_before};
}

void BackfillMetricsServer::write(std::string& out) {
  std::string rows, rate, batch, last, throttled, waits;
  {
    MutexLock lock(mu_);
    for (const auto& [name, s] : seen_) {
      const BackfillCounts& c = s.progress.this_run;
      const std::pair<const char*, int64_t> outcomes[] = {
          {"scanned", c.scanned}, {"copied", c.copied},         {"present", c.present},
          {"locked", c.locked},   {"tombstoned", c.tombstoned}, {"quarantined", c.quarantined}};
      for (const auto& [o, n] : outcomes)
        rows += fmt::format("tandem_backfill_run_rows_total{{collection=\"{}\",outcome=\"{}\"}} {}\n", name,
                            o, n);
      rate += fmt::format("tandem_backfill_run_rows_per_second{{collection=\"{}\"}} {}\n", name,
                          s.progress.rows_per_second);
      batch += fmt::format("tandem_backfill_run_batch_size{{collection=\"{}\"}} {}\n", name,
                           s.progress.batch_size);
      last += fmt::format("tandem_backfill_run_last_progress_timestamp_seconds{{collection=\"{}\"}} {:.3f}\n",
                          name, s.at);
      waits += fmt::format("tandem_backfill_run_rate_limit_wait_seconds_total{{collection=\"{}\"}} {}\n",
                           name, s.progress.rate_limit_wait_seconds);
      const bool slow = s.progress.batch_size > 0 && s.progress.batch_size <= min_batch_;
      const std::pair<const char*, bool> reasons[] = {
          {"paused", s.progress.paused}, {"rate_limit", s.waited_for_limit}, {"latency", slow}};
      for (const auto& [reason, on] : reasons)
        throttled += fmt::format("tandem_backfill_run_throttled{{collection=\"{}\",reason=\"{}\"}} {}\n",
                                 name, reason, on ? 1 : 0);
    }
  }
  out +=
      "# HELP tandem_backfill_run_throttled 1 while the copy is held back, by reason.\n"
      "# TYPE tandem_backfill_run_throttled gauge\n" +
      throttled;
  out +=
      "# HELP tandem_backfill_run_rate_limit_wait_seconds_total Workers' time waiting for the rate limit.\n"
      "# TYPE tandem_backfill_run_rate_limit_wait_seconds_total counter\n" +
      waits;
  out += fmt::format(
      "# HELP tandem_backfill_run_max_rows_per_second The run's rate limit (0: none).\n"
      "# TYPE tandem_backfill_run_max_rows_per_second gauge\ntandem_backfill_run_max_rows_per_second {}\n",
      max_rows_per_second_);
  out +=
      "# HELP tandem_backfill_run_rows_total Rows this backfill process read, by outcome.\n"
      "# TYPE tandem_backfill_run_rows_total counter\n" +
      rows;
  out +=
      "# HELP tandem_backfill_run_rows_per_second This backfill process's rate.\n"
      "# TYPE tandem_backfill_run_rows_per_second gauge\n" +
      rate;
  out +=
      "# HELP tandem_backfill_run_batch_size The adaptive batch size of one worker now.\n"
      "# TYPE tandem_backfill_run_batch_size gauge\n" +
      batch;
  out +=
      "# HELP tandem_backfill_run_last_progress_timestamp_seconds When this process last reported progress.\n"
      "# TYPE tandem_backfill_run_last_progress_timestamp_seconds gauge\n" +
      last;
}

}  // namespace tandem::serve
