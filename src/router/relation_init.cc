// `tandem init`'s relations and `tandem init --constraints`
// (include/tandem/operator_tools.h).
#include <fmt/format.h>

#include <memory>

#include "mapping/mapped_store.h"
#include "router/relation_copy.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"

namespace tandem {

namespace {
std::string describe(const Relation& r) {
  return fmt::format("{} ({}) -> {} ({}) ON DELETE {} ON UPDATE {}", r.child, fmt::join(r.columns, ", "),
                     r.parent, fmt::join(r.references, ", "), referential_action_sql(r.on_delete),
                     referential_action_sql(r.on_update));
}
}  // namespace

Result<std::vector<std::string>> init_relations(const Config& config, Store& old_store, Store* new_store,
                                                bool dry_run) {
  Store* old_view = &old_store;
  std::unique_ptr<MappedStore> mapped;
  if (!config.mappings.empty()) {
    TANDEM_ASSIGN_OR_RETURN(mapped, MappedStore::create(&old_store, config.collections, config.mappings));
    old_view = mapped.get();
  }
  TANDEM_ASSIGN_OR_RETURN(std::vector<Relation> in_old, old_view->foreign_keys());
  TANDEM_ASSIGN_OR_RETURN(std::vector<Relation> relations,
                          effective_relations(
                              in_old, [&config](std::string_view n) { return config.find_collection(n); },
                              config.ignore_relations));
  std::vector<Relation> in_new;
  if (new_store != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(in_new, new_store->foreign_keys());
  }
  std::vector<std::string> out;
  for (const Relation& r : relations) {
    if (new_store != nullptr && enforced_in(in_new, r)) {
      out.push_back(
          fmt::format("-- relation {}: {}, found in old: exists in new: the backfill stops on a child "
                      "copied before its parent while it is there (init drops nothing)",
                      r.name, describe(r)));
      continue;
    }
    if (new_store != nullptr && !dry_run) TANDEM_RETURN_IF_ERROR(new_store->ensure_relation_index(r));
    out.push_back(fmt::format(
        "-- relation {}: {}, found in old: not created in new now (a copy in key order cannot respect it); "
        "index {}_idx on {} ({}) {}; run 'tandem init --constraints' once the backfill is complete and "
        "verify clean; needed before write-new",
        r.name, describe(r), r.name, r.child, fmt::join(r.columns, ", "),
        dry_run ? "would be created" : "created"));
  }
  return out;
}

Result<std::vector<std::string>> create_relations_in_new(Migration& migration, bool dry_run) {
  OperatorTools tools(migration);
  ControlStore& control = tools.control();
  Store& fresh = tools.store(Side::kNew);
  TANDEM_ASSIGN_OR_RETURN(std::vector<Relation> in_new, fresh.foreign_keys());
  TANDEM_ASSIGN_OR_RETURN(auto pending, control.repair_counts());
  int64_t queued = 0;
  for (const auto& [side, n] : pending) queued += n;
  std::vector<std::string> reasons, out;
  std::vector<const Relation*> missing;
  for (const Relation& r : migration.relations()) {
    if (enforced_in(in_new, r)) {
      out.push_back(fmt::format("-- relation {}: exists in new", r.name));
      continue;
    }
    missing.push_back(&r);
    for (const std::string& c : {r.parent, r.child}) {
      TANDEM_ASSIGN_OR_RETURN(BackfillState b, control.backfill_state(c));
      TANDEM_ASSIGN_OR_RETURN(std::optional<VerifyRun> v, control.latest_verify(c));
      if (!b.complete) {
        reasons.push_back(
            fmt::format("relation {}: the backfill of '{}' is not complete (`tandem backfill`)", r.name, c));
      } else if (!v || !v->clean || v->at < b.completed_at) {
        reasons.push_back(fmt::format(
            "relation {}: no clean verify of '{}' since its backfill completed (`tandem verify`, with "
            "--repair for differences; orphans count as differences)",
            r.name, c));
      }
    }
  }
  if (!missing.empty() && queued > 0) {
    reasons.push_back(fmt::format("{} repairs are pending: run `tandem repair` first", queued));
  }
  if (!reasons.empty()) {
    return Status::FailedPrecondition(
        fmt::format("refused to create relations in new:\n  - {}", fmt::join(reasons, "\n  - ")));
  }
  for (const Relation* r : missing) {
    if (dry_run) {
      TANDEM_ASSIGN_OR_RETURN(std::vector<std::string> statements, fresh.foreign_key_sql(*r));
      for (const std::string& s : statements) out.push_back(s + ";");
      continue;
    }
    TANDEM_RETURN_IF_ERROR(fresh.ensure_relation_index(*r));
    TANDEM_RETURN_IF_ERROR(fresh.ensure_foreign_key(*r));
    out.push_back(fmt::format("-- relation {}: created in new ({})", r->name, describe(*r)));
  }
  return out;
}

}  // namespace tandem
