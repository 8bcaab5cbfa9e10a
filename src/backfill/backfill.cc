#include "tandem/backfill.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <future>
#include <set>
#include <span>
#include <thread>

#include "backfill/backfill_batch.h"
#include "backfill/backfill_start.h"
#include "backfill/rate_limiter.h"
#include "core/logging.h"
#include "core/process.h"
#include "core/sync_point.h"
#include "core/thread_annotations.h"
#include "router/relation_copy.h"
#include "router/step_rules.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"

namespace tandem {

namespace {

using SteadyClock = std::chrono::steady_clock;

// This run's counts, added to once per batch by every worker.
class RunCounts {
 public:
  void add(const BackfillCounts& delta) {
    MutexLock lock(mutex_);
    counts_ += delta;
  }
  BackfillCounts load() const {
    MutexLock lock(mutex_);
    return counts_;
  }

 private:
  mutable Mutex mutex_;
  BackfillCounts counts_ GUARDED_BY(mutex_);
};

// The range a worker holds while it retries: its lease is renewed (a
// checkpoint that moves nothing) every third of the lease, so that a
// database down for longer than the lease, which every worker needs,
// does not pass the range to another worker who would fail the same way.
struct Held {
  const BackfillRange* range = nullptr;
  const std::string* owner = nullptr;
  bool* lost = nullptr;  // set when the range passed to another worker
};

class CollectionBackfill {
 public:
  CollectionBackfill(Migration& m, const CollectionSchema& schema, const BackfillOptions& o)
      : m_(m), schema_(schema), o_(o), limiter_(o.max_rows_per_second) {}

  Status run(BackfillSummary::PerCollection& out, bool& stopped) {
    ControlStore& control = OperatorTools(m_).control();
    Store& old_store = OperatorTools(m_).store(Side::kOld);
    TANDEM_ASSIGN_OR_RETURN(BackfillState state, control.backfill_state(schema_.name));
    if (!state.planned) {
      // The count (for progress) and the split points are independent
      // scans of old: both at once (stores are thread-safe).
      auto counted =
          std::async(std::launch::async, [&] { return old_store.count(schema_.name, KeyRange::all()); });
      auto split = old_store.split_points(schema_.name, KeyRange::all(), o_.workers * o_.ranges_per_worker);
      TANDEM_ASSIGN_OR_RETURN(uint64_t total, counted.get());
      TANDEM_ASSIGN_OR_RETURN(std::vector<Key> splits, std::move(split));
      std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>> ranges;
      std::optional<std::string> begin;
      for (const Key& k : splits) {
        ranges.emplace_back(begin, k.encode());
        begin = k.encode();
      }
      ranges.emplace_back(begin, std::nullopt);
      TANDEM_RETURN_IF_ERROR(control.plan_backfill(schema_.name, ranges, static_cast<int64_t>(total)));
      logging::info("backfill of '{}': {} records in old, split into {} ranges", schema_.name, total,
                    ranges.size());
    }
    start_ = SteadyClock::now();
    batch_size_ = o_.initial_batch;

    std::vector<std::thread> workers;
    for (size_t w = 0; w < o_.workers; ++w) {
      workers.emplace_back([this, w] {
        Status s =
            work(fmt::format("{}:{}:{}", o_.worker_host.empty() ? host_name() : o_.worker_host, getpid(), w));
        if (!s.ok()) fail(s);
      });
    }
    std::thread progress;
    std::atomic<bool> finished{false};
    if (o_.on_progress) {
      progress = std::thread([&] {
        while (!finished.load()) {
          auto next = SteadyClock::now() + o_.progress_interval;
          while (!finished.load() && SteadyClock::now() < next) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          if (finished.load()) break;  // the final report follows the join
          auto p = progress_now();
          if (p.ok()) o_.on_progress(*p);
        }
      });
    }
    for (auto& t : workers) t.join();
    finished = true;
    if (progress.joinable()) progress.join();
    if (o_.on_progress) {
      auto p = progress_now();
      if (p.ok()) o_.on_progress(*p);
    }

    out.collection = schema_.name;
    out.this_run = run_counts_.load();
    out.takeovers = takeovers_.load();
    out.seconds = std::chrono::duration<double>(SteadyClock::now() - start_).count();
    out.rows_per_second = out.seconds > 0 ? static_cast<double>(out.this_run.scanned) / out.seconds : 0;
    TANDEM_ASSIGN_OR_RETURN(out.state, control.backfill_state(schema_.name));
    if (stop_requested()) stopped = true;
    MutexLock lock(error_mutex_);
    return error_;
  }

