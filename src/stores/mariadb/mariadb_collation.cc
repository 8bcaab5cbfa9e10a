#include "stores/mariadb/mariadb_collation.h"

#include <fmt/format.h>

#include <map>
#include <mutex>

#include "core/utf8.h"
#include "stores/mariadb/mariadb_store.h"
#include "stores/mariadb/mariadb_table.h"

namespace tandem::mariadb {

namespace {

enum class Kind : uint8_t { kPerCharacter, kUcaAscii };

bool plain_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// How tandem identifies keys under the collation, or the reason it cannot.
Result<Kind> classify(const std::string& charset, const std::string& collation) {
  std::string rest = collation.starts_with(charset + "_") ? collation.substr(charset.size() + 1) : collation;
  bool uca =
      rest.find("unicode") != std::string::npos || rest.starts_with("0900") || rest.starts_with("uca1400");
  if (uca) {
    static const char* const kRoot[] = {"unicode_ci",           "unicode_nopad_ci",    "unicode_520_ci",
                                        "unicode_520_nopad_ci", "0900_ai_ci",          "0900_as_ci",
                                        "0900_as_cs",           "uca1400_ai_ci",       "uca1400_ai_cs",
                                        "uca1400_as_ci",        "uca1400_as_cs",       "uca1400_nopad_ai_ci",
                                        "uca1400_nopad_ai_cs",  "uca1400_nopad_as_ci", "uca1400_nopad_as_cs"};
    if (std::find(std::begin(kRoot), std::end(kRoot), rest) == std::end(kRoot)) {
      return Status::FailedPrecondition(
          "it is a language tailoring (contractions such as Czech 'ch' make a key's identity more than "
          "its characters' weights); tandem identifies keys under per-character collations (general_ci, "
          "_bin, 8-bit) and root UCA collations on printable ASCII");
    }
    return Kind::kUcaAscii;
  }
  static const char* const kPerCharacter[] = {
      "general_ci", "general_nopad_ci", "general_mysql500_ci", "general_cs",      "bin",
      "nopad_bin",  "swedish_ci",       "swedish_nopad_ci",    "general_nopad_cs"};
  bool single_byte = charset == "latin1" || charset == "ascii" || charset == "latin2" ||
                     charset == "latin5" || charset == "latin7" || charset == "cp1250" ||
                     charset == "cp1251" || charset == "cp1256" || charset == "cp1257" ||
                     charset == "greek" || charset == "hebrew" || charset == "koi8r" || charset == "koi8u";
  bool utf8 = charset == "utf8mb4" || charset == "utf8mb3" || charset == "utf8";
  if ((utf8 || single_byte) &&
      (std::find(std::begin(kPerCharacter), std::end(kPerCharacter), rest) != std::end(kPerCharacter) ||
       (single_byte && rest.find("german2") == std::string::npos &&
        rest.find("czech") == std::string::npos))) {
    return Kind::kPerCharacter;
  }
  if (utf8) {
    // The utf8 collations besides general_ci, _bin and root UCA are UCA
    // language tailorings (utf8mb4_czech_ci, utf8mb4_german2_ci, ...).
    return Status::FailedPrecondition(fmt::format(
        "{} is a language tailoring (contractions such as Czech 'ch' and expansions such as German 'ä' = "
        "'ae' "
        "make a key's identity more than its characters' weights); tandem identifies keys under "
        "per-character collations (general_ci, _bin, 8-bit) and root UCA collations on printable ASCII",
        collation));
  }
  return Status::FailedPrecondition(fmt::format(
      "tandem identifies keys under per-character collations of utf8mb4, utf8mb3 and 8-bit character sets "
      "(general_ci, _bin, latin1_swedish_ci, ...) and root UCA collations on printable ASCII; {} is neither",
      collation));
}

// "CONVERT(CONVERT(? USING utf8mb4) USING cs) COLLATE coll": a bound UTF-8
// text in the column's character set and collation.
std::string as_column(const std::string& charset, const std::string& collation) {
  return fmt::format("CONVERT(CONVERT(? USING utf8mb4) USING {}) COLLATE {}", charset, collation);
}

Result<std::string> weight_of(Connection& conn, const std::string& expr, const std::string& text,
                              std::string_view what) {
  std::string out;
  bool null = false;
  TANDEM_RETURN_IF_ERROR(conn.run(fmt::format("SELECT WEIGHT_STRING({})", expr), {Param::bytes(text)}, what,
                                  [&](const Row& r) {
                                    null = r.is_null(0);
                                    if (!null) out = std::string(r.text(0));
                                    return Status::Ok();
                                  })
                             .status());
  if (null) return Status::FailedPrecondition("the server gave no weight string");
  return out;
}

uint32_t weight_at(std::string_view w, size_t i, size_t width) {
  uint32_t v = 0;
  for (size_t b = 0; b < width; ++b) v = (v << 8) | static_cast<unsigned char>(w[i * width + b]);
  return v;
}

// Reads every code point's weight of a per-character collation: one
// statement per plane, the plane's characters converted to the column's
// character set and back (a character the set cannot hold has no weight).
Status read_planes(Connection& conn, const std::string& charset, const std::string& collation, size_t width,
                   std::vector<uint32_t>& weights, std::string_view what) {
  const std::string expr = as_column(charset, collation);
  const char32_t planes = charset == "utf8mb4" ? 17 : 1;
  for (char32_t plane = 0; plane < planes; ++plane) {
    std::u32string cps;
    std::string text;
    for (char32_t c = plane << 16; c < ((plane + 1) << 16); ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;
      cps.push_back(c);
      append_utf8(text, c);
    }
    std::string back, w;
    TANDEM_RETURN_IF_ERROR(conn.run(fmt::format("SELECT CONVERT({} USING utf8mb4), WEIGHT_STRING({})",
                                                expr.substr(0, expr.find(" COLLATE ")), expr),
                                    {Param::bytes(text), Param::bytes(text)}, what,
                                    [&](const Row& r) {
                                      if (!r.is_null(0)) back = std::string(r.text(0));
                                      if (!r.is_null(1)) w = std::string(r.text(1));
                                      return Status::Ok();
                                    })
                               .status());
    std::u32string round;
    if (!decode_utf8(back, round) || round.size() != cps.size() || w.size() != cps.size() * width) {
      return Status::FailedPrecondition(
          fmt::format("its weights are not one per character (plane {}: {} characters, {} weight bytes)",
                      static_cast<uint32_t>(plane), cps.size(), w.size()));
    }
    for (size_t i = 0; i < cps.size(); ++i) {
      if (round[i] == cps[i]) weights[cps[i]] = weight_at(w, i, width);
    }
  }
  return Status::Ok();
}

// Printable ASCII under a UCA collation: each character's weight, and every
// pair weighing as its two characters (no contraction, no ignorable).
Status read_ascii(Connection& conn, const std::string& charset, const std::string& collation, size_t width,
                  std::vector<uint32_t>& weights, std::string_view what) {
  const std::string expr = as_column(charset, collation);
  std::string all;
  for (char32_t c = 0x20; c < 0x7F; ++c) all += static_cast<char>(c);
  TANDEM_ASSIGN_OR_RETURN(std::string w, weight_of(conn, expr, all, what));
  if (w.size() != all.size() * width) {
    return Status::FailedPrecondition("its weights of printable ASCII are not one per character");
  }
  for (size_t i = 0; i < all.size(); ++i) weights[0x20 + i] = weight_at(w, i, width);
  for (char a : all) {
    std::string pairs, expected;
    for (char b : all) {
      pairs += a;
      pairs += b;
      expected += w.substr((a - 0x20) * width, width);
      expected += w.substr((b - 0x20) * width, width);
    }
    TANDEM_ASSIGN_OR_RETURN(std::string got, weight_of(conn, expr, pairs, what));
    if (got != expected) {
      return Status::FailedPrecondition(
          fmt::format("a pair of printable ASCII characters starting with '{}' does not weigh as its two "
                      "characters (a contraction)",
                      a));
    }
  }
  return Status::Ok();
}

// Keys the server calls equal or unequal must have equal or unequal
// identities: the probe compares both on keys that differ by case, accents,
// trailing spaces, expansions and supplementary characters.
Status probe(Connection& conn, const TextCollation& tc, const std::string& charset,
             const std::string& collation, std::string_view what) {
  static const char* const kKeys[] = {"Abc",    "abc",     "ABC",    "àbc",     "résumé", "RESUME", "resume",
                                      "straße", "STRASSE", "strase", "😀",       "😁",      "a ",     "a",
                                      "a\t",    "Müller",  "MULLER", "mueller", "ǅ",      "dž",     "x  ",
                                      "x",      "É",       "e",      "ﬁ",       "fi"};
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<bool> expected;
  for (const char* a : kKeys) {
    for (const char* b : kKeys) {
      if (std::string_view(a) >= std::string_view(b)) continue;
      auto ia = tc.identity(a), ib = tc.identity(b);
      if (!ia.ok() || !ib.ok()) continue;  // outside the repertoire: never identified
      pairs.emplace_back(a, b);
      expected.push_back(*ia == *ib);
    }
  }
  const std::string expr = as_column(charset, collation);
  for (size_t start = 0; start < pairs.size(); start += 100) {
    size_t end = std::min(pairs.size(), start + 100);
    std::vector<std::string> terms;
    std::vector<Param> params;
    for (size_t i = start; i < end; ++i) {
      terms.push_back(fmt::format("{0} = {0}", expr));
      params.push_back(Param::bytes(pairs[i].first));
      params.push_back(Param::bytes(pairs[i].second));
    }
    Status mismatch;
    TANDEM_RETURN_IF_ERROR(
        conn.run(fmt::format("SELECT {}", fmt::join(terms, ", ")), params, what,
                 [&](const Row& r) {
                   for (size_t i = start; i < end; ++i) {
                     bool equal = !r.is_null(i - start) && r.integer(i - start) == 1;
                     if (equal != expected[i] && mismatch.ok()) {
                       mismatch = Status::FailedPrecondition(
                           fmt::format("the server calls '{}' and '{}' {} but their weights say otherwise",
                                       pairs[i].first, pairs[i].second, equal ? "equal" : "different"));
                     }
                   }
                   return Status::Ok();
                 })
            .status());
    TANDEM_RETURN_IF_ERROR(mismatch);
  }
  return Status::Ok();
}

Result<std::shared_ptr<const TextCollation>> build(Connection& conn, const std::string& charset,
                                                   const std::string& collation, std::string_view what) {
  TANDEM_ASSIGN_OR_RETURN(Kind kind, classify(charset, collation));
  const std::string expr = as_column(charset, collation);
  TANDEM_ASSIGN_OR_RETURN(std::string one, weight_of(conn, expr, "A", what));
  if (one.empty() || one.size() > 4) {
    return Status::FailedPrecondition(fmt::format("the weight of 'A' has {} bytes", one.size()));
  }
  bool pad_space = false;
  TANDEM_RETURN_IF_ERROR(conn.run(fmt::format("SELECT {0} = {0}", expr),
                                  {Param::bytes("a"), Param::bytes("a ")}, what,
                                  [&](const Row& r) {
                                    pad_space = !r.is_null(0) && r.integer(0) == 1;
                                    return Status::Ok();
                                  })
                             .status());
  std::vector<uint32_t> weights(TextCollation::kCodePoints, TextCollation::kNoWeight);
  if (kind == Kind::kPerCharacter) {
    TANDEM_RETURN_IF_ERROR(read_planes(conn, charset, collation, one.size(), weights, what));
  } else {
    TANDEM_RETURN_IF_ERROR(read_ascii(conn, charset, collation, one.size(), weights, what));
  }
  auto tc = std::make_shared<const TextCollation>(collation, pad_space, std::move(weights),
                                                  static_cast<int>(one.size()));
  TANDEM_RETURN_IF_ERROR(probe(conn, *tc, charset, collation, what));
  return tc;
}

}  // namespace

Result<std::shared_ptr<const TextCollation>> read_collation(Connection& conn, std::string_view store,
                                                            std::string_view table, std::string_view column,
                                                            const std::string& charset,
                                                            const std::string& collation) {
  auto refuse = [&](const Status& why) {
    return Status::FailedPrecondition(fmt::format(
        "{} database: key column '{}.{}' uses the collation {}, under which tandem cannot tell which keys "
        "are one record: {}. Migrate it through a column of a supported collation (tandem never alters old)",
        store, table, column, collation, why.message()));
  };
  if (!plain_name(charset) || !plain_name(collation))
    return refuse(Status::InvalidArgument("unexpected name"));
  std::string server;
  TANDEM_RETURN_IF_ERROR(conn.run("SELECT CONCAT(@@hostname, ':', @@port, ':', VERSION())", {},
                                  "reading the server's identity",
                                  [&](const Row& r) {
                                    server = r.as_text(0);
                                    return Status::Ok();
                                  })
                             .status());
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const TextCollation>> cache;
  const std::string cache_key = server + "/" + collation;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(cache_key);
    if (it != cache.end()) return it->second;
  }
  auto built = build(conn, charset, collation, fmt::format("reading the weights of collation {}", collation));
  if (!built.ok()) {
    if (built.status().code() != Code::kFailedPrecondition) return built.status();
    return refuse(built.status());
  }
  std::lock_guard<std::mutex> lock(mutex);
  cache.emplace(cache_key, *built);
  return *built;
}

