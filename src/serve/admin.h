// The admin API of `tandem serve` under /admin/v1/ (docs/SERVE.md), behind a
// bearer token: "Authorization: Bearer <token>". The token is read from a
// file or the environment (never argv), compared in constant time (SHA-256
// of both, CRYPTO_memcmp), and never logged or echoed. Without a token the
// admin API is off: every /admin/ path answers 403 saying how to turn it on.
//
//   GET  /admin/v1/status             as `tandem status --json`
//   GET  /admin/v1/plan               the steps, their roles, the current one
//   GET  /admin/v1/history?limit=N    step changes, newest first
//   POST /admin/v1/step               {"action":"next"|"back"|"set","step":N,
//                                      "reason":"...","force":false}
//                                     409 with the CLI's refusal message
//   POST /admin/v1/repair             {"limit":N}: drains the repair queue
//   GET  /admin/v1/quarantine?limit=N the quarantined records and reasons
//   GET  /admin/v1/shadow-samples?limit=N  shadow reads that differed, with both answers
//   POST /admin/v1/backfill           {"action":"start","workers":N,"max_rows_per_second":R,
//                                      "collections":[...]} | {"action":"stop"} |
//                                     {"action":"pause"|"resume","collections":[...]} |
//                                     {"action":"throttle","max_rows_per_second":R}
//   GET  /admin/v1/backfill           the job: running, progress per collection, result
//   POST /admin/v1/verify             {"repair":false,"collections":[...]}: starts a job (202)
//   GET  /admin/v1/verify             the job: collections done, results, clean
//   GET  /admin/v1/instances          as `tandem instances list --json`
//   POST /admin/v1/instances/forget   {"id":"...","reason":"..."}: as `tandem instances forget`
//
// Each command is the CLI's implementation (ops/operator_commands.h).
// Thread safety: the handlers run on the server's threads concurrently.
#pragma once

#include <optional>
#include <string>

#include <httplib.h>

#include "serve/jobs.h"
#include "tandem/migration.h"

namespace tandem::serve {

class Admin {
 public:
  // token: nullopt turns the admin API off.
  Admin(Migration& migration, std::optional<std::string> token);
  void install(httplib::Server& server);
  void install_jobs(httplib::Server& server);
  // Whether req may use the admin API; if not, res holds the refusal (401 or 403).
  bool authorized(const httplib::Request& req, httplib::Response& res) const;

 private:
  Migration& migration_;
  std::optional<std::string> token_digest_;
  Jobs jobs_;  // SHA-256 of the token
};

// The token from the file at path (its first line, without the line end),
// else from the environment variable TANDEM_ADMIN_TOKEN, else nullopt.
// kInvalidArgument if the file cannot be read or holds an empty token; the
// message names the file, never its content.
Result<std::optional<std::string>> load_admin_token(const std::string& path);

}  // namespace tandem::serve