 private:
  bool stop_requested() const { return failed_.load() || (o_.stop != nullptr && o_.stop->load()); }

  void fail(const Status& s) {
    MutexLock lock(error_mutex_);
    if (error_.ok()) error_ = s;
    failed_ = true;
  }

  Result<BackfillProgress> progress_now() {
    TANDEM_ASSIGN_OR_RETURN(BackfillState st, OperatorTools(m_).control().backfill_state(schema_.name));
    BackfillProgress p;
    p.collection = schema_.name;
    p.total_estimate = st.total_estimate;
    p.counts = st.counts;
    p.this_run = run_counts_.load();
    p.elapsed_seconds = std::chrono::duration<double>(SteadyClock::now() - start_).count();
    p.rows_per_second =
        p.elapsed_seconds > 0 ? static_cast<double>(p.this_run.scanned) / p.elapsed_seconds : 0;
    p.ranges = st.ranges;
    p.ranges_done = st.ranges_done;
    p.batch_size = batch_size_.load();
    p.paused = st.paused;
    p.rate_limit_wait_seconds = limiter_.waited_seconds();
    p.rate_limited = limiter_.waiting();
    return p;
  }

  // Waits while the backfill is paused (`tandem backfill --pause`). Each
  // worker reads the flag at most every 500 ms (last_check is its own), and
  // renews its range's lease while it waits (a checkpoint that moves
  // nothing), so that a pause longer than the lease keeps ranges where they
  // are. kFailedPrecondition if the range passed to another worker all the same.
  Status wait_while_paused(SteadyClock::time_point& last_check, const BackfillRange& range,
                           const std::string& owner) {
    auto now = SteadyClock::now();
    if (now - last_check < std::chrono::milliseconds(500)) return Status::Ok();
    last_check = now;
    ControlStore& control = OperatorTools(m_).control();
    const auto poll = std::clamp<std::chrono::milliseconds>(o_.lease / 4, std::chrono::milliseconds(10),
                                                            std::chrono::milliseconds(200));
    auto renewed = SteadyClock::now();
    for (;;) {
      TANDEM_ASSIGN_OR_RETURN(BackfillState st, control.backfill_state(schema_.name));
      if (!st.paused || stop_requested()) return Status::Ok();
      if (Status s = renew_if_due(range, owner, renewed); s.code() == Code::kFailedPrecondition) return s;
      std::this_thread::sleep_for(poll);
    }
  }

  // Runs op until it succeeds, fails for good, or a stop is requested;
  // retryable failures (a database down, busy) wait with backoff, for at
  // most o_.retry_for: then the last error, which says how long it lasted.
  // If the held range passed to another worker meanwhile: *held.lost, and
  // the renewal's kFailedPrecondition.
  template <typename Op>
  auto with_retry(std::string_view what, Op op, Held held = {}) -> decltype(op()) {
    auto pause = std::chrono::milliseconds(100);
    const auto give_up = SteadyClock::now() + o_.retry_for;
    auto renewed = SteadyClock::now();
    for (int attempt = 1;; ++attempt) {
      auto r = op();
      if (r.ok() || !r.status().is_retryable() || stop_requested()) return r;
      if (SteadyClock::now() + pause > give_up) {
        return Status(
            r.status().code(),
            fmt::format("{} failed {} times over {} s, giving up (retry_for): {}; fix the cause and "
                        "run the backfill again, it resumes from its checkpoint",
                        what, attempt, o_.retry_for.count() / 1000, r.status().message()));
      }
      logging::warn("backfill of '{}': {} failed (attempt {}): {}; retrying in {} ms", schema_.name, what,
                    attempt, r.status().to_string(), pause.count());
      if (held.range == nullptr) {
        std::this_thread::sleep_for(pause);
      } else {
        // Sleeps in slices of a sixth of the lease, renewing when due.
        for (const auto wake = SteadyClock::now() + pause; SteadyClock::now() < wake && !stop_requested();) {
          if (Status s = renew_if_due(*held.range, *held.owner, renewed);
              s.code() == Code::kFailedPrecondition) {
            *held.lost = true;
            return s;
          }
          std::this_thread::sleep_for(
              std::min<SteadyClock::duration>(wake - SteadyClock::now(), o_.lease / 6));
        }
      }
      pause = std::min(pause * 2, std::chrono::milliseconds(5000));
    }
  }

