// MariaDbStore's batch insert (insert_if_absent) and the checks of every
// write: record locks by GET_LOCK, tombstones and present keys read in
// chunks, strict multi-row INSERTs within max_allowed_packet.
#include <mysqld_error.h>

#include <algorithm>
#include <set>

#include "core/sync_point.h"
#include "stores/mariadb/mariadb_table.h"

namespace tandem::mariadb {

Result<std::vector<std::string>> MariaDbStore::tombstoned_among(
    Connection& conn, const Table& t, const std::vector<std::string>& encoded_keys) {
  std::vector<std::string> dead;
  if (encoded_keys.empty()) return dead;
  // First the tombstones between the least and the greatest key (bytewise,
  // as the column compares): one index range instead of a list whose range
  // analysis cost the server more than the read (Item_func_in in the
  // profile). A part's keys are neighbours in key order, so the range holds
  // about as many tombstones as the part's own; if it holds many more, the
  // keys are asked for by name.
  const auto [least, greatest] = std::minmax_element(encoded_keys.begin(), encoded_keys.end());
  const size_t cap = 4 * encoded_keys.size();
  TANDEM_RETURN_IF_ERROR(
      conn.run(fmt::format(
                   "SELECT \"key\" FROM tandem_tombstones WHERE collection = ? AND \"key\" BETWEEN ? AND ? "
                   "LIMIT {}",
                   cap + 1),
               {Param::of(t.schema.name), Param::bytes(*least), Param::bytes(*greatest)},
               "reading tombstones",
               [&](const Row& r) {
                 dead.emplace_back(r.text(0));
                 return Status::Ok();
               })
          .status());
  if (dead.size() <= cap) return dead;
  TANDEM_SYNC_POINT("mariadb.tombstones_by_name");
  dead.clear();
  size_t begin = 0;
  for (size_t n : chunk_sizes(encoded_keys.size(), 256)) {
    std::vector<Param> params = {Param::of(t.schema.name)};
    for (size_t i = begin; i < begin + n; ++i) params.push_back(Param::bytes(encoded_keys[i]));
    begin += n;
    TANDEM_RETURN_IF_ERROR(
        conn.run(fmt::format("SELECT \"key\" FROM tandem_tombstones WHERE collection = ? AND \"key\" IN ({})",
                             placeholders(n)),
                 params, "reading tombstones",
                 [&](const Row& r) {
                   dead.emplace_back(r.text(0));
                   return Status::Ok();
                 })
            .status());
  }
  return dead;
}

namespace {
// Releases the named locks a batch took on its connection, or closes the
// connection (which releases them) if that fails.
class BatchLocks {
 public:
  explicit BatchLocks(Connection& conn) : conn_(conn) {}
  ~BatchLocks() {
    if (taken_ && !conn_.broken() &&
        !conn_.exec_simple("DO RELEASE_ALL_LOCKS()", "releasing record locks").ok()) {
      conn_.discard();
    }
  }
  BatchLocks(const BatchLocks&) = delete;
  BatchLocks& operator=(const BatchLocks&) = delete;
  void taken() { taken_ = true; }

