// PostgresStore's batch insert (insert_if_absent): transaction-level advisory
// locks and tombstones read for a whole part in one round trip each, then
// COPY of the absent records or multi-row INSERT ... ON CONFLICT DO NOTHING.
#include <charconv>
#include <iterator>
#include <set>

#include "core/sync_point.h"
#include "stores/postgres/postgres_table.h"

namespace tandem::postgres {

namespace {

// A COPY's status; a row the server refused (bad data, a constraint) also
// sets *copy_refused: nothing of the COPY was written.
Status note_refused(Status copied, bool* copy_refused) {
  if (copied.code() == Code::kInvalidArgument) *copy_refused = true;
  return copied;
}

// The encoded keys among records[todo] that new already has.
Result<std::set<std::string>> present_keys(Connection& conn, const PostgresStore::Table& t,
                                           std::span<const Record> records, const std::vector<size_t>& todo,
                                           std::string_view what) {
  Param keys;
  if (t.schema.key_columns[0].type == Type::kInt) {
    BinaryArray ints(BinaryArray::kInt8);
    for (size_t i : todo) ints.add_int8(records[i].key.parts()[0].as<int64_t>());
    keys = std::move(ints).param();
  } else {
    keys.value = "{";
    for (size_t j = 0; j < todo.size(); ++j) {
      if (j > 0) keys.value += ',';
      append_array_element(to_param(records[todo[j]].key.parts()[0]), keys.value);
    }
    keys.value += '}';
  }
  TANDEM_ASSIGN_OR_RETURN(PgResult present, conn.exec(t.present_sql, {std::move(keys)}, what));
  std::set<std::string> found;
  for (int row = 0; row < present.rows(); ++row) {
    TANDEM_ASSIGN_OR_RETURN(Value v, from_text(t.schema.key_columns[0].type, present.text(row, 0)));
    // Under a collation the row found may be spelled otherwise: compared by identity.
    TANDEM_ASSIGN_OR_RETURN(std::string id, t.id(Key{std::move(v)}));
    found.insert(std::move(id));
  }
  return found;
}

// The COPY statements and their data for records[todo] but those skip(i)
// names: in the binary format when the table has it and every value has a
// binary form, in the text format otherwise (postgres_binary_copy.h).
// Binary COPYs of kBinaryCopyRows rows at most: the server buffers up to
// 1,000 rows of a binary COPY (a text COPY's buffer is also bounded by 64 kB
// of text) and makes a tuple slot for each, registered in a resource owner
// whose hash of them probes linearly: the cost per row grows with the rows
// a COPY buffers (ResourceOwnerRememberTupleDesc in the profile).
struct CopyData {
  const std::string* sql;
  std::vector<std::string> chunks;  // none for no row
};
constexpr size_t kBinaryCopyRows = 250;

template <typename Skip>
CopyData copy_data(const PostgresStore::Table& t, std::span<const Record> records,
                   const std::vector<size_t>& todo, Skip skip) {
  CopyData out{&t.binary_copy_sql, {}};
  if (!t.binary_columns.empty()) {
    bool binary = true;
    size_t rows = 0;
    for (size_t i : todo) {
      if (skip(i)) continue;
      if (rows++ % kBinaryCopyRows == 0) {
        if (!out.chunks.empty()) append_binary_trailer(out.chunks.back());
        append_binary_header(out.chunks.emplace_back());
      }
      if (!t.append_binary_row(records[i], out.chunks.back())) {
        binary = false;
        break;
      }
    }
    if (binary) {
      TANDEM_SYNC_POINT("postgres.binary_copy");
      if (!out.chunks.empty()) append_binary_trailer(out.chunks.back());
      return out;
    }
    out.chunks.clear();
  }
  TANDEM_SYNC_POINT("postgres.text_copy");
  out.sql = &t.copy_sql;
  std::string data;
  for (size_t i : todo) {
    if (!skip(i)) t.append_copy_row(records[i], data);
  }
  if (!data.empty()) out.chunks.push_back(std::move(data));
  return out;
}

// Runs the COPYs, up to the first that fails.
Status run_copies(Connection& conn, const CopyData& copy, std::string_view what) {
  for (const std::string& chunk : copy.chunks) TANDEM_RETURN_IF_ERROR(conn.copy_in(*copy.sql, chunk, what));
  return Status::Ok();
}

// insert_part's COPY of records[todo] (locked, not tombstoned), inside the
// part's transaction. Nothing else inserts these keys meanwhile: their
// record locks are held here or by the caller. If something does, the COPY
// fails on the key and insert_if_absent runs the part again through the
// statements.
Status copy_absent(Connection& conn, const PostgresStore::Table& t, std::span<const Record> records,
                   const std::vector<std::string>& encoded, const std::vector<size_t>& todo,
                   std::vector<InsertOutcome>& outcomes, bool* copy_refused, std::string_view what) {
  // While recent batches found none of their keys present (a copy into an
  // empty table or range: the usual case), COPY without asking first: the
  // query costs the server about as much as a fifth of the COPY. A key that
  // is there fails the COPY with a unique violation; it is undone to the
  // savepoint (the record locks stay), and the batch asks as below.
  if (t.batches_without_present.load(std::memory_order_relaxed) >= PostgresStore::Table::kBlindCopyAfter) {
    CopyData copy = copy_data(t, records, todo, [](size_t) { return false; });
    TANDEM_RETURN_IF_ERROR(conn.exec_simple("SAVEPOINT tandem_copy", what));
    TANDEM_SYNC_POINT("postgres.before_blind_copy");
    Status copied = run_copies(conn, copy, what);
    if (copied.ok() || conn.last_sqlstate() != "23505") return note_refused(copied, copy_refused);
    t.batches_without_present.store(0, std::memory_order_relaxed);
    TANDEM_RETURN_IF_ERROR(conn.exec_simple("ROLLBACK TO SAVEPOINT tandem_copy", what));
  }
  // One query for the keys already present, then one COPY of the others.
  TANDEM_ASSIGN_OR_RETURN(std::set<std::string> found, present_keys(conn, t, records, todo, what));
  if (!found.empty()) {
    t.batches_without_present.store(0, std::memory_order_relaxed);
  } else if (t.batches_without_present.load(std::memory_order_relaxed) <
             PostgresStore::Table::kBlindCopyAfter) {
    t.batches_without_present.fetch_add(1, std::memory_order_relaxed);
  }
  for (size_t i : todo) {
    if (found.contains(encoded[i])) outcomes[i] = InsertOutcome::kAlreadyPresent;
  }
  CopyData copy =
      copy_data(t, records, todo, [&](size_t i) { return outcomes[i] == InsertOutcome::kAlreadyPresent; });
  TANDEM_SYNC_POINT("postgres.before_copy");
  return note_refused(run_copies(conn, copy, what), copy_refused);
}

}  // namespace

Result<std::vector<InsertOutcome>> PostgresStore::insert_if_absent(std::string_view collection,
                                                                   std::span<const Record> records,
                                                                   LockPolicy policy) {
  TANDEM_ASSIGN_OR_RETURN(const Table* t, table(collection));
  for (const Record& r : records) {
    TANDEM_RETURN_IF_ERROR(t->schema.check_record(r));
    TANDEM_RETURN_IF_ERROR(check_storable(name_, t->schema, t->numeric, t->float4, r.key, r.fields));
    // A key new cannot identify as old does is refused, naming it (the
    // backfill quarantines it with this reason).
    if (Result<std::string> id = t->id(r.key); !id.ok()) {
      return Status::InvalidArgument(
          fmt::format("{} collection '{}': {}", name_, t->schema.name, id.status().message()));
    }
  }
  // A transaction holds one advisory lock per record until it commits, and
  // the server's lock table is small (max_locks_per_transaction x
  // max_connections: 6,400 by default): a batch of 10,000 failed with "out of
  // shared memory". Large batches go in transactions of at most
  // locks_per_transaction_ records (see postgres_store.h); see the contract
  // in store.h. Found by a 1M-row copy.
  std::vector<InsertOutcome> outcomes;
  outcomes.reserve(records.size());
  for (size_t begin = 0; begin < records.size();) {
    const size_t size = locks_per_transaction_.load(std::memory_order_relaxed);
    auto part = records.subspan(begin, std::min(size, records.size() - begin));
    bool copy_refused = false;
    auto done = insert_part(t, collection, part, policy, &copy_refused);
    if (copy_refused) {
      // The copy refused a row (bad data, or a key that arrived since the
      // presence check, unlocked): nothing of the part was written. The
      // statement path finds which records, with the server's own error.
      done = insert_part(t, collection, part, policy, /*copy_refused=*/nullptr);
    }
    if (!done.ok() && part.size() == 1 && done.status().code() == Code::kInvalidArgument &&
        done.status().message().find("index row size") != std::string::npos) {
      // The key is too large for its index: say so, naming the key.
      return Status::InvalidArgument(fmt::format(
          "{} collection '{}', record {}, key column '{}': too large for PostgreSQL's index on the key: {}",
          name_, t->schema.name, part[0].key.to_display(), t->schema.key_columns[0].name,
          done.status().message()));
    }
    if (!done.ok() && done.status().code() == Code::kBusy && part.size() > kMinLocksPerTransaction &&
        done.status().message().find("(SQLSTATE 53200)") != std::string::npos) {
      // The lock table is full: the part's transaction rolled back (nothing
      // written, its locks released); again in smaller transactions.
      const size_t smaller = std::max(kMinLocksPerTransaction, part.size() / 2);
      size_t current = size;
      while (current > smaller && !locks_per_transaction_.compare_exchange_weak(current, smaller)) {
      }
      continue;
    }
    if (!done.ok()) return done.status();
    outcomes.insert(outcomes.end(), done->begin(), done->end());
    begin += part.size();
  }
  return outcomes;
}

Result<std::vector<InsertOutcome>> PostgresStore::insert_part(const Table* t, std::string_view collection,
                                                              std::span<const Record> records,
                                                              LockPolicy policy, bool* copy_refused) {
  std::vector<InsertOutcome> outcomes(records.size(), InsertOutcome::kInserted);
  if (records.empty()) return outcomes;
  TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.acquire());
  // A transfer is fenced (tandem/store.h, FenceScope); a backfill is not.
  TANDEM_ASSIGN_OR_RETURN(auto tx, fenced_transaction(*conn));
  if (!tx) {
    TANDEM_ASSIGN_OR_RETURN(tx, Transaction::begin(*conn));
  }
  std::vector<std::string> encoded;
  encoded.reserve(records.size());
  // Identities (the encodings for byte keys): locks, tombstones and the
  // present keys compare them (tandem/key_identity.h).
  for (const Record& r : records) {
    TANDEM_ASSIGN_OR_RETURN(std::string id, t->id(r.key));
    encoded.push_back(std::move(id));
  }
  const std::string what =
      fmt::format("inserting a batch of {} records into {} collection '{}' (first {})", records.size(), name_,
                  t->schema.name, records.front().key.to_display());

