// `tandem verify [--repair] [--json]`.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/verify.h"

namespace tandem::cli {

int run_verify_command(const GlobalOptions& global, const VerifyCommandOptions& o) {
  auto m = open_operator(global);
  if (!m.ok()) return report(m.status());
  VerifyOptions options;
  options.collections = o.collections;
  options.repair = o.repair;
  options.hashed = o.hashed;
  auto verified = run_verify(**m, options);
  if (!verified.ok()) return report(verified.status());
  if (o.json) {
    nlohmann::json out;
    out["clean"] = verified->clean();
    out["collections"] = nlohmann::json::array();
    for (const CollectionVerify& c : verified->collections) {
      nlohmann::json diffs = nlohmann::json::array();
      for (const Difference& d : c.differences) {
        diffs.push_back({{"key", d.key.to_display()},
                         {"kind", std::string(difference_kind_name(d.kind))},
                         {"source", d.source},
                         {"copy", d.copy},
                         {"repaired", d.repaired}});
      }
      nlohmann::json orphans = nlohmann::json::array();
      for (const CollectionVerify::RelationOrphans& r : c.orphans) {
        orphans.push_back({{"relation", r.relation},
                           {"in_source", r.in_source},
                           {"in_copy", r.in_copy},
                           {"sample", r.sample},
                           {"error", r.error}});
      }
      out["collections"].push_back({{"collection", c.collection},
                                    {"source_of_truth", std::string(side_name(c.source))},
                                    {"records", c.records},
                                    {"undecodable", c.undecodable},
                                    {"quarantined", c.quarantined},
                                    {"mode", c.mode},
                                    {"ranges_checked", c.ranges_checked},
                                    {"ranges_mismatched", c.ranges_mismatched},
                                    {"missing", c.missing},
                                    {"extra", c.extra},
                                    {"different", c.different},
                                    {"resurrected", c.resurrected},
                                    {"repaired", c.repaired},
                                    {"remaining", c.remaining},
                                    {"unexplained", c.unexplained},
                                    {"unexplained_ranges", c.unexplained_ranges},
                                    {"orphans", orphans},
                                    {"seconds", c.seconds},
                                    {"differences", diffs}});
    }
    fmt::print("{}\n", out.dump(2));
  } else {
    for (const CollectionVerify& c : verified->collections) {
      double rate = c.seconds > 0 ? static_cast<double>(c.records) / c.seconds : 0;
      fmt::print(
          "verify of '{}' ({} is the source of truth, {} mode): {} records in {:.2f}s ({:.0f} records/s), {} "
          "{} checked, {} mismatched\n",
          c.collection, side_name(c.source), c.mode, c.records, c.seconds, rate, c.ranges_checked,
          c.mode == "hashed" ? "buckets" : "ranges", c.ranges_mismatched);
      if (c.quarantined > 0) {
        fmt::print(
            "  {} record(s) of {} are not in the copy because they are quarantined (see `tandem "
            "quarantine list`)\n",
            c.quarantined, side_name(c.source));
      }
      if (c.undecodable > 0) {
        fmt::print("  {} row(s) of {} do not decode and were not compared (see `tandem quarantine list`)\n",
                   c.undecodable, side_name(c.source));
      }
      fmt::print("  missing {}  extra {}  different {}  resurrected {}{}\n", c.missing, c.extra, c.different,
                 c.resurrected, o.repair ? fmt::format("  repaired {}", c.repaired) : "");
      if (!c.differences.empty()) {
        fmt::print("  {:<12} {:<16} {:<9} {}\n", "kind", "key", "repaired", "source | copy");
        for (const Difference& d : c.differences) {
          fmt::print("  {:<12} {:<16} {:<9} {} | {}\n", difference_kind_name(d.kind), d.key.to_display(),
                     d.repaired ? "yes" : "no", d.source, d.copy);
        }
      }
      if (c.unexplained > 0) {
        fmt::print(
            "  {} range(s) whose digests differ although no record read through tandem differs (the "
            "databases' own text of some value differs; compare these ranges with SQL):\n",
            c.unexplained);
        for (const std::string& r : c.unexplained_ranges) fmt::print("    {}\n", r);
      }
      for (const CollectionVerify::RelationOrphans& r : c.orphans) {
        if (!r.error.empty()) {
          fmt::print("  relation {}: orphans not counted: {}\n", r.relation, r.error);
        } else if (r.in_copy > 0 || r.in_source > 0) {
          fmt::print("  relation {}: {} orphans in {}, {} in {}{}\n", r.relation, r.in_copy,
                     side_name(c.source == Side::kOld ? Side::kNew : Side::kOld), r.in_source,
                     side_name(c.source),
                     r.sample.empty() ? "" : fmt::format(" (e.g. {} {})", c.collection, r.sample.front()));
        }
      }
      fmt::print("  {}\n", c.clean()           ? "CLEAN"
                           : c.unexplained > 0 ? "NOT CLEAN: unexplained mismatches (above)"
                           : o.repair          ? "NOT CLEAN: some differences could not be repaired"
                                               : "NOT CLEAN: `tandem verify --repair` copies the source "
                                                 "of truth over them");
    }
  }
  return verified->clean() ? kExitOk : kExitCheckFailed;
}

}  // namespace tandem::cli
