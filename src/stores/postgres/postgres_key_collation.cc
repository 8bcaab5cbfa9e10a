#include "stores/postgres/postgres_key_collation.h"

#include <fmt/format.h>

#include "stores/postgres/postgres_codec.h"

namespace tandem::postgres {

Status check_key_collations(Connection& conn, std::string_view store, const CollectionSchema& schema) {
  TANDEM_ASSIGN_OR_RETURN(
      PgResult r,
      conn.exec("SELECT a.attname, co.collname, co.collprovider::text FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
                "JOIN pg_collation co ON co.oid = a.attcollation "
                "WHERE c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped AND NOT co.collisdeterministic",
                {text_param(schema.name)},
                fmt::format("reading the key collations of table '{}'", schema.name)));
  for (int row = 0; row < r.rows(); ++row) {
    std::string_view column = r.text(row, 0);
    for (const Column& c : schema.key_columns) {
      if (c.name != column) continue;
      return Status::FailedPrecondition(fmt::format(
          "{} database: key column '{}.{}' uses the nondeterministic collation {}, under which keys "
          "differing "
          "in spelling ('abc', 'ABC') are one record; tandem identifies collated keys only from "
          "MariaDB/MySQL "
          "in this version (planned: ICU sort keys checked against pg_collation_actual_version). Key the "
          "table by a deterministic text column (COLLATE \"C\")",
          store, schema.name, c.name, r.text(row, 1)));
    }
  }
  return Status::Ok();
}

}  // namespace tandem::postgres
