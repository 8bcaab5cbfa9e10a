#include <fmt/format.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "core/logging.h"
#include "core/process.h"
#include "core/sync_point.h"
#include "mapping/mapped_store.h"
#include "router/copy_record.h"
#include "router/migration_state.h"
#include "router/relation_copy.h"
#include "router/step_rules.h"
#include "tandem/config.h"
#include "tandem/control_store.h"

namespace tandem {

Result<std::unique_ptr<Migration>> Migration::open(const Config& config, MigrationOptions options) {
  TANDEM_RETURN_IF_ERROR(config.validate());
  auto state = std::make_unique<MigrationState>();
  TANDEM_ASSIGN_OR_RETURN(state->owned_control, open_control_store(config.control_url));
  // tandem leaves old as it found it: no tombstone table, no journal change,
  // no table created; its tables must exist.
  TANDEM_ASSIGN_OR_RETURN(
      state->owned_old,
      open_store("old", config.old_url, StoreOptions{.keep_tombstones = false, .configure = false}));
  TANDEM_ASSIGN_OR_RETURN(state->owned_new, open_store("new", config.new_url, StoreOptions{}));
  Store* old_store = state->owned_old.get();
  Store* new_store = state->owned_new.get();
  ControlStore* control = state->owned_control.get();
  return open_parts(config, old_store, new_store, control, std::move(options), std::move(state));
}

Result<std::unique_ptr<Migration>> Migration::open_with(const Config& config, Store* old_store,
                                                        Store* new_store, ControlStore* control,
                                                        MigrationOptions options) {
  return open_parts(config, old_store, new_store, control, std::move(options),
                    std::make_unique<MigrationState>());
}

// New's fence is ahead of this control store's step version only if another
// control store raised it: an earlier migration on this new database (its
// control store since replaced), or a second one steering it now. A fresh
// control store continues after the fence (its writes would all be refused
// as older otherwise); one whose steps have moved is refused, naming both.
static Status continue_after_new_fence(ControlStore& control, Store& new_store) {
  Result<FenceToken> fence = new_store.read_fence();
  if (!fence.ok() && is_missing_table(fence.status())) return Status::Ok();  // before `tandem init`
  TANDEM_RETURN_IF_ERROR(fence.status().with_context("reading new's fence"));
  TANDEM_ASSIGN_OR_RETURN(StepState current, control.current_step());
  if (current.version >= fence->version) return Status::Ok();  // this control store raised it
  TANDEM_ASSIGN_OR_RETURN(
      StepState continued,
      control.continue_after_fence(
          fence->version,
          fmt::format("continues after new's fence at step version {}, left by an earlier migration on this "
                      "new database",
                      fence->version),
          actor_name()));
  logging::warn(
      "new's fence was at step version {} (an earlier migration's control store raised it): this control "
      "store continues at version {}, so that new refuses the earlier migration's writes and takes this "
      "one's",
      fence->version, continued.version);
  return Status::Ok();
}

Result<std::unique_ptr<Migration>> Migration::open_parts(const Config& config, Store* old_store,
                                                         Store* new_store, ControlStore* control,
                                                         MigrationOptions options,
                                                         std::unique_ptr<MigrationState> state) {
  TANDEM_RETURN_IF_ERROR(config.validate());
  state->config = config;
  state->options = std::move(options);
  if (!config.mappings.empty()) {  // old, seen in new's shape
    TANDEM_ASSIGN_OR_RETURN(state->mapped_old,
                            MappedStore::create(old_store, config.collections, config.mappings));
    old_store = state->mapped_old.get();
  }
  state->old_store = old_store;
  state->new_store = new_store;
  state->control = control;
  TANDEM_RETURN_IF_ERROR(control->initialize(config.fingerprint(), config.plan.size()));
  TANDEM_ASSIGN_OR_RETURN(std::optional<FinishRecord> finished, control->finished());
  if (finished) {
    return Status::FailedPrecondition(fmt::format(
        "migration '{}' was finished at {} by {} (`tandem finish`): its steps no longer move and tandem no "
        "longer routes it; read and write new directly",
        config.migration_name, format_time(finished->at), finished->actor));
  }
  // Opening creates no table: `tandem init` (init_new_tables) is what creates
  // new's tables. Only tandem's own side table may be created in new (by the
  // store, at open).
  for (const CollectionSchema& schema : config.collections) {
    if (!config.is_new_only(schema.name)) {
      TANDEM_RETURN_IF_ERROR(old_store->ensure_collection(schema, /*create_if_missing=*/false));
    }
    if (!config.is_new_only(schema.name))
      new_store->offer_key_identity(schema.name, old_store->key_identity(schema.name));
    Status in_new = new_store->ensure_collection(schema, /*create_if_missing=*/false);
    if (is_missing_table(in_new)) {
      return Status::FailedPrecondition(
          fmt::format("collection '{}': new has no table for it; run `tandem init` to create it (only "
                      "`tandem init` creates tables)",
                      schema.name));
    }
    TANDEM_RETURN_IF_ERROR(in_new);
    std::vector<std::string> key_names;
    for (const Column& c : schema.key_columns) key_names.push_back(c.name);
    TANDEM_RETURN_IF_ERROR(check_new_identifies_as_old(schema.name, key_names,
                                                       old_store->key_identity(schema.name).get(),
                                                       new_store->key_identity(schema.name).get()));
    if (!config.is_new_only(schema.name) &&
        old_store->respells_keys(schema.name) != new_store->respells_keys(schema.name)) {
      old_store->keep_key_spellings(schema.name);  // one rule on both sides (Store::respells_keys)
      new_store->keep_key_spellings(schema.name);
    }
    state->collections.emplace(schema.name, std::unique_ptr<Collection>(new Collection(state.get(), schema)));
  }
  // Relations: old's foreign keys between configured collections (the
  // write primary cascades; the sync copies the outcome, relation_copy.h).
  TANDEM_ASSIGN_OR_RETURN(std::vector<Relation> old_keys, old_store->foreign_keys());
  MigrationState* opened = state.get();
  TANDEM_ASSIGN_OR_RETURN(
      state->relations,
      effective_relations(
          old_keys, [opened](std::string_view n) { return opened->schema_of(n); }, config.ignore_relations));
  for (const std::string& name : config.ignore_relations) {
    logging::warn(
        "relation {} of old is not followed ([migration] ignore_relations): its cascades are not copied",
        name);
  }
  TANDEM_RETURN_IF_ERROR(continue_after_new_fence(*control, *new_store));
  for (size_t i = 0; i < config.plan.size(); ++i) state->stats.push_back(std::make_unique<AtomicStepStats>());
  state->host = host_name();
  state->pid = getpid();
  state->started_at = now_micros();
  std::random_device rd;
  state->instance_id = state->options.instance_label.empty()
                           ? fmt::format("{}:{}:{:04x}", state->host, state->pid, rd() & 0xffff)
                           : state->options.instance_label;

  std::unique_ptr<Migration> m(new Migration(std::move(state)));
  TANDEM_RETURN_IF_ERROR(m->refresh());
  if (m->state_->options.register_instance) {
    MigrationState* st = m->state_.get();
    st->refresher = std::thread([st, m_ptr = m.get()] {
      UniqueLock lock(st->stop_mutex);
      for (;;) {
        // Every refresh_interval, or at once when an operation found its
        // step moved (new refused it: MigrationState::request_refresh).
        st->stop_cv.wait_for(lock, st->config.refresh_interval, [st]() REQUIRES(st->stop_mutex) {
          return st->stopping || st->refresh_requested;
        });
        if (st->stopping) break;
        st->refresh_requested = false;
        lock.unlock();
        Status s = m_ptr->refresh();
        if (!s.ok()) {
          logging::warn("cannot refresh the current step: {} ({})", s.to_string(),
                        st->config.fence == FencePolicy::kOperator
                            ? "fence = operator: routing by the last known step; no step moves until this "
                              "instance renews or is forgotten"
                            : "this instance stops routing when its lease lapses, and resumes once a refresh "
                              "succeeds");
        }
        st->flush_pending();
        lock.lock();
      }
    });
  }
  return m;
}

Migration::Migration(std::unique_ptr<MigrationState> state) : state_(std::move(state)) {}

Migration::~Migration() {
  if (state_->refresher.joinable()) {
    {
      MutexLock lock(state_->stop_mutex);
      state_->stopping = true;
    }
    state_->stop_cv.notify_all();
    state_->refresher.join();
  }
  state_->flush_pending();
  {
    MutexLock lock(state_->pending_mutex);
    for (const RepairEntry& e : state_->pending_repairs) {
      logging::error(
          "repair of collection '{}' record {} (to {}) could not be queued before exit; run "
          "`tandem verify --repair` to find it",
          e.collection, e.key_display, side_name(e.target));
    }
  }
  if (state_->options.register_instance) {
    Status s = state_->control->remove_instance(state_->instance_id);
    if (!s.ok()) logging::warn("cannot deregister instance {}: {}", state_->instance_id, s.to_string());
  }
}

Result<Collection*> Migration::collection(std::string_view name) {
  auto it = state_->collections.find(name);
  if (it == state_->collections.end()) {
    return Status::NotFound(fmt::format("no collection '{}' in the config", name));
  }
  return it->second.get();
}

const Config& Migration::config() const { return state_->config; }
const std::vector<Relation>& Migration::relations() const { return state_->relations; }
const Plan& Migration::plan() const { return state_->config.plan; }
const std::string& Migration::instance_id() const { return state_->instance_id; }

StepState Migration::applied_step() const {
  MutexLock lock(state_->step_mutex);
  return state_->applied;
}

namespace {

InstanceHeartbeat heartbeat_of(const MigrationState& st, const StepState& acknowledged) {
  return InstanceHeartbeat{st.instance_id,
                           st.host,
                           st.pid,
                           st.started_at,
                           now_micros(),
                           acknowledged.version,
                           acknowledged.step_index,
                           st.config.instance_timeout};
}

// Writes the heartbeat, then reads the current step (one query on a server,
// ControlStore::heartbeat_and_read_step), applies it, and writes the
// heartbeat again if that acknowledged a new step. The heartbeat comes
// first: a step read after a heartbeat that movers see is at most one move
// behind for as long as the lease it renews lasts (a step read before a
// heartbeat that is delayed could be two moves old by the time it lands).
Status refresh_step(MigrationState& st) {
  StepState acknowledged_before;
  StepState current;
  if (st.options.register_instance) {
    {
      MutexLock lock(st.step_mutex);
      acknowledged_before = st.acknowledged;
    }
    TANDEM_ASSIGN_OR_RETURN(current,
                            st.control->heartbeat_and_read_step(heartbeat_of(st, acknowledged_before)));
  } else {
    TANDEM_ASSIGN_OR_RETURN(current, st.control->current_step());
  }
  TANDEM_SYNC_POINT("refresh.after_step_read");
  if (current.step_index >= st.config.plan.size()) {
    return Status::Corruption(fmt::format("the control store names step {} but the plan has {} steps",
                                          current.step_index + 1, st.config.plan.size()));
  }
  StepState applied;
  {
    MutexLock lock(st.step_mutex);
    // Only a newer version: versions only grow, and a slower concurrent
    // refresh must not put back the step a faster one replaced.
    if (current.version > st.applied.version) {
      if (st.options.register_instance && st.applied.version != 0) {
        const Step& s = st.config.plan.at(current.step_index);
        logging::info("applied step {} ({}: {}), version {}", current.step_index + 1, s.name,
                      s.roles_display(), current.version);
      }
      st.applied = current;
      st.routing.store(MigrationState::pack_routing(current));
    }
    applied = st.applied;
  }
  // Acknowledge the step only once no operation still routes by an earlier
  // one: an operator's next move relies on it. Wait briefly for stragglers;
  // if some remain, the next refresh tries again.
  auto deadline = std::chrono::steady_clock::now() +
                  std::min(st.config.refresh_interval / 2, std::chrono::milliseconds(200));
  while (!st.drained_except(applied.step_index) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  // Repairs kept in memory (the control store refused them) go first: a
  // mover must not see this step acknowledged while a write it acknowledged
  // has its repair only here.
  st.flush_pending();
  bool repairs_pending = false;
  {
    MutexLock lock(st.pending_mutex);
    repairs_pending = !st.pending_repairs.empty();
  }
  StepState acknowledged;
  {
    MutexLock lock(st.step_mutex);
    if (st.applied.version == applied.version && st.drained_except(applied.step_index) && !repairs_pending) {
      st.acknowledged = applied;
    }
    acknowledged = st.acknowledged;
  }
  if (!st.options.register_instance || acknowledged.version == acknowledged_before.version) {
    return Status::Ok();
  }
  return st.control->heartbeat(heartbeat_of(st, acknowledged));
}

}  // namespace

Status Migration::refresh() {
  // One refresh at a time (the refresh thread, and a caller of refresh()).
  MutexLock serial(state_->refresh_mutex);
  TANDEM_SYNC_POINT("refresh.start");
  // The lease counts from before the step is read (migration.h).
  const int64_t started = lease_clock_nanos();
  const WallTime started_wall = now_micros();
  Status s = refresh_step(*state_);
  MutexLock lock(state_->lease_mutex);
  if (s.ok()) {
    if (state_->options.register_instance) state_->renew_lease(started, started_wall);
    state_->refresh_error.clear();
  } else {
    state_->refresh_error = s.to_string();
  }
  return s;
}

namespace {

// One snapshot of what the step rules look at.
Result<MoveContext> read_move_context(const MigrationState& state, size_t to_index) {
  MoveContext c;
  c.plan = &state.config.plan;
  TANDEM_ASSIGN_OR_RETURN(c.current, state.control->current_step());
  c.to_index = to_index;
  TANDEM_ASSIGN_OR_RETURN(c.instances, state.control->instances());
  TANDEM_ASSIGN_OR_RETURN(c.now, state.control->clock_now());
  c.instance_timeout = state.config.instance_timeout;
  c.fence = state.config.fence;
  TANDEM_ASSIGN_OR_RETURN(c.pending_repairs, state.control->repair_counts());
  for (const CollectionSchema& schema : state.config.collections) {
    TANDEM_ASSIGN_OR_RETURN(c.backfills[schema.name], state.control->backfill_state(schema.name));
    TANDEM_ASSIGN_OR_RETURN(c.verifies[schema.name], state.control->latest_verify(schema.name));
  }
  const Plan& plan = state.config.plan;
  if (!state.relations.empty() && to_index < plan.size() && c.current.step_index < plan.size() &&
      plan.at(to_index).write_primary == Side::kNew &&
      plan.at(c.current.step_index).write_primary != Side::kNew) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<Relation> in_new, state.new_store->foreign_keys());
    for (const Relation& r : state.relations) {
      if (!enforced_in(in_new, r)) c.relations_missing_in_new.push_back(r.to_display());
    }
  }
  return c;
}

}  // namespace

