// Routing of one collection's operations by the current step's roles.
#include <fmt/format.h>

#include <optional>

#include "core/logging.h"
#include "core/sync_point.h"
#include "router/migration_state.h"
#include "router/relation_copy.h"

namespace tandem {

namespace {

// Under a collation (tandem/key_identity.h), a key whose identity old's
// weights cannot give (a character outside the keys old and new identify
// alike) is refused before any database is written, whenever new is
// written: old never gets a record new cannot hold.
Status admit_key(MigrationState& state, std::string_view collection, const Key& key, const Step& step,
                 bool removing = false) {
  if (!step.writes(Side::kNew)) return Status::Ok();
  // Old's identity, and new's where new narrows it (a PostgreSQL new holds
  // fewer keys alike: tandem/key_identity.h); a remove needs only old's (new
  // holds no record it cannot identify: nothing to remove there).
  Result<std::string> id = std::string();
  for (Side side : {Side::kOld, Side::kNew}) {
    if (removing && side == Side::kNew) continue;
    std::shared_ptr<const KeyIdentity> identity = state.store(side).key_identity(collection);
    if (identity && identity->collated() && id.ok()) id = identity->id(key);
  }
  if (id.ok()) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("collection '{}', record {}: {}; refused before writing either database (old and new would "
                  "not identify the key alike)",
                  collection, key.to_display(), id.status().message()));
}

// The lease check (migration.h): every operation makes it once it has
// entered its step, and a write again right before it writes the write
// primary, so that an operation stalled in between is refused rather than
// written by a step that may have moved.
Status leased(MigrationState& state, AtomicStepStats& stats, const StepGuard& guard) {
  Status s = state.check_lease(guard.lease_epoch());
  if (!s.ok()) stats.errors.fetch_add(1, std::memory_order_relaxed);
  return s;
}

std::string lookup_display(const Result<Lookup>& r) {
  if (!r.ok()) return r.status().to_string();
  switch (r->state) {
    case Lookup::State::kAbsent:
      return "(absent)";
    case Lookup::State::kTombstoned:
      return "(deleted)";
    case Lookup::State::kPresent:
      return r->record.to_display();
  }
  return "?";
}

}  // namespace

Status Collection::write_primary_failed(const Key& key, const Step& step, size_t step_index, Status s) {
  state_->step_stats(step_index).errors.fetch_add(1, std::memory_order_relaxed);
  // New refused it (nothing written): the step moved; refresh now, so that
  // a retry routes by the current step.
  if (s.is_fenced()) {
    state_->request_refresh();
    return s.with_context(
        fmt::format("collection '{}' record {}: not written", schema_.name, key.to_display()));
  }
  // The write may have reached WP: make sure WS is brought up to date later.
  if (s.is_outcome_unknown() && step.write_secondary) {
    state_->enqueue_repair(schema_.name, key, *step.write_secondary, s.to_string());
  }
  return s;
}

Result<std::optional<Record>> Collection::get(const Key& key) {
  StepGuard guard(*state_);
  const size_t index = guard.index();
  const Step& step = state_->config.plan.at(index);
  AtomicStepStats& stats = state_->step_stats(index);
  stats.reads.fetch_add(1, std::memory_order_relaxed);
  TANDEM_RETURN_IF_ERROR(leased(*state_, stats, guard));

  Result<Lookup> primary = state_->store(step.read_primary).get(schema_.name, key);
  if (!primary.ok()) {
    stats.errors.fetch_add(1, std::memory_order_relaxed);
    return primary.status();
  }
  if (step.read_secondary && step.read_secondary_mode == ReadSecondaryMode::kFallback) {
    // Only a true miss falls back: a tombstone in RP means the record was
    // deleted through tandem, and the secondary's copy must not resurrect it.
    if (primary->state == Lookup::State::kAbsent) {
      Result<Lookup> secondary = state_->store(*step.read_secondary).get(schema_.name, key);
      if (!secondary.ok()) {
        stats.errors.fetch_add(1, std::memory_order_relaxed);
        return secondary.status().with_context(fmt::format(
            "collection '{}', record {}: the read primary has no such record and the fallback read failed",
            schema_.name, key.to_display()));
      }
      if (secondary->present()) {
        stats.fallback_reads.fetch_add(1, std::memory_order_relaxed);
        return std::optional<Record>(std::move(secondary->record));
      }
    }
  } else if (step.read_secondary) {
    stats.shadow_reads.fetch_add(1, std::memory_order_relaxed);
    Result<Lookup> secondary = state_->store(*step.read_secondary).get(schema_.name, key);
    std::optional<MismatchKind> kind;
    if (!secondary.ok()) {
      kind = MismatchKind::kSecondaryError;
    } else if (primary->present() && !secondary->present()) {
      kind = MismatchKind::kMissingInSecondary;
    } else if (!primary->present() && secondary->present()) {
      kind = MismatchKind::kExtraInSecondary;
    } else if (primary->present() && primary->record != secondary->record) {
      kind = MismatchKind::kDifferent;
    }
    if (kind) {
      stats.shadow_mismatches.fetch_add(1, std::memory_order_relaxed);
      state_->report_shadow_mismatch(schema_.name, key, *kind, lookup_display(primary),
                                     lookup_display(secondary));
    }
  }
  if (!primary->present()) return std::optional<Record>();
  return std::optional<Record>(std::move(primary->record));
}