  // Renews the lease of a range this worker holds (a checkpoint that moves
  // nothing) once a third of the lease has passed since `renewed`, which it
  // then resets. kFailedPrecondition if the range passed to another worker;
  // other failures (the control store unreachable) are logged, and the next
  // call tries again.
  Status renew_if_due(const BackfillRange& range, const std::string& owner,
                      SteadyClock::time_point& renewed) {
    if (SteadyClock::now() - renewed < o_.lease / 3) return Status::Ok();
    Status s = OperatorTools(m_).control().checkpoint_backfill(schema_.name, range.id, owner, std::nullopt,
                                                               {}, false, o_.lease);
    if (!s.ok() && s.code() != Code::kFailedPrecondition) {
      logging::warn("backfill of '{}': cannot renew the lease of range {}: {}", schema_.name, range.id,
                    s.to_string());
    }
    renewed = SteadyClock::now();
    return s;
  }

  Status work(const std::string& owner) {
    ControlStore& control = OperatorTools(m_).control();
    while (!stop_requested()) {
      TANDEM_ASSIGN_OR_RETURN(std::optional<BackfillRange> range,
                              control.claim_backfill_range(schema_.name, owner, o_.lease, owner_is_gone));
      if (!range) return Status::Ok();
      if (!range->taken_from.empty()) {
        ++takeovers_;
        logging::info("backfill of '{}': {} took over range {} from {} (its lease lapsed or it is gone)",
                      schema_.name, owner, range->id, range->taken_from);
      }
      bool lost = false;
      Status s = copy_range(*range, owner, lost);
      if (lost) {
        // Paused, stalled or cut off for longer than the lease: its new owner
        // goes on from the last checkpoint (a batch copied since is found
        // present there, so counts still balance). Nothing to release.
        logging::warn("backfill of '{}': {}; claiming another range", schema_.name, s.message());
        continue;
      }
      Status released = control.release_backfill_range(schema_.name, range->id, owner);
      if (!s.ok()) return s;
      if (!released.ok())
        logging::warn("cannot release backfill range {}: {}", range->id, released.to_string());
    }
    return Status::Ok();
  }

