// The tandem command-line program's subcommands. Each returns a process exit
// code (see kExitCodesHelp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tandem::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,       // a database or the control store failed
  kExitUsage = 2,       // bad command-line options
  kExitRefused = 3,     // a step move was refused by its preconditions
  kExitConfig = 4,      // the config file is invalid
  kExitCheckFailed = 5  // the demo's final check found a violation
};

inline constexpr const char* kExitCodesHelp =
    "Exit codes: 0 ok, 1 database or control store error, 2 usage error, 3 step move refused "
    "by a precondition, 4 invalid config, 5 verify found differences (or the demo's check failed).";

struct GlobalOptions {
  std::string config_path = "tandem.toml";
};

int run_plan_command(const GlobalOptions& global);
int run_status_command(const GlobalOptions& global, bool json);
int run_step_command(const GlobalOptions& global, const std::string& action, int64_t step_number,
                     const std::string& reason, bool force);
int run_repair_command(const GlobalOptions& global, int64_t limit);
int run_init_command(const GlobalOptions& global, bool dry_run);
// `tandem init --constraints [--dry-run]` (init_constraints.cc).
int run_init_constraints_command(const GlobalOptions& global, bool dry_run);
int run_finish_command(const GlobalOptions& global);
// `tandem instances list [--json]` and `tandem instances forget ID --reason R`.
int run_instances_command(const GlobalOptions& global, const std::string& action, const std::string& id,
                          const std::string& reason, bool json);

struct BackfillCommandOptions {
  std::vector<std::string> collections;
  size_t workers = 4;
  size_t batch = 1000;
  size_t min_batch = 100;
  size_t max_batch = 10000;
  int64_t target_latency_ms = 250;
  double max_rows_per_second = 0;
  int64_t retry_for_seconds = 300;
  int64_t max_batch_mb = 32;
  bool old_is_frozen = false;
  bool pause = false;
  bool resume = false;
  bool restart = false;
  std::string worker_id;  // --worker-id: the workers' "host" part
  int64_t lease_seconds = 30;
  std::string metrics_listen;  // --metrics-listen HOST:PORT: Prometheus /metrics of this run
};
int run_backfill_command(const GlobalOptions& global, const BackfillCommandOptions& options);
int run_quarantine_command(const GlobalOptions& global, const std::string& action, const std::string& key,
                           int64_t limit);

struct VerifyCommandOptions {
  std::vector<std::string> collections;
  bool repair = false;
  bool json = false;
  bool hashed = false;
};
int run_verify_command(const GlobalOptions& global, const VerifyCommandOptions& options);

struct ServeCommandOptions {
  std::string listen = "127.0.0.1:8080";
  std::string admin_token_file;  // empty: TANDEM_ADMIN_TOKEN, else the admin API is off
  size_t threads = 16;
  size_t max_body_kb = 1024;
  std::string tls_cert, tls_key;
};
// `tandem serve` (serve_command.cc).
int run_serve_command(const GlobalOptions& global, const ServeCommandOptions& options);

struct DemoOptions {
  int64_t records = 100000;
  int threads = 4;
  double seconds_per_step = 3.0;
  std::string dir;             // empty: a new temporary folder
  std::string old_url;         // empty: an SQLite file in dir; else an empty database the demo seeds
  std::string new_url;         // empty: an SQLite file in dir; else an empty database of another engine
  bool old_documents = false;  // old keeps each user as a JSON document, mapped to new's columns
  uint64_t seed = 42;
};
int run_demo_command(const DemoOptions& options);

}  // namespace tandem::cli