  // One round trip for the whole batch's locks: transaction-level advisory
  // locks, held until commit, that conflict with the session-level locks of
  // transfers and copies.
  if (policy == LockPolicy::kTryLockEach) {
    BinaryArray keys(BinaryArray::kInt8);
    for (size_t i = 0; i < records.size(); ++i) keys.add_int8(lock_key(collection, encoded[i]));
    // Only the positions (1-based) of the records whose lock is held elsewhere come back.
    TANDEM_ASSIGN_OR_RETURN(PgResult l,
                            conn->exec("SELECT i FROM unnest($1::bigint[]) WITH ORDINALITY AS u(k, i) "
                                       "WHERE NOT pg_try_advisory_xact_lock(k)",
                                       {std::move(keys).param()}, what));
    for (int row = 0; row < l.rows(); ++row) {
      int64_t i = 0;
      std::string_view v = l.text(row, 0);
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
      if (ec != std::errc() || i < 1 || static_cast<size_t>(i) > records.size()) {
        return Status::Internal(fmt::format("{}: the lock query returned position '{}'", what, v));
      }
      outcomes[static_cast<size_t>(i - 1)] = InsertOutcome::kLocked;
    }
  }
  // One round trip for the tombstones of the batch. A join, not "key =
  // ANY($2)": statements are prepared, and PostgreSQL's generic plan for
  // ANY over a parameter compares every row of a sequential scan with every
  // element of the array (it hashes only constant arrays): 3 ms a batch with
  // 574 tombstones, growing with each delete. The join hashes or probes the
  // index, whatever the table's size. Found by the live-load benchmark.
  if (options_.keep_tombstones) {
    BinaryArray keys(BinaryArray::kBytea);
    for (size_t i = 0; i < records.size(); ++i) {
      if (outcomes[i] != InsertOutcome::kLocked) keys.add_bytes(encoded[i]);
    }
    if (keys.size() > 0) {
      TANDEM_ASSIGN_OR_RETURN(
          PgResult d, conn->exec("SELECT t.key FROM unnest($2::bytea[]) AS u(k) JOIN tandem_tombstones "
                                 "AS t ON t.collection = $1 AND t.key = u.k",
                                 {text_param(t->schema.name), std::move(keys).param()}, what));
      std::set<std::string> dead;
      for (int i = 0; i < d.rows(); ++i) {
        TANDEM_ASSIGN_OR_RETURN(Value v, from_text(Type::kBytes, d.text(i, 0)));
        dead.insert(v.as<Bytes>().data);
      }
      for (size_t i = 0; i < records.size(); ++i) {
        if (outcomes[i] != InsertOutcome::kLocked && dead.contains(encoded[i])) {
          outcomes[i] = InsertOutcome::kTombstoned;
        }
      }
    }
  }
  std::vector<size_t> todo;
  for (size_t i = 0; i < records.size(); ++i) {
    if (outcomes[i] == InsertOutcome::kInserted) todo.push_back(i);
  }
  // Larger batches by COPY (copy_absent), several times cheaper for the
  // server than INSERT statements.
  if (copy_refused != nullptr && !t->present_sql.empty() && todo.size() >= kCopyMinRecords) {
    TANDEM_RETURN_IF_ERROR(copy_absent(*conn, *t, records, encoded, todo, outcomes, copy_refused, what));
    TANDEM_RETURN_IF_ERROR(tx->commit());
    return outcomes;
  }
  // Multi-row inserts of what is left, 64 rows a statement; the returned keys
  // are the rows inserted, the others were already present.
  const size_t width = t->schema.key_columns.size() + t->schema.columns.size();
  for (size_t begin = 0; begin < todo.size(); begin += 64) {
    size_t n = std::min<size_t>(64, todo.size() - begin);
    std::string sql = fmt::format("INSERT INTO {} ({}) VALUES ", t->quoted, t->select_list);
    std::vector<Param> params;
    params.reserve(n * width);
    for (size_t j = 0; j < n; ++j) {
      sql += j == 0 ? "(" : ", (";
      for (size_t c = 0; c < width; ++c) sql += fmt::format("{}${}", c == 0 ? "" : ", ", j * width + c + 1);
      sql += ')';
      std::vector<Param> row = t->record_params(records[todo[begin + j]]);
      std::move(row.begin(), row.end(), std::back_inserter(params));
    }
    sql += fmt::format(" ON CONFLICT ({0}) DO NOTHING RETURNING {0}", t->key_columns);
    TANDEM_ASSIGN_OR_RETURN(PgResult ins, conn->exec(sql, params, what));
    std::set<std::string> inserted;
    for (int row = 0; row < ins.rows(); ++row) {
      std::vector<Value> parts;
      int col = 0;
      for (const Column& c : t->schema.key_columns) {
        TANDEM_ASSIGN_OR_RETURN(Value v, from_text(c.type, ins.text(row, col++)));
        parts.push_back(std::move(v));
      }
      TANDEM_ASSIGN_OR_RETURN(std::string id, t->id(Key(std::move(parts))));
      inserted.insert(std::move(id));
    }
    for (size_t j = 0; j < n; ++j) {
      size_t i = todo[begin + j];
      outcomes[i] = inserted.contains(encoded[i]) ? InsertOutcome::kInserted : InsertOutcome::kAlreadyPresent;
    }
  }
  TANDEM_RETURN_IF_ERROR(tx->commit());
  return outcomes;
}

}  // namespace tandem::postgres
