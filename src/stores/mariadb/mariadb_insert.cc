// MariaDbStore's batch insert (insert_if_absent) and the checks of every
// write: record locks by GET_LOCK, tombstones and present keys read in
// chunks, strict multi-row INSERTs within max_allowed_packet.
#include <mysqld_error.h>

#include <set>

#include "stores/mariadb/mariadb_table.h"

namespace tandem::mariadb {

Result<std::vector<std::string>> MariaDbStore::tombstoned_among(
    Connection& conn, const Table& t, const std::vector<std::string>& encoded_keys) {
  std::vector<std::string> dead;
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

  // The batch's record locks: named locks taken without waiting, up to 64 a
  // round trip, held until after the commit.
  BatchLocks locks(*conn);
  if (policy == LockPolicy::kTryLockEach) {
    locks.taken();
    const std::string scope = lock_scope(database_, collection);
    size_t begin = 0;
    for (size_t n : chunk_sizes(records.size(), 64)) {
      std::vector<Param> params;
      std::string sql = "SELECT ";
      for (size_t i = begin; i < begin + n; ++i) {
        sql += i == begin ? "GET_LOCK(?, 0)" : ", GET_LOCK(?, 0)";
        params.push_back(Param::of(lock_name(scope, encoded[i])));
      }
      TANDEM_RETURN_IF_ERROR(conn->run(sql, params, what,
                                       [&](const Row& r) {
                                         for (size_t c = 0; c < n; ++c) {
                                           if (r.is_null(c) || r.integer(c) != 1) {
                                             outcomes[begin + c] = InsertOutcome::kLocked;
                                           }
                                         }
                                         return Status::Ok();
                                       })
                                 .status());
      begin += n;
    }
  }
  // A transfer is fenced (tandem/store.h, FenceScope); a backfill is not.
  TANDEM_ASSIGN_OR_RETURN(auto tx, begin_write(*conn));
  if (options_.keep_tombstones) {
    std::vector<std::string> candidates;
    for (size_t i = 0; i < records.size(); ++i) {
      if (outcomes[i] != InsertOutcome::kLocked) candidates.push_back(encoded[i]);
    }
    TANDEM_ASSIGN_OR_RETURN(std::vector<std::string> dead, tombstoned_among(*conn, *t, candidates));
    std::set<std::string> dead_set(dead.begin(), dead.end());
    for (size_t i = 0; i < records.size(); ++i) {
      if (outcomes[i] != InsertOutcome::kLocked && dead_set.contains(encoded[i])) {
        outcomes[i] = InsertOutcome::kTombstoned;
      }
    }
  }
  // Which of the rest are present: one consistent read, up to 256 keys a
  // round trip.
  std::vector<size_t> candidates;
  for (size_t i = 0; i < records.size(); ++i) {
    if (outcomes[i] == InsertOutcome::kInserted) candidates.push_back(i);
  }
  std::set<std::string> present;
  size_t begin = 0;
  for (size_t n : chunk_sizes(candidates.size(), 256)) {
    std::vector<Param> params;
    std::string where;
    for (size_t j = 0; j < n; ++j) {
      t->add_key(params, records[candidates[begin + j]].key);
      if (t->quoted_keys.size() == 1) {
        where += j == 0 ? "?" : ", ?";
      } else {
        where += fmt::format("{}({})", j == 0 ? "" : " OR ", t->key_match);
      }
    }
    std::string sql = t->quoted_keys.size() == 1
                          ? fmt::format("SELECT {} FROM {} WHERE {} IN ({})", t->key_columns, t->quoted,
                                        t->key_columns, where)
                          : fmt::format("SELECT {} FROM {} WHERE {}", t->key_columns, t->quoted, where);
    TANDEM_RETURN_IF_ERROR(conn->run(sql, params, what,
                                     [&](const Row& r) -> Status {
                                       TANDEM_ASSIGN_OR_RETURN(Key k, t->read_key(r, name_));
                                       TANDEM_ASSIGN_OR_RETURN(std::string id, t->id(k));
                                       present.insert(std::move(id));
                                       return Status::Ok();
                                     })
                               .status());
    begin += n;
  }
  std::vector<size_t> todo;
  for (size_t i : candidates) {
    if (present.contains(encoded[i])) {
      outcomes[i] = InsertOutcome::kAlreadyPresent;
    } else {
      todo.push_back(i);
    }
  }
  // Strict multi-row inserts of the absent ones, up to 64 rows and at most
  // max_allowed_packet bytes a statement: a value new refuses fails the batch
  // naming the record. A record the application wrote since the read above
  // fails it on its key: the batch is then retryable (kBusy) and the next
  // try sees the record present.
  const size_t width = t->schema.key_columns.size() + t->schema.columns.size();
  const std::string row = fmt::format("({})", placeholders(width));
  const size_t budget = std::max(conn->max_packet(), 2 * kStatementOverhead) - kStatementOverhead;
  for (size_t first = 0; first < todo.size();) {
    size_t last = first, bytes = 0;  // the records [first, last) fit one packet
    while (last < todo.size() && last - first < 64 &&
           (last == first || bytes + row_bytes[todo[last]] <= budget)) {
      bytes += row_bytes[todo[last++]];
    }
    for (size_t n : chunk_sizes(last - first, 64)) {
      std::string sql = fmt::format("INSERT INTO {} ({}) VALUES ", t->quoted, t->select_list);
      std::vector<Param> params;
      params.reserve(n * width);
      for (size_t j = 0; j < n; ++j) {
        if (j > 0) sql += ", ";
        sql += row;
        t->add_record(params, records[todo[first + j]]);
      }
      auto inserted = conn->run(sql, params, what);
      if (!inserted.ok()) {
        if (conn->last_error() == ER_DUP_ENTRY) {
          std::string index = duplicate_index(inserted.status().message());
          if (!index.empty() && !t->key_indexes.contains(index)) {
            return Status::InvalidArgument(fmt::format(
                "{}: a record's value is already held by another record under unique index '{}' of {} ({})",
                what, index, name_, inserted.status().message()));
          }
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
  return outcomes;
}

}  // namespace tandem::mariadb
