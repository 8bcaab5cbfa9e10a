// The long-running admin commands of `tandem serve` as jobs on threads of
// their own: one backfill and one verify at a time, each with its progress
// readable while it runs and its result (or error) once it ends. They run
// the library's run_backfill and run_verify, as `tandem backfill` and
// `tandem verify` do, in this process (an instance of the migration).
//
// Backfill: start (refused with the preconditions' problems if the step does
// not allow it, or while one runs), stop (after the current batches,
// checkpointed: a later start resumes), throttle (stops and starts again
// with the new rate: it resumes from the checkpoints). Pausing goes through
// the control store (ops::pause_backfill): it pauses every host's workers.
// Verify: start (refused while one runs); progress counts the collections
// done; each collection's result as `tandem verify --json` reports it.
// Thread safety: every method from any thread.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/thread_annotations.h"
#include "tandem/backfill.h"
#include "tandem/migration.h"
#include "tandem/verify.h"

namespace tandem::serve {

class Jobs {
 public:
  explicit Jobs(Migration& migration) : migration_(migration) {}
  ~Jobs();  // stops the backfill after its current batches; waits for both
  Jobs(const Jobs&) = delete;
  Jobs& operator=(const Jobs&) = delete;

  Status start_backfill(BackfillOptions options);
  void stop_backfill();
  Status throttle_backfill(double max_rows_per_second);
  nlohmann::json backfill_json() const;

  Status start_verify(VerifyOptions options);
  nlohmann::json verify_json() const;

 private:
  struct BackfillJob {
    bool running = false;
    std::string started_at, ended_at;
    size_t workers = 0;
    double max_rows_per_second = 0;
    std::map<std::string, BackfillProgress> progress;
    std::optional<bool> complete;
    std::string error;
  };
  struct VerifyJob {
    bool running = false;
    std::string started_at, ended_at;
    bool repair = false;
    size_t collections = 0;
    nlohmann::json results = nlohmann::json::array();
    std::string error;
  };
  // Stops the running backfill and waits for it.
  void stop_and_join_backfill() REQUIRES(commands_mu_);
  Status launch_backfill(BackfillOptions options) REQUIRES(commands_mu_);

  Migration& migration_;
  // Serializes the commands (start, stop, throttle), which join a job's
  // thread while holding it; the jobs themselves take only mu_.
  Mutex commands_mu_;
  mutable Mutex mu_;
  BackfillJob backfill_ GUARDED_BY(mu_);
  std::atomic<bool> backfill_stop_{false};
  std::thread backfill_thread_ GUARDED_BY(commands_mu_);
  BackfillOptions backfill_options_ GUARDED_BY(commands_mu_);
  VerifyJob verify_ GUARDED_BY(mu_);
  std::thread verify_thread_ GUARDED_BY(commands_mu_);
};

}  // namespace tandem::serve
