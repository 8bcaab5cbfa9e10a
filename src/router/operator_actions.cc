// The operator actions that run without a Migration (tandem/operator_tools.h):
// init_new_tables (`tandem init`) and finish_migration (`tandem finish`).
#include <fmt/format.h>

#include <memory>

#include "core/process.h"
#include "mapping/mapped_store.h"
#include "tandem/config.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"

namespace tandem {

Result<std::vector<InitOutcome>> init_new_tables(const Config& config, Store& old_store, Store* new_store,
                                                 bool dry_run) {
  TANDEM_RETURN_IF_ERROR(config.validate());
  if (new_store == nullptr && !dry_run) return Status::InvalidArgument("init_new_tables: no new store");
  Store* old_view = &old_store;
  std::unique_ptr<MappedStore> mapped;
  if (!config.mappings.empty()) {
    TANDEM_ASSIGN_OR_RETURN(mapped, MappedStore::create(&old_store, config.collections, config.mappings));
    old_view = mapped.get();
  }
  // Everything is checked before anything is created.
  std::vector<InitOutcome> out;
  std::vector<ColumnShapes> likes;
  for (const CollectionSchema& schema : config.collections) {
    ColumnShapes like;
    if (!config.is_new_only(schema.name)) {
      Status in_old = old_view->ensure_collection(schema, /*create_if_missing=*/false);
      if (is_missing_table(in_old)) {
        return Status::FailedPrecondition(fmt::format(
            "collection '{}': old has no table for it, so `tandem init` creates nothing ({}); correct the "
            "collection's name (or its [collections.old] table) in the config, or mark it `new_only = true` "
            "if it exists only in new",
            schema.name, in_old.message()));
      }
      TANDEM_RETURN_IF_ERROR(in_old.with_context(fmt::format("collection '{}' in old", schema.name)));
      TANDEM_ASSIGN_OR_RETURN(like, old_view->column_shapes(schema));
      if (new_store != nullptr)
        new_store->offer_key_identity(schema.name, old_view->key_identity(schema.name));
    }
    InitOutcome o;
    o.collection = schema.name;
    auto mapping = [&](const std::vector<Store::ColumnDefinition>* defs) {
      size_t i = 0;
      for (const auto* columns : {&schema.key_columns, &schema.columns}) {
        for (const Column& c : *columns) {
          auto it = like.find(c.name);
          InitOutcome::ColumnMapping m{c.name, it == like.end() ? "" : it->second.declared,
                                       std::string(type_name(c.type)), "", ""};
          if (defs != nullptr && i < defs->size()) {
            m.new_type = (*defs)[i].type;
            m.note = (*defs)[i].note;
          }
          o.columns.push_back(std::move(m));
          ++i;
        }
      }
    };
    if (new_store == nullptr) {  // a dry run without new: nothing more is known
      o.action = InitOutcome::Action::kWouldCreate;
      mapping(nullptr);
      out.push_back(std::move(o));
      likes.push_back(std::move(like));
      continue;
    }
    Status in_new = new_store->ensure_collection(schema, /*create_if_missing=*/false);
    if (in_new.ok()) {
      o.action = InitOutcome::Action::kExists;
    } else if (is_missing_table(in_new)) {
      TANDEM_ASSIGN_OR_RETURN(Store::TableDefinition def, new_store->table_definition(schema, like));
      o.sql = def.sql;
      mapping(&def.columns);
      o.action = InitOutcome::Action::kWouldCreate;
    } else {
      return in_new;  // it exists but does not fit: the operator decides
    }
    out.push_back(std::move(o));
    likes.push_back(std::move(like));
  }
  if (dry_run) return out;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].action != InitOutcome::Action::kWouldCreate) continue;
    TANDEM_RETURN_IF_ERROR(new_store->create_collection(config.collections[i], likes[i]));
    out[i].action = InitOutcome::Action::kCreated;
  }
  return out;
}