  // lost: set when the range's lease passed to another worker (the Status
  // says so); the range is then that worker's, and this one goes on.
  Status copy_range(const BackfillRange& range, const std::string& owner, bool& lost) {
    Store& source = OperatorTools(m_).store(Side::kOld);
    ControlStore& control = OperatorTools(m_).control();
    std::optional<Key> end;
    if (range.end) {
      TANDEM_ASSIGN_OR_RETURN(end, Key::decode(*range.end));
    }
    KeyRange keys;
    if (range.cursor) {
      TANDEM_ASSIGN_OR_RETURN(Key cursor, Key::decode(*range.cursor));
      keys = KeyRange::after(cursor, end);
    } else {
      if (range.begin) {
        TANDEM_ASSIGN_OR_RETURN(keys.begin, Key::decode(*range.begin));
      }
      keys.end = end;
    }
    size_t batch = batch_size_.load();
    SteadyClock::time_point last_pause_check{};
    const Held held{&range, &owner, &lost};
    while (!stop_requested()) {
      if (Status paused = wait_while_paused(last_pause_check, range, owner); !paused.ok()) {
        lost = paused.code() == Code::kFailedPrecondition;
        return paused;
      }
      // Rows, capped by bytes: a batch of 16 MB documents holds a few.
      const size_t row_bytes = row_bytes_.load();
      const size_t rows = row_bytes == 0 ? std::min(batch, kProbeRows)
                                         : std::clamp<size_t>(o_.max_batch_bytes / row_bytes, 1, batch);
      limiter_.acquire(rows);
      TANDEM_SYNC_POINT("backfill.before_read");
      auto scanned = with_retry(
          fmt::format("reading {} of old", keys.to_display()),
          [&] { return source.scan_batch(schema_.name, keys, rows); }, held);
      if (!scanned.ok()) return scanned.status();
      ScanBatch read = std::move(*scanned);
      if (read.rows() > 0) row_bytes_ = std::max<size_t>(1, batch_bytes(read) / read.rows());
      bool exhausted = read.end_of_range || !read.last_key;
      TANDEM_SYNC_POINT("backfill.after_read");
      BackfillCounts delta;
      delta.scanned = static_cast<int64_t>(read.rows());
      for (const BadRecord& bad : read.bad) {
        TANDEM_RETURN_IF_ERROR(
            quarantine(bad.key ? bad.key->encode() : "", bad.key_display, bad.field, bad.raw, bad.reason));
        ++delta.quarantined;
      }
      auto started = SteadyClock::now();
      TANDEM_RETURN_IF_ERROR(insert(read.records, delta, held));
      auto took = SteadyClock::now() - started;
      TANDEM_SYNC_POINT("backfill.after_insert");
      std::optional<std::string> cursor;
      if (read.last_key) cursor = read.last_key->encode();
      // Retried after a lost COMMIT, a checkpoint that had landed adds
      // nothing twice (ControlStore::checkpoint_backfill is idempotent).
      Status checkpointed = with_retry("checkpointing", [&] {
                              Status s = control.checkpoint_backfill(schema_.name, range.id, owner, cursor,
                                                                     delta, exhausted, o_.lease);
                              return s.ok() ? Result<bool>(true) : Result<bool>(s);
                            }).status();
      if (!checkpointed.ok()) {
        lost = checkpointed.code() == Code::kFailedPrecondition;
        return checkpointed;
      }
      run_counts_.add(delta);
      TANDEM_SYNC_POINT("backfill.after_checkpoint");
      if (exhausted) return Status::Ok();
      keys = KeyRange::after(*read.last_key, end);
      batch = adapt(batch, took);
    }
    return Status::Ok();
  }

  size_t adapt(size_t batch, SteadyClock::duration took) {
    if (took < o_.target_batch_latency / 2) {
      batch = std::min(o_.max_batch, batch + batch / 2 + 1);
    } else if (took > o_.target_batch_latency) {
      batch = std::max(o_.min_batch, batch * 2 / 3);
    }
    batch_size_ = batch;
    return batch;
  }

  // Inserts what is absent. A batch that new refuses for a bad record
  // (kInvalidArgument: a value new cannot hold, a row too large) is split
  // in halves until the bad records are alone; each is quarantined with
  // new's reason and the rest copied.
  Status insert(std::span<const Record> records, BackfillCounts& delta, Held held) {
    if (records.empty()) return Status::Ok();
    Store& target = OperatorTools(m_).store(Side::kNew);
    auto outcomes = with_retry(
        fmt::format("inserting {} records into new (first {})", records.size(), records[0].key.to_display()),
        [&] { return target.insert_if_absent(schema_.name, records, LockPolicy::kTryLockEach); }, held);
    if (outcomes.ok()) {
      count_outcomes(*outcomes, delta);
      return Status::Ok();
    }
    if (outcomes.status().code() != Code::kInvalidArgument) return outcomes.status();
    if (outcomes.status().is_foreign_key()) {
      // Not a bad record: new enforces a relation that a copy in key order
      // cannot respect (docs/ARCHITECTURE.md, "Relations").
      return Status::FailedPrecondition(fmt::format(
          "backfill of '{}': new refused records for a foreign key ({}); a copy in key order cannot respect "
          "a relation new enforces: drop the foreign key in new and create it after the backfill with "
          "`tandem init --constraints`",
          schema_.name, outcomes.status().message()));
    }
    // Keys new cannot identify as old does (a PostgreSQL new holds printable
    // ASCII keys only, tandem/key_identity.h): quarantined with the reason,
    // not found by halving the batch around each. Asked only once new has
    // refused the batch: nothing per record on the usual path.
    if (auto in_new = target.key_identity(schema_.name); in_new && in_new->collated()) {
      std::vector<Record> kept;
      bool refused = false;
      for (size_t i = 0; i < records.size(); ++i) {
        Result<std::string> id = in_new->id(records[i].key);
        if (id.ok()) {
          if (refused) kept.push_back(records[i]);
          continue;
        }
        if (!refused) kept.assign(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(i));
        refused = true;
        const Record& r = records[i];
        TANDEM_RETURN_IF_ERROR(
            quarantine(r.key.encode(), r.key.to_display(), "", r.to_display(),
                       fmt::format("new collection '{}': {}", schema_.name, id.status().message())));
        ++delta.quarantined;
      }
      if (refused) return insert(kept, delta, held);
    }
    if (records.size() == 1) {
      const Record& r = records[0];
      TANDEM_RETURN_IF_ERROR(
          quarantine(r.key.encode(), r.key.to_display(), "", r.to_display(), outcomes.status().message()));
      ++delta.quarantined;
      return Status::Ok();
    }
    const size_t half = records.size() / 2;
    TANDEM_RETURN_IF_ERROR(insert(records.first(half), delta, held));
    return insert(records.subspan(half), delta, held);
  }