// Declared in mariadb_store.h: the table's key identity, from the server's
// weights (read_collation above).
Status MariaDbStore::identify_keys(Connection& conn, Table& t,
                                   const std::unordered_map<std::string, ColumnType>& types) {
  std::vector<std::shared_ptr<const TextCollation>> columns;
  for (const Column& c : t.schema.key_columns) {
    const ColumnType& ct = types.at(c.name);
    if (c.type != Type::kText || ct.collation.empty() || ct.is_binary_string() ||
        ct.collation.ends_with("_bin") || ct.collation == "binary") {
      columns.push_back(nullptr);
      continue;
    }
    TANDEM_ASSIGN_OR_RETURN(auto tc,
                            read_collation(conn, name_, t.schema.name, c.name, ct.charset, ct.collation));
    columns.push_back(std::move(tc));
  }
  t.identity = std::make_shared<const KeyIdentity>(std::move(columns));
  if (t.collated()) {
    TANDEM_ASSIGN_OR_RETURN(
        uint64_t referenced,
        conn.run(
            "SELECT 1 FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() "
            "AND REFERENCED_TABLE_NAME = ? LIMIT 1",
            {Param::of(t.schema.name)}, fmt::format("reading the foreign keys to table '{}'", t.schema.name),
            [](const Row&) { return Status::Ok(); }));
    t.respells = referenced == 0;
  }
  return Status::Ok();
}

}  // namespace tandem::mariadb