Status Collection::put(const Record& record) {
  TANDEM_RETURN_IF_ERROR(schema_.check_record(record));
  StepGuard guard(*state_);
  // Every write this operation makes to new carries its step's version, and
  // new refuses it once its role changed at a later version (tandem/store.h).
  FenceScope fence(guard.fence_token());
  const size_t index = guard.index();
  const Step& step = state_->config.plan.at(index);
  AtomicStepStats& stats = state_->step_stats(index);
  stats.writes.fetch_add(1, std::memory_order_relaxed);

  TANDEM_RETURN_IF_ERROR(leased(*state_, stats, guard));
  TANDEM_RETURN_IF_ERROR(admit_key(*state_, schema_.name, record.key, step));
  TANDEM_SYNC_POINT("write.before_primary");
  TANDEM_RETURN_IF_ERROR(leased(*state_, stats, guard));
  Status s = state_->store(step.write_primary).upsert(schema_.name, record);
  if (!s.ok()) return write_primary_failed(record.key, step, index, s);
  TANDEM_SYNC_POINT("write.before_sync");
  if (step.write_secondary) return sync_write_secondary(record.key, step, index, guard.lease_epoch());
  return Status::Ok();
}

Result<bool> Collection::transfer_into_write_primary(const Key& key, const Step& step, size_t index,
                                                     int64_t lease_epoch) {
  // Only new is ever a transfer target, and only from old while the step
  // still reads old: tandem never copies anything into old.
  if (step.write_primary != Side::kNew || !step.reads(Side::kOld)) return false;
  Store& target = state_->store(Side::kNew);
  Store& source = state_->store(Side::kOld);
  TANDEM_SYNC_POINT("transfer.before_lock");
  TANDEM_ASSIGN_OR_RETURN(RecordLock lock, target.lock(schema_.name, key, state_->config.lock_timeout));
  // However long the lock took: nothing copied by a step this instance can
  // no longer confirm.
  TANDEM_RETURN_IF_ERROR(state_->check_lease(lease_epoch));
  TANDEM_ASSIGN_OR_RETURN(Lookup there, target.get(schema_.name, key));
  if (there.present()) return true;      // someone transferred it meanwhile
  if (there.tombstoned()) return false;  // deleted through tandem: stays deleted
  TANDEM_ASSIGN_OR_RETURN(Lookup original, source.get(schema_.name, key));
  TANDEM_SYNC_POINT("transfer.after_read_source");
  if (!original.present()) return false;
  std::vector<Record> one{std::move(original.record)};
  TANDEM_ASSIGN_OR_RETURN(auto outcomes,
                          target.insert_if_absent(schema_.name, one, LockPolicy::kCallerHoldsLock));
  if (outcomes[0] == InsertOutcome::kInserted) {
    state_->step_stats(index).transfers.fetch_add(1, std::memory_order_relaxed);
  }
  return outcomes[0] == InsertOutcome::kInserted || outcomes[0] == InsertOutcome::kAlreadyPresent;
}

