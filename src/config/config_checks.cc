// Config's checks and lookups once parsed (validate, fingerprint, the
// collections by name); parsing is in config.cc.
#include <fmt/format.h>

#include <set>

#include "core/encoding.h"
#include "tandem/config.h"
#include "tandem/mapping.h"

namespace tandem {

Status Config::validate() const {
  TANDEM_RETURN_IF_ERROR(plan.validate());
  if (collections.empty()) return Status::Config("no collections: add at least one [[collections]]");
  std::set<std::string, std::less<>> names;
  for (const CollectionSchema& c : collections) {
    TANDEM_RETURN_IF_ERROR(c.validate());
    if (!names.insert(c.name).second)
      return Status::Config(fmt::format("collection '{}' appears twice", c.name));
  }
  if (old_url.empty() || new_url.empty()) return Status::Config("[databases] needs both old and new");
  if (old_url == new_url) return Status::Config("[databases] old and new are the same database");
  if (refresh_interval.count() <= 0)
    return Status::Config("[migration] refresh_interval_ms must be positive");
  if (instance_timeout < 3 * refresh_interval) {
    return Status::Config(fmt::format(
        "[migration] instance_timeout_ms ({}) must be at least 3 x refresh_interval_ms ({}): it is each "
        "instance's lease, renewed by every refresh, and an instance stops routing when it could not renew "
        "for 4/5 of it",
        instance_timeout.count(), refresh_interval.count()));
  }
  return Status::Ok();
}

std::string_view fence_policy_name(FencePolicy policy) {
  return policy == FencePolicy::kOperator ? "operator" : "lease";
}

std::string Config::fingerprint() const {
  std::string canon;
  for (const Step& s : plan.steps) canon += fmt::format("step:{}:{};", s.name, s.roles_display());
  // Every process of a migration must fence alike (only when not the
  // default, so that configs without it keep their fingerprint).
  if (fence != FencePolicy::kLease) canon += "fence:operator;";
  for (const CollectionSchema& c : collections) {
    canon += "collection:" + c.name + ":";
    for (const Column& k : c.key_columns) canon += fmt::format("key {} {};", k.name, type_name(k.type));
    for (const Column& k : c.columns)
      canon += fmt::format("col {} {} {};", k.name, type_name(k.type), k.nullable);
  }
  // A mapping changes what new holds: it is part of the fingerprint (only when present,
  // so that configs without one keep their fingerprint).
  for (const auto& [name, m] : mappings) {
    canon += fmt::format("mapping {} from {} doc {} unknown {} keep {};", name, m.old_schema.name,
                         m.document.value_or(""), static_cast<int>(m.unknown), m.keep_in);
    for (const Column& k : m.old_schema.key_columns)
      canon += fmt::format("okey {} {};", k.name, type_name(k.type));
    for (const Column& k : m.old_schema.columns)
      canon += fmt::format("ocol {} {};", k.name, type_name(k.type));
    for (const FieldMapping& f : m.fields) canon += fmt::format("map {} {} {};", f.column, f.from, f.convert);
    for (const std::string& d : m.drop) canon += fmt::format("drop {};", d);
  }
  return fmt::format("{:016x}", hash_bytes(canon));
}

const CollectionSchema* Config::find_collection(std::string_view name) const {
  for (const CollectionSchema& c : collections) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Result<std::vector<const CollectionSchema*>> Config::select_collections(
    const std::vector<std::string>& names) const {
  std::vector<const CollectionSchema*> out;
  if (names.empty()) {
    for (const CollectionSchema& c : collections) out.push_back(&c);
    return out;
  }
  for (const std::string& name : names) {
    const CollectionSchema* c = find_collection(name);
    if (c == nullptr) return Status::InvalidArgument(fmt::format("no collection '{}' in the config", name));
    out.push_back(c);
  }
  return out;
}

}  // namespace tandem