 private:
  Connection& conn_;
  bool taken_ = false;
};
}  // namespace

namespace {
// The unique index a duplicate-entry error names: "... for key 'name'".
std::string duplicate_index(std::string_view message) {
  size_t at = message.rfind("for key '");
  if (at == std::string_view::npos) return {};
  std::string_view rest = message.substr(at + 9);
  rest = rest.substr(0, rest.find('\''));
  if (size_t dot = rest.rfind('.'); dot != std::string_view::npos) rest.remove_prefix(dot + 1);
  return std::string(rest);
}
}  // namespace

Status MariaDbStore::check_writable(Connection& conn, const Table& t, const Key& key, const FieldMap& fields,
                                    size_t bytes) const {
  TANDEM_RETURN_IF_ERROR(t.check_exact_values(name_, key, fields));
  // The statement carries the record in one packet: one over the server's
  // max_allowed_packet would be refused, the connection closed, and a retry
  // refused again.
  if (bytes + kStatementOverhead > conn.max_packet()) {
    std::string largest;
    size_t largest_bytes = 0;
    for (const auto& [name, value] : fields) {
      if (param_bytes(value) > largest_bytes) {
        largest = name;
        largest_bytes = param_bytes(value);
      }
    }
    return Status::InvalidArgument(fmt::format(
        "{} collection '{}', record {}, field '{}': record {} is {} bytes, more than {}'s max_allowed_packet "
        "({}): raise max_allowed_packet on the {} server (SET GLOBAL max_allowed_packet = ...) or leave this "
        "record out",
        name_, t.schema.name, key.to_display(), largest, key.to_display(), bytes, name_, conn.max_packet(),
        name_));
  }
  return Status::Ok();
}

Result<std::vector<InsertOutcome>> MariaDbStore::insert_if_absent(std::string_view collection,
                                                                  std::span<const Record> records,
                                                                  LockPolicy policy) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  for (const Record& r : records) TANDEM_RETURN_IF_ERROR(t->schema.check_record(r));
  std::vector<InsertOutcome> outcomes(records.size(), InsertOutcome::kInserted);
  if (records.empty()) return outcomes;
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  // Each record's parameters, checked before anything is sent.
  std::vector<size_t> row_bytes(records.size());
  std::vector<std::string> encoded;
  encoded.reserve(records.size());
  std::set<std::string> distinct;
  for (size_t i = 0; i < records.size(); ++i) {
    TANDEM_ASSIGN_OR_RETURN(std::string id, t->id(records[i].key));
    encoded.push_back(std::move(id));
    if (!distinct.insert(encoded.back()).second) {
      return Status::Corruption(fmt::format(
          "{} collection '{}': the batch holds record {} twice (the source's configured key is not unique); "
          "nothing written",
          name_, t->schema.name, records[i].key.to_display()));
    }
    row_bytes[i] = write_bytes(records[i].key, records[i].fields);
    TANDEM_RETURN_IF_ERROR(check_writable(*conn, *t, records[i].key, records[i].fields, row_bytes[i]));
  }
  const std::string what =
      records.size() == 1
          ? fmt::format("inserting record {} into {} collection '{}'", records.front().key.to_display(),
                        name_, t->schema.name)
          : fmt::format("inserting a batch of {} records into {} collection '{}' (first {})", records.size(),
                        name_, t->schema.name, records.front().key.to_display());
  // In parts of kInsertPart records, each with its own locks and transaction
  // (the contract allows parts of at least 256): a session's named locks
  // are a list the server searches at every GET_LOCK, so a batch holding all
  // its locks at once cost the server time quadratic in its size (the
  // profile: MDL_context::find_ticket, a third of the server's CPU).
  for (size_t first = 0; first < records.size(); first += kInsertPart) {
    const size_t n = std::min(kInsertPart, records.size() - first);
    InsertPart part{records.subspan(first, n), std::span<const std::string>(encoded).subspan(first, n),
                    std::span<const size_t>(row_bytes).subspan(first, n),
                    std::span<InsertOutcome>(outcomes).subspan(first, n)};
    TANDEM_RETURN_IF_ERROR(insert_part(*conn, *t, part, policy, collection, what));
  }
  return outcomes;
}

Status MariaDbStore::insert_part(Connection& conn, const Table& t, const InsertPart& part, LockPolicy policy,
                                 std::string_view collection, const std::string& what) {
  // The part's record locks: named locks taken without waiting, up to 256 a
  // round trip, held until after the commit.
  BatchLocks locks(conn);
  if (policy == LockPolicy::kTryLockEach) {
    locks.taken();
    const std::string scope = lock_scope(database_, collection);
    size_t begin = 0;
    for (size_t n : chunk_sizes(part.records.size(), 256)) {
      std::vector<Param> params;
      std::string sql = "SELECT ";
      for (size_t i = begin; i < begin + n; ++i) {
        sql += i == begin ? "GET_LOCK(?, 0)" : ", GET_LOCK(?, 0)";
        params.push_back(Param::of(lock_name(scope, part.encoded[i])));
      }
      TANDEM_RETURN_IF_ERROR(conn.run(sql, params, what,
                                      [&](const Row& r) {
                                        for (size_t c = 0; c < n; ++c) {
                                          if (r.is_null(c) || r.integer(c) != 1) {
                                            part.outcomes[begin + c] = InsertOutcome::kLocked;
                                          }
                                        }
                                        return Status::Ok();
                                      })
                                 .status());
      begin += n;
    }
  }
  const bool blind = t.parts_without_present.load(std::memory_order_relaxed) >= Table::kBlindInsertAfter;
  TANDEM_ASSIGN_OR_RETURN(bool written, write_part(conn, t, part, blind, what));
  if (written) return Status::Ok();
  // A key was there after all: undone; ask first this time (the locks are still held).
  t.parts_without_present.store(0, std::memory_order_relaxed);
  return write_part(conn, t, part, /*blind=*/false, what).status();
}

