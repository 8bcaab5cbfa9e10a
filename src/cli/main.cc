#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "tandem/logging.h"

namespace {
int run(int argc, char** argv) {
  using namespace tandem::cli;
  CLI::App app{
      "tandem: move a live service from an old database to a new one, step by step, with a "
      "fallback to old at every step until the last."};
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  GlobalOptions global;
  std::string log_level = "info";
  app.add_option("-c,--config", global.config_path, "Migration config file (TOML)")->capture_default_str();
  app.add_option("--log-level", log_level, "Log level: trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  auto* plan = app.add_subcommand("plan", "Show the plan's steps with the current one marked");
  plan->footer(kExitCodesHelp);

  bool init_dry_run = false;
  auto* init = app.add_subcommand(
      "init", "Create new's tables from the config (the target of any mapping) where they do not exist");
  init->add_flag("--dry-run", init_dry_run, "Print the CREATE TABLE statements instead of running them");
  bool init_constraints = false;
  init->add_flag("--constraints", init_constraints,
                 "Create in new the foreign keys old has between configured collections (after a complete "
                 "backfill and a clean verify; needed before write-new)");
  init->footer(
      std::string("Only init creates tables (never status, plan, step or a service's open), and only "
                  "for collections whose table old has, or that the config marks `new_only = true`.\n") +
      kExitCodesHelp);

  auto* finish = app.add_subcommand("finish",
                                    "At the last step, after a clean verify there: drop tandem's side tables "
                                    "from new and mark the migration "
                                    "finished (steps no longer move)");
  finish->footer(kExitCodesHelp);

  bool json = false;
  auto* status = app.add_subcommand(
      "status", "Show the current step, live instances, repair queue, quarantine and shadow mismatches");
  status->add_flag("--json", json, "Print JSON instead of text");
  status->footer(kExitCodesHelp);

  std::string i_action;
  std::string i_id;
  std::string i_reason;
  bool i_json = false;
  auto* instances = app.add_subcommand(
      "instances", "List the instances routing this migration, or forget one that is known to be dead");
  instances->add_option("action", i_action, "list | forget")
      ->required()
      ->check(CLI::IsMember({"list", "forget"}));
  instances->add_option("ID", i_id, "For forget: the instance's id, as `tandem instances list` prints it");
  instances->add_option("--reason", i_reason, "For forget: why it is dead (recorded)");
  instances->add_flag("--json", i_json, "Print JSON instead of text");
  instances->footer(
      std::string("Forget only an instance whose process is known to be stopped: with fence = \"operator\" "
                  "a silent instance blocks every step move until it renews or is forgotten; a live one "
                  "(heartbeat younger than its lease) is refused.\n") +
      kExitCodesHelp);

  std::string action;
  int64_t step_number = 0;
  std::string reason;
  bool force = false;
  auto* step = app.add_subcommand("step", "Move the migration to the next or previous step, or to step N");
  step->add_option("action", action, "next | back | set")
      ->required()
      ->check(CLI::IsMember({"next", "back", "set"}));
  step->add_option("N", step_number, "Step number for `set` (1-based)");
  step->add_option("--reason", reason, "Why: recorded in the step history");
  step->add_flag("--force", force, "Move even though a precondition fails (needs --reason; recorded)");
  step->footer(kExitCodesHelp);

  int64_t limit = 10000;
  auto* repair = app.add_subcommand(
      "repair", "Drain the repair queue: copy the write primary's current record to each queued key");
  repair->add_option("--limit", limit, "Repair at most this many keys")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  repair->footer(kExitCodesHelp);

  BackfillCommandOptions bf;
  auto* backfill = app.add_subcommand(
      "backfill",
      "Copy every record of old into new while the service writes (resumable: run it again after a stop or a "
      "crash); Ctrl-C stops it at a checkpoint");
  backfill->add_option("--collection", bf.collections, "Only these collections (default: all)");
  backfill->add_option("--worker-id", bf.worker_id,
                       "Name this process's workers ID:pid:N instead of HOST:pid:N (run several backfill "
                       "processes, on one or many hosts, against one control store: they share the copy)");
  backfill
      ->add_option("--lease-seconds", bf.lease_seconds,
                   "A worker that has not checkpointed for this long loses its range to another worker")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{3600}));
  backfill->add_option("--metrics-listen", bf.metrics_listen,
                       "Serve this run's Prometheus metrics at http://HOST:PORT/metrics while it copies");
  backfill->add_option("--workers", bf.workers, "Parallel workers")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  backfill->add_option("--batch", bf.batch, "Initial batch size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  backfill->add_option("--min-batch", bf.min_batch, "Smallest adaptive batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  backfill
      ->add_option("--max-batch", bf.max_batch,
                   "Largest adaptive batch (memory: max batch x workers records)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  backfill
      ->add_option("--target-latency-ms", bf.target_latency_ms,
                   "Batch size adapts so that writing one batch to new takes about this long")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  backfill->add_option("--max-rows-per-second", bf.max_rows_per_second, "Throttle (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  backfill
      ->add_option("--retry-for-seconds", bf.retry_for_seconds,
                   "Retry a database that is down or busy this long, then stop (it resumes when run again)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  backfill
      ->add_option("--max-batch-mb", bf.max_batch_mb,
                   "A batch holds at most about this many megabytes of records (large documents)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  backfill->add_flag(
      "--old-is-frozen", bf.old_is_frozen,
      "Allow a backfill at a step where new is not written, because nothing writes old any more");
  auto* pause_flag =
      backfill->add_flag("--pause", bf.pause, "Pause running backfill workers (position is kept)");
  backfill->add_flag("--resume", bf.resume, "Resume paused workers")->excludes(pause_flag);
  backfill->add_flag("--restart", bf.restart, "Forget the checkpoints and copy from the start");
  backfill->footer(kExitCodesHelp);

  std::string q_action, q_key;
  int64_t q_limit = 1000;
  auto* quarantine = app.add_subcommand("quarantine", "Records the backfill could not copy, with the reason");
  quarantine->add_option("action", q_action, "list | show KEY | retry")
      ->required()
      ->check(CLI::IsMember({"list", "show", "retry"}));
  quarantine->add_option("KEY", q_key, "For show: the key as `list` prints it");
  quarantine->add_option("--limit", q_limit, "At most this many entries")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  quarantine->footer(kExitCodesHelp);

  VerifyCommandOptions vo;
  auto* verify = app.add_subcommand(
      "verify",
      "Compare the copy with the source of truth (the write primary) range by range; list differences");
  verify->add_option("--collection", vo.collections, "Only these collections (default: all)");
  verify->add_flag("--repair", vo.repair,
                   "Copy the source of truth's current version over each difference, then check again");
  verify->add_flag("--json", vo.json, "Print the report as JSON");
  verify->add_flag("--hashed", vo.hashed,
                   "Compare buckets of a hash of each key's identity instead of key ranges (reads both sides "
                   "in full; used anyway when the two sides order keys differently)");
  verify->footer(kExitCodesHelp);

  ServeCommandOptions so;
  auto* serve = app.add_subcommand(
      "serve",
      "Serve the collections over HTTP + JSON for services in any language, routed as the library routes, "
      "with an admin API, Prometheus metrics and a dashboard (docs/SERVE.md)");
  serve->add_option("--listen", so.listen, "HOST:PORT to listen on (port 0: any free port, printed)")
      ->capture_default_str();
  serve->add_option("--admin-token-file", so.admin_token_file,
                    "File whose first line is the admin API's bearer token (else TANDEM_ADMIN_TOKEN; "
                    "without either the admin API is off)");
  serve->add_option("--threads", so.threads, "Requests served at once (each keep-alive connection holds one)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{2}, size_t{1024}));
  serve->add_option("--max-body-kb", so.max_body_kb, "Largest request body accepted (413 above)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1024} * 1024));
  serve->add_option("--tls-cert", so.tls_cert, "PEM certificate: serve HTTPS (with --tls-key)");
  serve->add_option("--tls-key", so.tls_key, "PEM private key of --tls-cert");
  serve->footer(kExitCodesHelp);

  DemoOptions demo_options;
  auto* demo = app.add_subcommand(
      "demo",
      "Run a live migration (on the embedded default, SQLite, unless --old/--new name servers): a "
      "simulated service writes through "
      "the router while the plan is walked step by step; ends with a check against a model");
  demo->add_option("--records", demo_options.records, "Records in the old collection")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{100}, int64_t{100000000}));
  demo->add_option("--threads", demo_options.threads, "Service threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  demo->add_option("--seconds-per-step", demo_options.seconds_per_step, "Workload time at each step")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  demo->add_option("--dir", demo_options.dir,
                   "Folder for the demo's databases (default: a new temporary folder)");
  demo->add_option("--seed", demo_options.seed, "Random seed of the workload")->capture_default_str();
  demo->add_option("--old", demo_options.old_url,
                   "Seed this empty database as old instead of an SQLite file (e.g. "
                   "mariadb://USER@HOST:PORT/DB?password_file=PATH)");
  demo->add_flag("--old-documents", demo_options.old_documents,
                 "Keep old's users as JSON documents (table user_docs), mapped to new's typed columns");
  demo->add_option("--new", demo_options.new_url,
                   "Use this empty database as new instead of an SQLite file (e.g. "
                   "postgres://USER@HOST:PORT/DB?password_env=VAR)");
  demo->footer(kExitCodesHelp);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  auto logger = spdlog::stderr_color_mt("tandem");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  // The library's messages go to the CLI's logger (stderr), at --log-level.
  tandem::set_log_level(log_level == "trace" || log_level == "debug" ? tandem::LogLevel::kDebug
                        : log_level == "info"                        ? tandem::LogLevel::kInfo
                        : log_level == "warn"                        ? tandem::LogLevel::kWarn
                        : log_level == "error"                       ? tandem::LogLevel::kError
                                                                     : tandem::LogLevel::kOff);
  tandem::set_log_handler([logger](tandem::LogLevel level, std::string_view message) {
    logger->log(static_cast<spdlog::level::level_enum>(static_cast<int>(level) + 1), "{}", message);
  });

  if (*plan) return run_plan_command(global);
  if (*status) return run_status_command(global, json);
  if (*step) {
    if (action == "set" && step_number <= 0) {
      fmt::print(stderr, "tandem step set: give the step number N (1-based), e.g. `tandem step set 2`\n");
      return kExitUsage;
    }
    return run_step_command(global, action, step_number, reason, force);
  }
  if (*repair) return run_repair_command(global, limit);
  if (*backfill) return run_backfill_command(global, bf);
  if (*verify) return run_verify_command(global, vo);
  if (*init && init_constraints) return run_init_constraints_command(global, init_dry_run);
  if (*init) return run_init_command(global, init_dry_run);
  if (*finish) return run_finish_command(global);
  if (*instances) {
    if (i_action == "forget" && (i_id.empty() || i_reason.empty())) {
      fmt::print(stderr,
                 "tandem instances forget: give the instance's ID and --reason, e.g. `tandem instances "
                 "forget web-3:4242:ab12 --reason \"host web-3 was powered off\"`\n");
      return kExitUsage;
    }
    return run_instances_command(global, i_action, i_id, i_reason, i_json);
  }
  if (*quarantine) {
    if (q_action == "show" && q_key.empty()) {
      fmt::print(stderr, "tandem quarantine show: give the KEY, as `tandem quarantine list` prints it\n");
      return kExitUsage;
    }
    return run_quarantine_command(global, q_action, q_key, q_limit);
  }
  if (*demo) return run_demo_command(demo_options);
  if (*serve) return run_serve_command(global, so);
  return kExitUsage;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // Errors are values inside tandem; this is the last guard for the unexpected.
    fmt::print(stderr, "tandem: internal error: {}\n", e.what());
    return tandem::cli::kExitError;
  }
}