Result<std::vector<MoveProblem>> Migration::check_move(size_t to_index) {
  TANDEM_ASSIGN_OR_RETURN(MoveContext c, read_move_context(*state_, to_index));
  return check_step_move(c);
}

Result<StepState> Migration::change_step(size_t to_index, std::string_view reason, bool force) {
  // The problems and the version the move is conditional on come from the
  // same snapshot: if anything moves in between, the versioned change fails.
  TANDEM_ASSIGN_OR_RETURN(MoveContext context, read_move_context(*state_, to_index));
  const StepState& current = context.current;
  std::vector<MoveProblem> problems = check_step_move(context);
  if (to_index >= state_->config.plan.size() || to_index == current.step_index) {
    return Status::InvalidArgument(problems.empty() ? "no such step" : problems[0].what);
  }
  std::string recorded(reason);
  if (!problems.empty()) {
    if (!force) {
      return Status::FailedPrecondition(fmt::format("refused to move from step {} to step {}:{}",
                                                    current.step_index + 1, to_index + 1,
                                                    format_move_problems(problems)));
    }
    if (reason.empty()) {
      return Status::InvalidArgument("--force needs a --reason, which is recorded in the step history");
    }
    std::vector<std::string> whats;
    for (const MoveProblem& p : problems) whats.push_back(p.what);
    recorded = fmt::format("{} [forced past: {}]", reason, fmt::join(whats, "; "));
  }
  TANDEM_ASSIGN_OR_RETURN(
      StepState next, state_->control->change_step(
                          current.version, to_index, recorded, /*forced=*/!problems.empty(), actor_name(),
                          problems.empty() ? sides_to_drain(state_->config.plan, current.step_index, to_index)
                                           : std::vector<Side>{}));
  // A move that changes new's role raises new's fence (tandem/store.h), so
  // that from now on new refuses every write routed by an earlier step, even
  // if the new role never writes (a move there and back would otherwise let
  // a write stalled two moves ago through). The move stands if this fails:
  // the first write by the new role raises it too.
  const FenceRole role = new_role_at(state_->config.plan.at(to_index));
  if (role != new_role_at(state_->config.plan.at(current.step_index))) {
    Status raised = state_->store(Side::kNew).raise_fence({next.version, role});
    if (!raised.ok()) {
      logging::warn(
          "moved to step {}, but new's fence could not be raised to step version {}: {}; the first "
          "write by new's new role raises it",
          to_index + 1, next.version, raised.to_string());
    }
  }
  TANDEM_RETURN_IF_ERROR(refresh());
  return next;
}