Status Collection::patch(const Key& key, const FieldMap& fields) {
  TANDEM_RETURN_IF_ERROR(schema_.check_fields(key, fields, /*partial=*/true));
  StepGuard guard(*state_);
  // Every write this operation makes to new carries its step's version, and
  // new refuses it once its role changed at a later version (tandem/store.h).
  FenceScope fence(guard.fence_token());
  const size_t index = guard.index();
  const Step& step = state_->config.plan.at(index);
  AtomicStepStats& stats = state_->step_stats(index);
  stats.writes.fetch_add(1, std::memory_order_relaxed);
  Store& wp = state_->store(step.write_primary);
  TANDEM_RETURN_IF_ERROR(leased(*state_, stats, guard));
  TANDEM_RETURN_IF_ERROR(admit_key(*state_, schema_.name, key, step));
  TANDEM_SYNC_POINT("write.before_primary");
  TANDEM_RETURN_IF_ERROR(leased(*state_, stats, guard));

  auto fail = [&](const Status& s) { return write_primary_failed(key, step, index, s); };
  Result<PatchOutcome> outcome = wp.patch(schema_.name, key, fields);
  if (!outcome.ok()) return fail(outcome.status());
  if (*outcome == PatchOutcome::kNotFound) {
    // Transfer before update: copy the record from the source of truth, then patch.
    Result<bool> transferred = transfer_into_write_primary(key, step, index, guard.lease_epoch());
    if (!transferred.ok()) return fail(transferred.status());
    if (*transferred) {
      TANDEM_RETURN_IF_ERROR(leased(*state_, stats, guard));
      outcome = wp.patch(schema_.name, key, fields);
      if (!outcome.ok()) return fail(outcome.status());
    }
  }
  if (*outcome != PatchOutcome::kPatched) {
    return Status::NotFound(fmt::format("collection '{}': no record {} to patch{}", schema_.name,
                                        key.to_display(),
                                        *outcome == PatchOutcome::kTombstoned ? " (it was deleted)" : ""));
  }
  if (step.write_secondary) return sync_write_secondary(key, step, index, guard.lease_epoch());
  return Status::Ok();
}

Status Collection::remove(const Key& key) {
  TANDEM_RETURN_IF_ERROR(schema_.check_fields(key, {}, /*partial=*/true));
  StepGuard guard(*state_);
  // Every write this operation makes to new carries its step's version, and
  // new refuses it once its role changed at a later version (tandem/store.h).
  FenceScope fence(guard.fence_token());
  const size_t index = guard.index();
  const Step& step = state_->config.plan.at(index);
  AtomicStepStats& stats = state_->step_stats(index);
  stats.writes.fetch_add(1, std::memory_order_relaxed);
  TANDEM_RETURN_IF_ERROR(leased(*state_, stats, guard));
  TANDEM_RETURN_IF_ERROR(admit_key(*state_, schema_.name, key, step, /*removing=*/true));
  // The children WP's foreign keys will change, read before they do (one
  // indexed read per relation): the sync copies them too, including those a
  // backfill batch read before this delete (relation_copy.h).
  std::optional<Cascade> pre;
  if (step.write_secondary && needs_pre_image(state_->relations, schema_.name)) {
    MigrationState* st = state_;
    Result<Cascade> children = collect_children(
        state_->store(step.write_primary), state_->relations,
        [st](std::string_view n) { return st->schema_of(n); }, schema_.name, key,
        static_cast<size_t>(state_->config.max_cascade_records));
    if (!children.ok()) return write_primary_failed(key, step, index, children.status());
    pre = std::move(*children);
  }
  TANDEM_SYNC_POINT("write.before_primary");
  TANDEM_RETURN_IF_ERROR(leased(*state_, stats, guard));
  Status s = state_->store(step.write_primary).remove(schema_.name, key);
  if (!s.ok()) return write_primary_failed(key, step, index, s);
  TANDEM_SYNC_POINT("remove.before_sync");
  if (step.write_secondary)
    return sync_write_secondary(key, step, index, guard.lease_epoch(), pre ? &*pre : nullptr);
  return Status::Ok();
}

}  // namespace tandem
