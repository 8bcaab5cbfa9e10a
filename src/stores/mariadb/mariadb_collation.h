// The identity of a MariaDB/MySQL text key column under its collation, read
// from the server at open (reads only: WEIGHT_STRING, CONVERT, comparisons).
// Included by the MariaDB store's sources only.
//
// Per-character collations (the general_ci family, *_bin, the 8-bit ones
// such as latin1_swedish_ci) identify keys over the column's whole character
// set: every code point's weight is read once, plane by plane. UCA collations
// (*_unicode_ci, *_unicode_520_ci, *_0900_*, uca1400_*) are accepted on
// printable ASCII keys only (U+0020..U+007E), after checking that no pair of
// those characters weighs other than its two weights (no contraction).
// Language tailorings and other multi-byte character sets are refused with
// the reason. Every collation is probed: keys the server calls equal (and
// unequal) must have equal (and unequal) identities.
#pragma once

#include <memory>
#include <string>

#include "stores/mariadb/mariadb_connection.h"
#include "tandem/key_identity.h"

namespace tandem::mariadb {

// The collation of column `table.column` (charset, collation as the
// information schema names them), cached per server and collation.
// kFailedPrecondition naming the store, the column and the collation, with
// the reason, when tandem cannot identify its keys.
Result<std::shared_ptr<const TextCollation>> read_collation(Connection& conn, std::string_view store,
                                                            std::string_view table, std::string_view column,
                                                            const std::string& charset,
                                                            const std::string& collation);

}  // namespace tandem::mariadb
