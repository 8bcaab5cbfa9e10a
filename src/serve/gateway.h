// The data gateway of `tandem serve` (docs/SERVE.md): every collection of the
// migration over HTTP/1.1 + JSON, routed exactly as the library routes (the
// gateway's Migration is an instance like any other: heartbeat, step
// refresh, lease, fencing).
//
//   GET    /v1/collections                          the collections and their columns
//   GET    /v1/collections/{name}/records/{key}     200 the record | 404
//   PUT    /v1/collections/{name}/records/{key}     body: the record (Collection::put)
//   PATCH  /v1/collections/{name}/records/{key}     body: some fields (Collection::patch; 404 if none)
//   DELETE /v1/collections/{name}/records/{key}     idempotent (Collection::remove)
//   POST   /v1/collections/{name}/batch-get         {"keys":[{...}]} -> {"records":[record|null, ...]}
//   GET    /v1/collections/{name}/records?from=K&to=K&after=K&limit=N
//                                                   a range scan (Collection::scan): keys in
//                                                   [from, to), or after the previous page's "next";
//                                                   -> {"records":[...], "next": key | null}
//
// Keys in the path as key_path.h says, values as record_json.h says, errors
// as responses.h says. Nothing a client sends reaches SQL but as a bound
// value (the stores bind every value; names come from the config only).
// Thread safety: the handlers run on the server's threads concurrently.
#pragma once

#include <chrono>
#include <memory>

#include <httplib.h>

#include "serve/metrics.h"
#include "tandem/migration.h"

namespace tandem::serve {

struct GatewayOptions {
  size_t max_batch_keys = 1000;
  size_t max_scan_limit = 1000;
};

class Gateway {
 public:
  Gateway(Migration& migration, GatewayOptions options);
  void install(httplib::Server& server);
  RequestMetrics& metrics() { return metrics_; }

 private:
  struct Target {
    Collection* collection = nullptr;
    size_t index = 0;  // in the config's collections (the metrics' label)
  };
  Result<Target> collection(const std::string& name);
  void record_route(const httplib::Request& req, httplib::Response& res, Operation op);
  void batch_get(const httplib::Request& req, httplib::Response& res);
  void scan(const httplib::Request& req, httplib::Response& res);
  // Counts a request's outcome and time; sends s as the error if it is one.
  void answered(size_t collection, Operation op, std::chrono::steady_clock::time_point start, const Status& s,
                httplib::Response& res);

  Migration& migration_;
  GatewayOptions options_;
  RequestMetrics metrics_;
};

}  // namespace tandem::serve
