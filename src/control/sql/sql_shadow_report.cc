// The control store on a database server, the shadow report: mismatch
// counters and samples.
#include <fmt/format.h>

#include "control/sql/sql_control_store.h"

namespace tandem::control_sql {

namespace {
Result<MismatchKind> parse_kind(std::string_view s) {
  for (MismatchKind k : {MismatchKind::kMissingInSecondary, MismatchKind::kExtraInSecondary,
                         MismatchKind::kDifferent, MismatchKind::kSecondaryError}) {
    if (mismatch_kind_name(k) == s) return k;
  }
  return Status::Corruption(fmt::format("control store: unknown mismatch kind '{}'", s));
}
}  // namespace

const std::vector<std::string_view> kShadowSchema = {
    "CREATE TABLE IF NOT EXISTS tandem_shadow_counters (collection $KEYTEXT NOT NULL, kind $KEYTEXT NOT "
    "NULL, "
    "mismatches BIGINT NOT NULL, PRIMARY KEY (collection, kind))$OPTIONS",
    "CREATE TABLE IF NOT EXISTS tandem_shadow_samples (id $ID, collection $TEXT NOT NULL, "
    "key_display $TEXT NOT NULL, kind $TEXT NOT NULL, primary_value $TEXT NOT NULL, "
    "secondary_value $TEXT NOT NULL, at BIGINT NOT NULL)$OPTIONS",
};

Status SqlControlStore::add_shadow_mismatches(std::string_view collection, MismatchKind kind, int64_t n) {
  return exec1(
             fmt::format("INSERT INTO tandem_shadow_counters (collection, kind, mismatches) VALUES (?, ?, ?) "
                         "{} mismatches = tandem_shadow_counters.mismatches + {}",
                         dialect().on_conflict("collection, kind"), dialect().excluded("mismatches")),
             {Param::of(collection), Param::of(mismatch_kind_name(kind)), Param::of(n)},
             fmt::format("adding shadow mismatch counts of '{}' in tandem_shadow_counters", collection))
      .status();
}

Status SqlControlStore::add_shadow_sample(const ShadowSample& s, size_t keep_at_most) {
  TANDEM_ASSIGN_OR_RETURN(int64_t n, count("tandem_shadow_samples"));
  if (static_cast<size_t>(n) >= keep_at_most) return Status::Ok();
  return exec1(fmt::format("INSERT INTO tandem_shadow_samples (collection, key_display, kind, primary_value, "
                           "secondary_value, at) VALUES (?, ?, ?, ?, ?, {})",
                           dialect().now_micros),
               {Param::of(s.collection), Param::of(s.key_display), Param::of(mismatch_kind_name(s.kind)),
                Param::of(s.primary), Param::of(s.secondary)},
               fmt::format("sampling a shadow mismatch of '{}' in tandem_shadow_samples", s.collection))
      .status();
}

Result<std::map<std::pair<std::string, MismatchKind>, int64_t>> SqlControlStore::shadow_counters() {
  TANDEM_ASSIGN_OR_RETURN(auto rows, query1("SELECT collection, kind, mismatches FROM tandem_shadow_counters",
                                            {}, "reading tandem_shadow_counters"));
  std::map<std::pair<std::string, MismatchKind>, int64_t> out;
  for (const Row& r : rows) {
    TANDEM_ASSIGN_OR_RETURN(MismatchKind kind, parse_kind(r[1].value_or("")));
    TANDEM_ASSIGN_OR_RETURN(int64_t n, as_int(r[2], "tandem_shadow_counters.mismatches"));
    out[std::make_pair(r[0].value_or(""), kind)] = n;
  }
  return out;
}

Result<std::vector<ShadowSample>> SqlControlStore::shadow_samples(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          query1("SELECT collection, key_display, kind, primary_value, "
                                 "secondary_value, at FROM tandem_shadow_samples ORDER BY id LIMIT ?",
                                 {Param::of(static_cast<int64_t>(limit))}, "reading tandem_shadow_samples"));
  std::vector<ShadowSample> out;
  for (const Row& r : rows) {
    ShadowSample s;
    s.collection = r[0].value_or("");
    s.key_display = r[1].value_or("");
    TANDEM_ASSIGN_OR_RETURN(s.kind, parse_kind(r[2].value_or("")));
    s.primary = r[3].value_or("");
    s.secondary = r[4].value_or("");
    TANDEM_ASSIGN_OR_RETURN(int64_t at, as_int(r[5], "tandem_shadow_samples.at"));
    s.at = from_micros(at);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace tandem::control_sql
