// Verify's orphan count per relation (docs/ARCHITECTURE.md, "Relations"): a
// copy is not clean while it holds child records without their parent that
// the source of truth does not.
#include <fmt/format.h>

#include "core/logging.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"
#include "tandem/verify.h"

namespace tandem {

Status count_orphans(Migration& migration, Side source, CollectionVerify& result) {
  OperatorTools tools(migration);
  Store& from = tools.store(source);
  Store& copy = tools.store(source == Side::kOld ? Side::kNew : Side::kOld);
  for (const Relation& r : migration.relations()) {
    if (r.child != result.collection) continue;
    CollectionVerify::RelationOrphans out;
    out.relation = r.name;
    // A count that failed is not clean: verify could not prove the copy has
    // no orphans.
    auto in_source = from.orphans(r, 0);
    auto in_copy = copy.orphans(r, 10);
    if (!in_source.ok() || !in_copy.ok()) {
      out.error = (in_source.ok() ? in_copy.status() : in_source.status()).to_string();
      logging::warn("verify of '{}': cannot count the orphans of relation {}: {}", result.collection, r.name,
                    out.error);
    } else {
      out.in_source = static_cast<int64_t>(in_source->count);
      out.in_copy = static_cast<int64_t>(in_copy->count);
      for (const Key& k : in_copy->sample) out.sample.push_back(k.to_display());
      if (out.in_copy > out.in_source) {
        logging::warn("relation {}: {} orphans in {}, {} in {} (e.g. {} {})", r.name, out.in_copy,
                      side_name(source == Side::kOld ? Side::kNew : Side::kOld), out.in_source,
                      side_name(source), r.child, out.sample.empty() ? "" : out.sample.front());
      }
    }
    result.orphans.push_back(std::move(out));
  }
  return Status::Ok();
}

}  // namespace tandem