namespace {

// Every reason the migration cannot be finished now (empty: it can).
Result<std::vector<std::string>> finish_problems(const Config& config, ControlStore& control,
                                                 const StepState& current) {
  std::vector<std::string> problems;
  const size_t last = config.plan.size() - 1;
  if (current.step_index != last) {
    problems.push_back(
        fmt::format("the migration is at step {}, not at the last step ({}); walk the plan to "
                    "its end first (`tandem step next`)",
                    current.step_index + 1, last + 1));
  }
  TANDEM_ASSIGN_OR_RETURN(WallTime now, control.clock_now());
  TANDEM_ASSIGN_OR_RETURN(std::vector<InstanceHeartbeat> instances, control.instances());
  for (const InstanceHeartbeat& h : instances) {
    // Under fence = "operator" a silent instance may still route: it counts.
    if (!instance_is_live(h, now, config.instance_timeout) && config.fence == FencePolicy::kLease) continue;
    problems.push_back(
        fmt::format("instance {} (host {}, pid {}) still routes through tandem; redeploy the service to read "
                    "and write new "
                    "directly, and finish once it has stopped",
                    h.instance_id, h.host, h.pid));
  }
  TANDEM_ASSIGN_OR_RETURN(auto repairs, control.repair_counts());
  if (repairs[Side::kOld] + repairs[Side::kNew] > 0) {
    problems.push_back(fmt::format("the repair queue holds {} key(s); run `tandem repair`",
                                   repairs[Side::kOld] + repairs[Side::kNew]));
  }
  for (const CollectionSchema& schema : config.collections) {
    TANDEM_ASSIGN_OR_RETURN(std::optional<VerifyRun> v, control.latest_verify(schema.name));
    if (!v) {
      problems.push_back(fmt::format("collection '{}' was never verified; run `tandem verify`", schema.name));
    } else if (v->step_version != current.version) {
      problems.push_back(fmt::format(
          "collection '{}': its last verify ran at step version {}, before the last step was entered "
          "(version {}); run `tandem verify` now",
          schema.name, v->step_version, current.version));
    } else if (!v->clean) {
      problems.push_back(fmt::format(
          "collection '{}': the final verify was not clean ({} missing, {} extra, {} different, {} "
          "resurrected); run `tandem verify --repair`",
          schema.name, v->missing, v->extra, v->different, v->resurrected));
    }
  }
  return problems;
}

}  // namespace

Result<FinishReport> finish_migration(const Config& config) {
  TANDEM_RETURN_IF_ERROR(config.validate());
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<ControlStore> control, open_control_store(config.control_url));
  TANDEM_RETURN_IF_ERROR(control->initialize(config.fingerprint(), config.plan.size()));
  FinishReport report;
  TANDEM_ASSIGN_OR_RETURN(std::optional<FinishRecord> done, control->finished());
  if (done) {
    report.record = *done;
    report.already_finished = true;
  } else {
    TANDEM_ASSIGN_OR_RETURN(StepState current, control->current_step());
    TANDEM_ASSIGN_OR_RETURN(std::vector<std::string> problems, finish_problems(config, *control, current));
    if (!problems.empty()) {
      std::string list;
      for (const std::string& p : problems) list += "\n  - " + p;
      return Status::FailedPrecondition(
          fmt::format("refused to finish migration '{}':{}", config.migration_name, list));
    }
    report.record = FinishRecord{now_micros(), actor_name(), current.step_index, current.version};
    // Marked first: from here on nothing moves the step or opens the
    // migration, so nothing writes a tombstone while the table goes.
    TANDEM_RETURN_IF_ERROR(control->mark_finished(report.record));
  }
  // New opened so that it creates nothing, not even the table being dropped.
  TANDEM_ASSIGN_OR_RETURN(
      std::unique_ptr<Store> new_store,
      open_store("new", config.new_url, StoreOptions{.keep_tombstones = false, .configure = false}));
  TANDEM_RETURN_IF_ERROR(
      new_store->drop_tandem_tables().with_context("dropping tandem's side tables from new (the migration is "
                                                   "marked finished; run `tandem finish` again)"));
  return report;
}

Result<InstanceForgotten> forget_instance(const Config& config, ControlStore& control,
                                          std::string_view instance_id, std::string_view reason) {
  if (reason.empty()) {
    return Status::InvalidArgument(
        "forgetting an instance needs --reason (recorded with it: e.g. \"host db-7 was powered off\")");
  }
  // The store checks in its transaction that the instance is silent (by
  // the longer of this config's lease and the instance's own), so that one
  // renewing meanwhile stays.
  return control.forget_instance(instance_id, reason, actor_name(), config.instance_timeout);
}

}  // namespace tandem
