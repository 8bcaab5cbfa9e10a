// The options of a tandem-stress run (the command line; a worker process gets
// the harness's folder and its own index on top).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tandem::stress {

struct Options {
  uint64_t seed = 1;
  double duration = 10;
  int64_t ops = 0;  // 0: until the duration
  int clients = 4;
  std::string engine = "sqlite";
  std::string server;  // admin URL of the engine's server (default from TANDEM_TEST_*_URL)
  size_t keys = 300;
  size_t hot_keys = 8;
  double fault_rate = 0.03;
  int max_kills = 6;
  std::string tandem;  // the CLI, for the backfill processes that get killed
  bool soak = false;
  int processes = 1;              // client processes sharing the control store (this one included)
  bool restart = false;           // stop and start new's server mid-run (servers only)
  bool require_coverage = false;  // fail unless every fault kind, kills and moves back happened
  // The control store: "sqlite" (a file), or a fresh database on a "postgres"
  // or "mariadb" server (control_server: its admin URL).
  std::string control = "sqlite";
  std::string control_server;
  bool control_restart = false;  // stop and start the control store's server mid-run
  int pauses = 0;                // SIGSTOP a worker process for longer than its lease, this many times
  // Cut a worker process off the control store (and new's server, when new
  // is on one) for longer than its lease, this many times: dropped and
  // silent partitions in turn (stress/tcp_proxy.h).
  int partitions = 0;
  int backfill_hosts = 1;  // the killed backfill processes act as this many hosts (--worker-id)
  int worker = -1;         // set in the worker processes the harness starts
  std::string dir;         // the harness's folder (workers)
};

}  // namespace tandem::stress
