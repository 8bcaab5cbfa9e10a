#include "serve/jobs.h"

#include <fmt/format.h>

#include "tandem/clock.h"
#include "tandem/config.h"
#include "tandem/move_problem.h"

namespace tandem::serve {

namespace {

std::string now_text() { return format_time(now_micros()); }

nlohmann::json counts_json(const BackfillCounts& c) {
  return {{"scanned", c.scanned}, {"copied", c.copied},         {"present", c.present},
          {"locked", c.locked},   {"tombstoned", c.tombstoned}, {"quarantined", c.quarantined}};
}

nlohmann::json verify_result_json(const CollectionVerify& c) {
  return {{"collection", c.collection},   {"source", side_name(c.source)}, {"mode", c.mode},
          {"records", c.records},         {"missing", c.missing},          {"extra", c.extra},
          {"different", c.different},     {"resurrected", c.resurrected},  {"repaired", c.repaired},
          {"remaining", c.remaining},     {"unexplained", c.unexplained},  {"quarantined", c.quarantined},
          {"undecodable", c.undecodable}, {"orphaned", c.orphaned()},      {"clean", c.clean()},
          {"seconds", c.seconds}};
}

}  // namespace

Jobs::~Jobs() {
  MutexLock commands(commands_mu_);
  stop_and_join_backfill();
  if (verify_thread_.joinable()) verify_thread_.join();
}

void Jobs::stop_and_join_backfill() {
  backfill_stop_.store(true);
  if (backfill_thread_.joinable()) backfill_thread_.join();
  backfill_stop_.store(false);
}

Status Jobs::launch_backfill(BackfillOptions options) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<MoveProblem> problems,
                          check_backfill_allowed(migration_, options.old_is_frozen));
  if (!problems.empty())
    return Status::FailedPrecondition("the backfill cannot run at this step:" +
                                      format_move_problems(problems));
  if (backfill_thread_.joinable()) backfill_thread_.join();  // a finished job's
  {
    MutexLock lock(mu_);
    backfill_ = BackfillJob{};
    backfill_.running = true;
    backfill_.started_at = now_text();
    backfill_.workers = options.workers;
    backfill_.max_rows_per_second = options.max_rows_per_second;
  }
  backfill_options_ = options;
  options.stop = &backfill_stop_;
  options.on_progress = [this](const BackfillProgress& p) {
    MutexLock lock(mu_);
    backfill_.progress[p.collection] = p;
  };
  backfill_thread_ = std::thread([this, options = std::move(options)] {
    Result<BackfillSummary> summary = run_backfill(migration_, options);
    MutexLock lock(mu_);
    backfill_.running = false;
    backfill_.ended_at = now_text();
    if (summary.ok()) {
      backfill_.complete = summary->complete;
    } else {
      backfill_.error = summary.status().to_string();
    }
  });
  return Status::Ok();
}

Status Jobs::start_backfill(BackfillOptions options) {
  MutexLock commands(commands_mu_);
  {
    MutexLock lock(mu_);
    if (backfill_.running)
      return Status::FailedPrecondition(
          "a backfill job is running (GET /admin/v1/backfill shows it); stop it first");
  }
  return launch_backfill(std::move(options));
}

void Jobs::stop_backfill() {
  MutexLock commands(commands_mu_);
  stop_and_join_backfill();
}

Status Jobs::throttle_backfill(double max_rows_per_second) {
  MutexLock commands(commands_mu_);
  {
    MutexLock lock(mu_);
    if (!backfill_.running)
      return Status::FailedPrecondition("no backfill job is running; give the rate when starting one");
  }
  stop_and_join_backfill();
  BackfillOptions options = backfill_options_;
  options.max_rows_per_second = max_rows_per_second;
  return launch_backfill(std::move(options));
}

nlohmann::json Jobs::backfill_json() const {
  MutexLock lock(mu_);
  nlohmann::json out = {
      {"running", backfill_.running},
      {"started_at", backfill_.started_at},
      {"ended_at", backfill_.ended_at},
      {"workers", backfill_.workers},
      {"max_rows_per_second", backfill_.max_rows_per_second},
      {"complete", backfill_.complete ? nlohmann::json(*backfill_.complete) : nlohmann::json()},
      {"error", backfill_.error}};
  out["collections"] = nlohmann::json::object();
  for (const auto& [name, p] : backfill_.progress) {
    out["collections"][name] = {{"total_estimate", p.total_estimate},
                                {"counts", counts_json(p.counts)},
                                {"this_run", counts_json(p.this_run)},
                                {"rows_per_second", p.rows_per_second},
                                {"elapsed_seconds", p.elapsed_seconds},
                                {"ranges", p.ranges},
                                {"ranges_done", p.ranges_done},
                                {"batch_size", p.batch_size},
                                {"paused", p.paused}};
  }
  return out;
}

Status Jobs::start_verify(VerifyOptions options) {
  MutexLock commands(commands_mu_);
  {
    MutexLock lock(mu_);
    if (verify_.running)
      return Status::FailedPrecondition("a verify job is running (GET /admin/v1/verify shows it)");
  }
  std::vector<std::string> names = options.collections;
  if (names.empty()) {
    for (const CollectionSchema& c : migration_.config().collections) names.push_back(c.name);
  }
  for (const std::string& name : names) TANDEM_RETURN_IF_ERROR(migration_.collection(name).status());
  if (verify_thread_.joinable()) verify_thread_.join();
  {
    MutexLock lock(mu_);
    verify_ = VerifyJob{};
    verify_.running = true;
    verify_.started_at = now_text();
    verify_.repair = options.repair;
    verify_.collections = names.size();
  }
  verify_thread_ = std::thread([this, options = std::move(options), names = std::move(names)] {
    std::string error;
    for (const std::string& name : names) {  // one at a time: the progress is the collections done
      VerifyOptions one = options;
      one.collections = {name};
      Result<VerifyReport> report = run_verify(migration_, one);
      MutexLock lock(mu_);
      if (!report.ok()) {
        error = report.status().to_string();
        break;
      }
      for (const CollectionVerify& c : report->collections) verify_.results.push_back(verify_result_json(c));
    }
    MutexLock lock(mu_);
    verify_.running = false;
    verify_.ended_at = now_text();
    verify_.error = error;
  });
  return Status::Ok();
}

nlohmann::json Jobs::verify_json() const {
  MutexLock lock(mu_);
  bool clean = !verify_.running && verify_.error.empty() && verify_.results.size() == verify_.collections;
  for (const nlohmann::json& r : verify_.results) clean = clean && r["clean"].get<bool>();
  return {{"running", verify_.running},
          {"started_at", verify_.started_at},
          {"ended_at", verify_.ended_at},
          {"repair", verify_.repair},
          {"collections", verify_.collections},
          {"collections_done", verify_.results.size()},
          {"results", verify_.results},
          {"clean", verify_.started_at.empty() || verify_.running ? nlohmann::json() : nlohmann::json(clean)},
          {"error", verify_.error}};
}

}  // namespace tandem::serve