  Status quarantine(std::string key, std::string key_display, std::string field, std::string raw,
                    std::string reason) {
    logging::warn("backfill of '{}': record {} quarantined: {}", schema_.name, key_display, reason);
    return OperatorTools(m_).control().add_quarantine(QuarantineEntry{0,
                                                                      schema_.name,
                                                                      std::move(key),
                                                                      std::move(key_display),
                                                                      std::move(field),
                                                                      std::move(raw),
                                                                      std::move(reason),
                                                                      {}});
  }

  Migration& m_;
  const CollectionSchema& schema_;
  const BackfillOptions& o_;
  RateLimiter limiter_;
  SteadyClock::time_point start_{};
  std::atomic<size_t> batch_size_{0};
  // The average row of the last batch read, in bytes (0: none read yet).
  std::atomic<size_t> row_bytes_{0};
  // The first batch reads this many rows, to learn how large rows are.
  static constexpr size_t kProbeRows = 16;
  RunCounts run_counts_;
  std::atomic<int64_t> takeovers_{0};
  std::atomic<bool> failed_{false};
  Mutex error_mutex_;
  Status error_ GUARDED_BY(error_mutex_);
};

}  // namespace

Result<BackfillSummary> run_backfill(Migration& migration, const BackfillOptions& options) {
  if (options.workers == 0 || options.min_batch == 0 || options.min_batch > options.max_batch) {
    return Status::InvalidArgument("backfill: workers must be at least 1 and 1 <= min batch <= max batch");
  }
  if (options.worker_host.find(':') != std::string::npos) {
    return Status::InvalidArgument(
        fmt::format("backfill: --worker-id '{}' may not contain ':'", options.worker_host));
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<MoveProblem> problems,
                          check_backfill_allowed(migration, options.old_is_frozen));
  if (!problems.empty()) {
    return Status::FailedPrecondition("refused to start the backfill:" + format_move_problems(problems));
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<const CollectionSchema*> schemas,
                          migration.config().select_collections(options.collections));
  schemas = parents_first(std::move(schemas), migration.relations());  // a child never before its parent
  TANDEM_RETURN_IF_ERROR(check_new_enforces_no_relation(migration, schemas));
  BackfillSummary summary;
  summary.complete = true;
  for (const CollectionSchema* schema : schemas) {
    CollectionBackfill one(migration, *schema, options);
    BackfillSummary::PerCollection out;
    Status s = one.run(out, summary.stopped);
    if (!s.ok()) return s.with_context(fmt::format("backfill of '{}'", schema->name));
    summary.complete = summary.complete && out.state.complete;
    summary.collections.push_back(std::move(out));
    if (summary.stopped) break;
  }
  if (summary.stopped) summary.complete = false;
  return summary;
}

}  // namespace tandem
