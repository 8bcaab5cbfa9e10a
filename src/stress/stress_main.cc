// tandem-stress: client threads write and read through the router on a small
// key space with hot keys while the plan is walked forward and back at
// random, the backfill runs in separate processes that are SIGKILLed and
// resumed, and faults are injected into both databases. At the end every
// invariant is checked against the history of acknowledged operations.
// Exit 0: no violation; 1: violations (the first ones printed with the
// history of their key); 2: the harness itself could not run.
//
// This file reads the command line; stress_harness.h runs the harness,
// stress_workers.h the worker processes.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "stress/stress_harness.h"
#include "stress/stress_options.h"
#include "stress/stress_workers.h"
#include "tandem/logging.h"

namespace {
int run(int argc, char** argv) {
  tandem::stress::Options o;
  CLI::App app{
      "tandem-stress: concurrent clients, step moves, backfill kills and faults, checked against a history"};
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str();
  app.add_option("--duration", o.duration, "Seconds to run")->capture_default_str();
  app.add_option("--ops", o.ops, "Stop after this many operations (0: run for --duration)")
      ->capture_default_str();
  app.add_option("--clients", o.clients, "Client threads")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--engine", o.engine, "New's engine: sqlite, postgres or mariadb")->capture_default_str();
  app.add_option("--server", o.server,
                 "Admin URL of the engine's server (default: TANDEM_TEST_<ENGINE>_URL)");
  app.add_option("--keys", o.keys, "Size of the key space")
      ->capture_default_str()
      ->check(CLI::Range(16, 1000000));
  app.add_option("--fault-rate", o.fault_rate, "Probability of a fault per database call")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.5));
  app.add_option("--kills", o.max_kills, "Backfill processes to SIGKILL")->capture_default_str();
  app.add_option("--tandem", o.tandem, "The tandem CLI (default: next to this program)");
  app.add_flag("--soak", o.soak, "Run for --duration whatever --ops says");
  app.add_option("--processes", o.processes, "Client processes sharing one control store (this one included)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app.add_flag(
      "--restart", o.restart,
      "Stop and start new's server mid-run (uses TANDEM_TEST_<ENGINE>_RESTART_URL, _STOP and _START)");
  app.add_flag("--require-coverage", o.require_coverage,
               "Count it a violation if a fault kind, a kill, a move back (or a restart) did not happen");
  app.add_option("--control", o.control,
                 "The control store: sqlite, or a fresh database on a postgres or mariadb server")
      ->capture_default_str();
  app.add_option(
      "--control-server", o.control_server,
      "Admin URL of the control store's server (default: TANDEM_TEST_<ENGINE>_URL, or _RESTART_URL "
      "with --control-restart)");
  app.add_flag("--control-restart", o.control_restart,
               "Stop and start the control store's server mid-run (TANDEM_TEST_<ENGINE>_RESTART_*)");
  app.add_option(
         "--pauses", o.pauses,
         "SIGSTOP a worker process for longer than its lease this many times while the plan is walked "
         "(needs --processes 2 or more)")
      ->capture_default_str()
      ->check(CLI::Range(0, 20));
  app.add_option(
         "--partitions", o.partitions,
         "Cut a worker process off the control store (and new's server) for longer than its lease this many "
         "times, connections reset and hung in turn (needs --processes 2 or more and a server control store)")
      ->capture_default_str()
      ->check(CLI::Range(0, 20));
  app.add_option("--backfill-hosts", o.backfill_hosts,
                 "The killed backfill processes act as this many hosts (--worker-id host-N)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app.add_option("--worker", o.worker, "(internal) run as worker N of the harness in --dir");
  app.add_option("--dir", o.dir, "(internal) the harness's folder");
  CLI11_PARSE(app, argc, argv);
  if (o.soak) o.ops = 0;
  if (o.tandem.empty()) {
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    o.tandem = (self.parent_path() / "tandem").string();
  }
  if (o.worker >= 0) return tandem::stress::run_worker(o);
  if (o.server.empty() && o.engine != "sqlite") {
    std::string name = fmt::format("TANDEM_TEST_{}_{}URL", o.engine == "postgres" ? "POSTGRES" : "MARIADB",
                                   o.restart ? "RESTART_" : "");
    if (const char* env = std::getenv(name.c_str())) o.server = env;
  }
  if (o.control_server.empty() && o.control != "sqlite") {
    std::string name = fmt::format("TANDEM_TEST_{}_{}URL", o.control == "postgres" ? "POSTGRES" : "MARIADB",
                                   o.control_restart ? "RESTART_" : "");
    if (const char* env = std::getenv(name.c_str())) o.control_server = env;
  }
  if (o.control_restart && o.restart && o.control == o.engine) {
    fmt::print(stderr,
               "tandem-stress: --restart and --control-restart on one engine would stop one server twice\n");
    return 2;
  }
  if (o.pauses > 0 && o.processes < 2) {
    fmt::print(stderr, "tandem-stress: --pauses needs --processes 2 or more (this process is not paused)\n");
    return 2;
  }
  if (o.partitions > 0 && (o.processes < 2 || o.control == "sqlite")) {
    fmt::print(stderr,
               "tandem-stress: --partitions needs --processes 2 or more and --control postgres or mariadb "
               "(a partition cuts a worker process's connections)\n");
    return 2;
  }
  tandem::set_log_level(tandem::LogLevel::kError);
  return tandem::stress::Harness(o).run();
}
}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tandem-stress: internal error: {}\n", e.what());
    return 2;
  }
}
