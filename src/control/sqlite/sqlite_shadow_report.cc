// The SQLite control store, the shadow report: mismatch counters and samples.
#include <fmt/format.h>

#include "control/sqlite/sqlite_control_store.h"

namespace tandem {

using sqlite::Statement;

namespace {
Result<MismatchKind> parse_kind(std::string_view s) {
  for (MismatchKind k : {MismatchKind::kMissingInSecondary, MismatchKind::kExtraInSecondary,
                         MismatchKind::kDifferent, MismatchKind::kSecondaryError}) {
    if (mismatch_kind_name(k) == s) return k;
  }
  return Status::Corruption(fmt::format("control store: unknown mismatch kind '{}'", s));
}
}  // namespace

// Shadow mismatch counters and samples.
const char* const kSqliteShadowSchema = R"sql(
CREATE TABLE IF NOT EXISTS tandem_shadow_counters (
  collection TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (collection, kind));
CREATE TABLE IF NOT EXISTS tandem_shadow_samples (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, key_display TEXT NOT NULL,
  kind TEXT NOT NULL, primary_value TEXT NOT NULL, secondary_value TEXT NOT NULL, at INTEGER NOT NULL);
)sql";

Status SqliteControlStore::add_shadow_mismatches(std::string_view collection, MismatchKind kind, int64_t n) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(
      auto raw,
      conn->prepare("INSERT INTO tandem_shadow_counters (collection, kind, count) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (collection, kind) DO UPDATE SET count = count + excluded.count"));
  Statement st(*conn, raw);
  st.bind_text(1, collection);
  st.bind_text(2, mismatch_kind_name(kind));
  st.bind_int(3, n);
  return st.run("adding shadow mismatch counts");
}

Status SqliteControlStore::add_shadow_sample(const ShadowSample& s, size_t keep_at_most) {
  TANDEM_ASSIGN_OR_RETURN(int64_t n, count("tandem_shadow_samples"));
  if (static_cast<size_t>(n) >= keep_at_most) return Status::Ok();
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("INSERT INTO tandem_shadow_samples (collection, "
                                                  "key_display, kind, primary_value, secondary_value, at) "
                                                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  Statement st(*conn, raw);
  st.bind_text(1, s.collection);
  st.bind_text(2, s.key_display);
  st.bind_text(3, mismatch_kind_name(s.kind));
  st.bind_text(4, s.primary);
  st.bind_text(5, s.secondary);
  st.bind_int(6, now_micros().time_since_epoch().count());
  return st.run("sampling a shadow mismatch");
}

Result<std::map<std::pair<std::string, MismatchKind>, int64_t>> SqliteControlStore::shadow_counters() {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw,
                          conn->prepare("SELECT collection, kind, count FROM tandem_shadow_counters"));
  Statement st(*conn, raw);
  std::map<std::pair<std::string, MismatchKind>, int64_t> out;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading shadow counters"));
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(MismatchKind kind, parse_kind(st.column_text(1)));
    out[{st.column_text(0), kind}] = st.column_int(2);
  }
  return out;
}

Result<std::vector<ShadowSample>> SqliteControlStore::shadow_samples(size_t limit) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  TANDEM_ASSIGN_OR_RETURN(auto raw, conn->prepare("SELECT collection, key_display, kind, primary_value, "
                                                  "secondary_value, at FROM tandem_shadow_samples "
                                                  "ORDER BY id LIMIT ?1"));
  Statement st(*conn, raw);
  st.bind_int(1, static_cast<int64_t>(limit));
  std::vector<ShadowSample> out;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(bool row, st.step("reading shadow samples"));
    if (!row) break;
    TANDEM_ASSIGN_OR_RETURN(MismatchKind kind, parse_kind(st.column_text(2)));
    out.push_back({st.column_text(0), st.column_text(1), kind, st.column_text(3), st.column_text(4),
                   from_micros(st.column_int(5))});
  }
  return out;
}

}  // namespace tandem