Result<bool> MariaDbStore::write_part(Connection& conn, const Table& t, const InsertPart& part, bool blind,
                                      const std::string& what) {
  const size_t size = part.records.size();
  for (size_t i = 0; i < size; ++i) {
    if (part.outcomes[i] != InsertOutcome::kLocked) part.outcomes[i] = InsertOutcome::kInserted;
  }
  // A transfer is fenced (tandem/store.h, FenceScope); a backfill is not.
  TANDEM_ASSIGN_OR_RETURN(auto tx, begin_write(conn));
  if (options_.keep_tombstones) {
    std::vector<std::string> candidates;
    for (size_t i = 0; i < size; ++i) {
      if (part.outcomes[i] != InsertOutcome::kLocked) candidates.push_back(part.encoded[i]);
    }
    TANDEM_ASSIGN_OR_RETURN(std::vector<std::string> dead, tombstoned_among(conn, t, candidates));
    std::set<std::string> dead_set(dead.begin(), dead.end());
    for (size_t i = 0; i < size; ++i) {
      if (part.outcomes[i] != InsertOutcome::kLocked && dead_set.contains(part.encoded[i])) {
        part.outcomes[i] = InsertOutcome::kTombstoned;
      }
    }
  }
  std::vector<size_t> candidates;
  for (size_t i = 0; i < size; ++i) {
    if (part.outcomes[i] == InsertOutcome::kInserted) candidates.push_back(i);
  }
  // Which of them are present: one consistent read, up to 1,024 keys a
  // round trip; skipped when inserting blind.
  std::set<std::string> present;
  size_t begin = 0;
  for (size_t n : chunk_sizes(blind ? 0 : candidates.size(), 1024)) {
    std::vector<Param> params;
    std::string where;
    for (size_t j = 0; j < n; ++j) {
      t.add_key(params, part.records[candidates[begin + j]].key);
      if (t.quoted_keys.size() == 1) {
        where += j == 0 ? "?" : ", ?";
      } else {
        where += fmt::format("{}({})", j == 0 ? "" : " OR ", t.key_match);
      }
    }
    std::string sql =
        t.quoted_keys.size() == 1
            ? fmt::format("SELECT {} FROM {} WHERE {} IN ({})", t.key_columns, t.quoted, t.key_columns, where)
            : fmt::format("SELECT {} FROM {} WHERE {}", t.key_columns, t.quoted, where);
    TANDEM_RETURN_IF_ERROR(conn.run(sql, params, what,
                                    [&](const Row& r) -> Status {
                                      TANDEM_ASSIGN_OR_RETURN(Key k, t.read_key(r, name_));
                                      TANDEM_ASSIGN_OR_RETURN(std::string id, t.id(k));
                                      present.insert(std::move(id));
                                      return Status::Ok();
                                    })
                               .status());
    begin += n;
  }
  if (!blind) {
    if (!present.empty()) {
      t.parts_without_present.store(0, std::memory_order_relaxed);
    } else if (t.parts_without_present.load(std::memory_order_relaxed) < Table::kBlindInsertAfter) {
      t.parts_without_present.fetch_add(1, std::memory_order_relaxed);
    }
  }
  std::vector<size_t> todo;
  for (size_t i : candidates) {
    if (present.contains(part.encoded[i])) {
      part.outcomes[i] = InsertOutcome::kAlreadyPresent;
    } else {
      todo.push_back(i);
    }
  }
  // Strict multi-row inserts of the absent ones, up to 256 rows and at most
  // max_allowed_packet bytes a statement: a value new refuses fails the batch
  // naming the record. A record the application wrote since the read above
  // (or, blind, before it) fails it on its key: blind, the part is undone and
  // done again asking first; otherwise the batch is retryable (kBusy) and the
  // next try sees the record present.
  const size_t width = t.schema.key_columns.size() + t.schema.columns.size();
  const std::string row = fmt::format("({})", placeholders(width));
  const size_t budget = std::max(conn.max_packet(), 2 * kStatementOverhead) - kStatementOverhead;
  for (size_t first = 0; first < todo.size();) {
    size_t last = first, bytes = 0;  // the records [first, last) fit one packet
    while (last < todo.size() && last - first < 256 &&
           (last == first || bytes + part.row_bytes[todo[last]] <= budget)) {
      bytes += part.row_bytes[todo[last++]];
    }
    for (size_t n : chunk_sizes(last - first, 256)) {
      std::string sql = fmt::format("INSERT INTO {} ({}) VALUES ", t.quoted, t.select_list);
      std::vector<Param> params;
      params.reserve(n * width);
      for (size_t j = 0; j < n; ++j) {
        if (j > 0) sql += ", ";
        sql += row;
        t.add_record(params, part.records[todo[first + j]]);
      }
      auto inserted = conn.run(sql, params, what);
      if (!inserted.ok()) {
        if (conn.last_error() == ER_DUP_ENTRY) {
          std::string index = duplicate_index(inserted.status().message());
          if (!index.empty() && !t.key_indexes.contains(index)) {
            return Status::InvalidArgument(fmt::format(
                "{}: a record's value is already held by another record under unique index '{}' of {} ({})",
                what, index, name_, inserted.status().message()));
          }
          if (blind) return false;  // the transaction rolls back as tx goes
          return Status::Busy(
              fmt::format("{}: a record of the batch was written meanwhile; retry the batch ({})", what,
                          inserted.status().message()));
        }
        return inserted.status();
      }
      first += n;
    }
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return true;
}

}  // namespace tandem::mariadb
