// `tandem backfill --metrics-listen HOST:PORT`: the copy's own Prometheus
// metrics at /metrics while it runs (the migration's, as serve's metrics.h
// lists them, and this process's run):
//
//   tandem_backfill_run_rows_total{collection,outcome}  rows this run read, by outcome
//   tandem_backfill_run_rows_per_second{collection}     this run's rate
//   tandem_backfill_run_batch_size{collection}          the adaptive batch size now
//   tandem_backfill_run_last_progress_timestamp_seconds{collection}
//                                                       when the run last reported progress
//   tandem_backfill_run_max_rows_per_second             the run's rate limit (0: none)
//   tandem_backfill_run_rate_limit_wait_seconds_total{collection}
//                                                       workers' time waiting for the limit
//   tandem_backfill_run_throttled{collection,reason}    1 while held back, by reason: "paused"
//       (an operator paused it), "rate_limit" (a worker waits for the limit now, or
//       waited since the previous report), "latency" (the adaptive batch at its minimum: the new database
//       answers slower than the target latency)
//
// Thread safety: update() from the backfill's progress thread, scrapes from
// the server's threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "core/thread_annotations.h"
#include "tandem/backfill.h"
#include "tandem/migration.h"
#include "tandem/status.h"

namespace httplib {
class Server;
}

namespace tandem::serve {

class BackfillMetricsServer {
 public:
  // Binds listen ("HOST:PORT") and serves on a thread of its own;
  // kInvalidArgument naming --metrics-listen if it cannot bind.
  // options: the run's (its rate limit and minimum batch, for the throttle's reasons).
  static Result<std::unique_ptr<BackfillMetricsServer>> start(Migration& migration, const std::string& listen,
                                                              const BackfillOptions& options);
  ~BackfillMetricsServer();
  BackfillMetricsServer(const BackfillMetricsServer&) = delete;
  BackfillMetricsServer& operator=(const BackfillMetricsServer&) = delete;

  void update(const BackfillProgress& progress);
  int port() const { return port_; }

 private:
  BackfillMetricsServer() = default;
  void write(std::string& out);

  Migration* migration_ = nullptr;
  double max_rows_per_second_ = 0;
  size_t min_batch_ = 0;
  Mutex mu_;
  struct Seen {
    BackfillProgress progress;
    double at = 0;                  // seconds since the epoch
    bool waited_for_limit = false;  // since the report before
  };
  std::map<std::string, Seen> seen_ GUARDED_BY(mu_);
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

// "HOST:PORT" split; kInvalidArgument naming option otherwise.
Result<std::pair<std::string, int>> parse_listen(const std::string& option, const std::string& listen);

}  // namespace tandem::serve
