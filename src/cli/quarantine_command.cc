// `tandem quarantine`: lists the quarantined records, or releases one.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "tandem/config.h"
#include "tandem/control_store.h"
#include "tandem/migration.h"
#include "tandem/operator_tools.h"
#include "tandem/store.h"

namespace tandem::cli {

int run_quarantine_command(const GlobalOptions& global, const std::string& action, const std::string& key,
                           int64_t limit) {
  auto m = open_operator(global);
  if (!m.ok()) return report(m.status());
  auto entries = OperatorTools(**m).control().quarantine(static_cast<size_t>(limit));
  if (!entries.ok()) return report(entries.status());
  if (action == "list") {
    fmt::print(
        "{} quarantined record(s){}\n", entries->size(),
        static_cast<int64_t>(entries->size()) == limit ? " (first shown; raise --limit for more)" : "");
    for (const QuarantineEntry& e : *entries) {
      fmt::print("  {:<12} {:<16} {:<10} {}\n", e.collection, e.key_display, e.field.empty() ? "-" : e.field,
                 e.reason);
    }
    return kExitOk;
  }
  if (action == "show") {
    bool found = false;
    for (const QuarantineEntry& e : *entries) {
      if (e.key_display != key) continue;
      found = true;
      fmt::print(
          "collection: {}\nkey:        {}\nfield:      {}\nreason:     {}\nraw:        {}\nat:         "
          "{}\n\n",
          e.collection, e.key_display, e.field.empty() ? "-" : e.field, e.reason, e.raw, format_time(e.at));
    }
    if (!found) {
      fmt::print(stderr,
                 "tandem: no quarantined record with key {} (keys as `tandem quarantine list` shows them)\n",
                 key);
      return kExitUsage;
    }
    return kExitOk;
  }
  // retry: re-read each quarantined record from old and copy it if it now decodes.
  int64_t fixed = 0, still_bad = 0;
  for (const QuarantineEntry& e : *entries) {
    const CollectionSchema* schema = (*m)->config().find_collection(e.collection);
    auto k = Key::decode(e.key);
    if (schema == nullptr || !k.ok() || e.key.empty()) {
      ++still_bad;
      continue;
    }
    auto batch = OperatorTools(**m).store(Side::kOld).scan_batch(e.collection, KeyRange{*k, std::nullopt}, 1);
    if (!batch.ok()) return report(batch.status());
    if (batch->records.empty() || batch->records[0].key != *k) {
      ++still_bad;
      continue;
    }
    auto inserted = OperatorTools(**m)
                        .store(Side::kNew)
                        .insert_if_absent(e.collection, batch->records, LockPolicy::kTryLockEach);
    if (!inserted.ok() || (*inserted)[0] == InsertOutcome::kLocked) {
      ++still_bad;
      continue;
    }
    Status s = OperatorTools(**m).control().remove_quarantine(e.id);
    if (!s.ok()) return report(s);
    ++fixed;
  }
  fmt::print("retried {} quarantined record(s): {} copied or already present, {} still bad\n",
             fixed + still_bad, fixed, still_bad);
  return still_bad == 0 ? kExitOk : kExitError;
}

}  // namespace tandem::cli
