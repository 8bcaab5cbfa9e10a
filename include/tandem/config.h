// Config: a migration's configuration, read from a TOML file (tandem.toml).
//
//   [migration]
//   name = "users-to-new"
//   control = "sqlite:tandem-control.db"   # relative paths: from the file's folder
//   refresh_interval_ms = 1000               # how soon a step change is picked up
//   instance_timeout_ms = 10000              # an instance's lease: heartbeat age after which it
//                                            # is gone (at least 3 refresh intervals)
//   fence = "lease"                          # "lease" (default): an instance that cannot renew
//                                            # its lease stops routing; "operator": it keeps
//                                            # routing, and no step moves while it is silent
//                                            # until it renews or `tandem instances forget`
//   lock_timeout_ms = 10000
//   shadow_sample_every = 100                # 1 in N shadow mismatches is sampled
//   shadow_sample_limit = 1000
//   max_cascade_records = 1000               # children one write-secondary sync copies
//                                            # through relations; more: queued for repair
//   ignore_relations = ["orders_ibfk_2"]     # old's foreign keys tandem does not follow
//                                            # (none of their cascades copied; verify shows
//                                            # what they change); default: none
//
//   [databases]
//   old = "sqlite:old.db"
//   new = "sqlite:new.db"
//
//   [[collections]]
//   name = "users"
//   key = ["id"]
//   columns = [ { name = "id", type = "int" }, { name = "email", type = "text", nullable = false } ]
//   new_only = false       # true: old has no such table; `tandem init` creates it in new
//                          # anyway, and old is never opened for it (a step that reads or
//                          # writes old fails for it, naming the collection)
//   [collections.old]      # optional: old's shape when it differs (see tandem/mapping.h)
//
//   [[plan.steps]]        # optional; default: the brief's seven steps
//   name = "old-only"
//   read_primary = "old"  write_primary = "old"
//   read_secondary = "new"  read_secondary_mode = "shadow"  write_secondary = "new"
//
// Every error names the file, the table/entry and the option at fault.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/mapping.h"
#include "tandem/plan.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem {

// kLease: an instance routes only while its lease is held; a silent instance
// counts as gone once its lease has certainly expired. kOperator: an instance
// keeps routing by its last step while the control store is unreachable; no
// step moves (and no backfill starts) while any instance is silent, until it
// renews or an operator forgets it (`tandem instances forget`).
enum class FencePolicy : uint8_t { kLease, kOperator };
std::string_view fence_policy_name(FencePolicy policy);

struct Config {
  std::string migration_name = "tandem";
  std::string control_url;
  std::string old_url;
  std::string new_url;
  std::chrono::milliseconds refresh_interval{1000};
  std::chrono::milliseconds instance_timeout{10000};
  std::chrono::milliseconds lock_timeout{10000};
  // What an instance that cannot reach the control store does (migration.h).
  FencePolicy fence = FencePolicy::kLease;
  int64_t shadow_sample_every = 100;
  int64_t shadow_sample_limit = 1000;
  int64_t max_cascade_records = 1000;
  // Old's foreign keys (by constraint name) that tandem does not follow:
  // not refused at open, their cascades not copied, not required in new.
  std::set<std::string, std::less<>> ignore_relations;
  std::vector<CollectionSchema> collections;
  // Per collection name: how old's records become new's, when they differ.
  std::map<std::string, CollectionMapping> mappings;
  // Names of the collections marked `new_only = true`: old has no table for
  // them. Everywhere else a collection's old table must exist.
  std::set<std::string, std::less<>> new_only;
  Plan plan = Plan::default_plan();

  static Result<Config> load_file(const std::filesystem::path& path);
  // source names the text in errors; relative database paths resolve from base_dir.
  static Result<Config> parse(std::string_view toml_text, std::string_view source,
                              const std::filesystem::path& base_dir);
  Status validate() const;

  // Hash of what must not change during a migration: the plan and the
  // collections (not URLs, credentials or intervals).
  std::string fingerprint() const;
  const CollectionSchema* find_collection(std::string_view name) const;
  bool is_new_only(std::string_view collection) const { return new_only.find(collection) != new_only.end(); }
  // The named collections (all if names is empty); kInvalidArgument names an unknown one.
  Result<std::vector<const CollectionSchema*>> select_collections(
      const std::vector<std::string>& names) const;
};

}  // namespace tandem
