// PostgresStore::portable_digest: a range's count and hash computed by the
// server from a canonical text of each row that MariaDB computes alike (see
// Store::portable_digest).
#include <fmt/format.h>

#include "stores/postgres/postgres_store.h"
#include "stores/postgres/postgres_table.h"
#include "stores/sql_text.h"

namespace tandem::postgres {

namespace {
// The canonical text of one column for the portable digest (see store.h).
std::string portable_pg(const Column& c) {
  std::string q = quote_identifier(c.name);
  std::string v;
  switch (c.type) {
    case Type::kInt:
      v = fmt::format("{}::text", q);
      break;
    case Type::kBool:
      v = fmt::format("CASE WHEN {} THEN '1' ELSE '0' END", q);
      break;
    case Type::kText:
      v = fmt::format("octet_length({0}::text)::text || ':' || {0}::text", q);
      break;
    case Type::kBytes:
      v = fmt::format("encode({}, 'hex')", q);
      break;
    case Type::kTimestamp:
      // 'infinity' has no epoch: such a row is quarantined, and its term
      // only has to not fail the whole range's digest.
      v = fmt::format(
          "CASE WHEN isfinite({0}) THEN (EXTRACT(EPOCH FROM {0}) * 1000000)::numeric(30,0)::text "
          "ELSE {0}::text END",
          q);
      break;
    case Type::kDecimal:
      v = fmt::format("trim_scale({})::text", q);
      break;
    default:  // uuid
      v = fmt::format("lower({}::text)", q);
      break;
  }
  return fmt::format("CASE WHEN {} IS NULL THEN 'N' ELSE 'V' || {} END", q, v);
}
}  // namespace

Result<std::optional<Digest>> PostgresStore::portable_digest(std::string_view collection,
                                                             const KeyRange& range) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  std::optional<std::vector<std::string>> parts = portable_digest_terms(t->schema, portable_pg);
  if (!parts) return std::optional<Digest>();
  std::string select = fmt::format(
      "COUNT(*)::text, COALESCE(SUM(('x' || substr(md5({}), 1, 16))::bit(64)::bigint::numeric), 0)::text",
      fmt::join(*parts, " || '|' || "));
  Digest d;
  TANDEM_RETURN_IF_ERROR(for_each_row(*t, range, select, "", [&](const sql::SqlRow& r) -> Result<bool> {
    TANDEM_ASSIGN_OR_RETURN(int64_t count, r.integer(0));
    d.count = static_cast<uint64_t>(count);
    TANDEM_ASSIGN_OR_RETURN(std::string sum, r.text(1));
    TANDEM_ASSIGN_OR_RETURN(d.hash, sum_mod_2_64(sum));
    return true;
  }));
  return std::optional<Digest>(d);
}

}  // namespace tandem::postgres