Result<size_t> Migration::drain_repair_queue(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(StepState current, state_->control->current_step());
  const Step& step = state_->config.plan.at(current.step_index);
  TANDEM_ASSIGN_OR_RETURN(std::vector<RepairEntry> entries, state_->control->repair_batch(limit));
  // The copies carry the step read above: new refuses them once its role
  // changed at a later version (tandem/store.h), and they stay queued.
  FenceScope fence(FenceToken{current.version, new_role_at(step)});
  size_t repaired = 0;
  for (const RepairEntry& e : entries) {
    const CollectionSchema* schema = state_->config.find_collection(e.collection);
    auto key = Key::decode(e.key);
    Status s;
    if (schema == nullptr) {
      s = Status::NotFound(fmt::format("collection '{}' is no longer in the config", e.collection));
    } else if (!key.ok()) {
      s = key.status();
    } else if (e.target == step.write_primary) {
      // The write it stands for was reported as of unknown outcome (the step
      // moved while it was in flight, see Collection::sync_write_secondary):
      // the write primary is the truth, and the other database is to be made
      // equal to it. That copy is queued as a repair of the other database,
      // not made here: a step move that would make it a primary then waits
      // for the copy, as for any repair. (Copying here, from a step read at
      // the start of the batch, could overwrite a database that a move had
      // just made the write primary. Found by tandem-stress.)
      if (step.write_secondary) {
        RepairEntry other = e;
        other.id = 0;
        other.target = *step.write_secondary;
        other.reason = fmt::format("made equal to {}, the write primary, after a write of unknown outcome",
                                   side_name(step.write_primary));
        s = state_->control->enqueue_repair(other);
      }
    } else {
      // A parent's repair brings its children (no bound: the repair pages nothing).
      MigrationState* st = state_.get();
      s = copy_with_relations(
          state_->store(step.write_primary), state_->store(e.target), state_->store(Side::kNew),
          state_->relations, [st](std::string_view n) { return st->schema_of(n); }, schema->name, *key,
          nullptr, RelationCopyOptions{state_->config.lock_timeout, SIZE_MAX, {}});
    }
    if (s.ok()) {
      TANDEM_RETURN_IF_ERROR(state_->control->complete_repair(e.id));
      ++repaired;
    } else {
      logging::warn("repair of collection '{}' record {} to {} failed: {}", e.collection, e.key_display,
                    side_name(e.target), s.to_string());
      TANDEM_RETURN_IF_ERROR(state_->control->fail_repair(e.id, s.to_string()));
    }
  }
  return repaired;
}

std::vector<StepStats> Migration::stats() const {
  std::vector<StepStats> out;
  for (const auto& s : state_->stats) {
    out.push_back({s->reads.load(), s->writes.load(), s->errors.load(), s->fallback_reads.load(),
                   s->shadow_reads.load(), s->shadow_mismatches.load(), s->write_secondary_failures.load(),
                   s->transfers.load()});
  }
  return out;
}

}  // namespace tandem
