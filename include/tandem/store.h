// Store: the interface every database adapter implements.
//
// A Store is one database (old or new). Collections are registered with
// ensure_collection() before use; every other method names the collection.
//
// Thread safety: every method is safe to call concurrently from many threads
// once the collection is registered. Implementations pool connections.
//
// Errors: every method returns a Status/Result. Connection failures are
// kUnavailable and retryable; contention is kBusy and retryable; a write whose
// commit outcome is unknown has is_outcome_unknown() set. Messages name the
// collection and the record key or range.
//
// Tombstones: remove() leaves a tombstone for the key; get() reports it;
// insert_if_absent() never inserts over one; upsert() (a new write from the
// application) clears it. Tombstones are what keep a deleted record from
// coming back through a copy or a fallback read.
//
// Record locks: a per-record lock excludes every other holder of the same
// (collection, key) lock in any thread or process using this database. It does
// not block plain reads or writes: it serialises the copiers (write-secondary
// sync, transfer, backfill, repair) that read one database and write another.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/key.h"
#include "tandem/key_identity.h"
#include "tandem/record.h"
#include "tandem/schema.h"
#include "tandem/status.h"

namespace tandem {

// What a point read found.
struct Lookup {
  enum class State : uint8_t { kAbsent, kPresent, kTombstoned };
  State state = State::kAbsent;
  Record record;  // valid when kPresent; record.key is always set

  bool present() const { return state == State::kPresent; }
  bool tombstoned() const { return state == State::kTombstoned; }
  bool operator==(const Lookup&) const = default;
};

// Per-record outcome of insert_if_absent().
enum class InsertOutcome : uint8_t {
  kInserted,
  kAlreadyPresent,
  kLocked,      // another holder has the record lock: skipped, not an error
  kTombstoned,  // deleted through tandem: never re-inserted
};
std::string_view insert_outcome_name(InsertOutcome outcome);

enum class LockPolicy : uint8_t {
  kNone,            // no record locks (seeding an empty database)
  kTryLockEach,     // backfill: try each record's lock; skip (kLocked) if held
  kCallerHoldsLock  // transfer: the caller already holds the lock of each record
};

enum class PatchOutcome : uint8_t { kPatched, kNotFound, kTombstoned };

// Order-independent digest of a range: equal sets of records give equal
// digests whatever the order or engine. hash = sum of per-record 64-bit hashes
// of the canonical encoding (encoding.h) modulo 2^64.
// Rows that do not decode (the backfill quarantines them) are left out of
// count and hash and counted in undecodable, so that a quarantined record
// does not make every later verify fail.
struct Digest {
  uint64_t count = 0;
  uint64_t hash = 0;
  uint64_t undecodable = 0;
  bool operator==(const Digest& o) const { return count == o.count && hash == o.hash; }
};

// A stored row that does not decode as the schema says (wrong type, invalid
// UTF-8, too large, NULL in a NOT NULL column): returned by scan_batch() so
// that a copy can quarantine it and go on.
struct BadRecord {
  std::optional<Key> key;  // nullopt if the key itself does not decode
  std::string key_display;
  std::string field;  // the field at fault, empty if the whole row
  std::string raw;    // the row's raw values, as text
  std::string reason;
};

// One batch of a copy's read: the records that decode, the rows that do not,
// the last key that decodes (the next batch starts after it), and whether the
// range has no row after those returned.
struct ScanBatch {
  std::vector<Record> records;
  std::vector<BadRecord> bad;
  std::optional<Key> last_key;  // of the last row whose key decodes; nullopt if none did
  bool end_of_range = false;    // no row of the range follows the rows returned
  size_t rows() const { return records.size() + bad.size(); }
};

// A held record lock; released when destroyed. Movable, not copyable.
class RecordLock {
 public:
  class Handle {
   public:
    virtual ~Handle() = default;
  };
  RecordLock() = default;
  explicit RecordLock(std::unique_ptr<Handle> handle) : handle_(std::move(handle)) {}
  bool held() const { return handle_ != nullptr; }
  void release() { handle_.reset(); }

 private:
  std::unique_ptr<Handle> handle_;
};

// --- Fencing at new (docs/ARCHITECTURE.md, "Fencing at new") ---
//
// A lease bounds how stale an instance's step can be, but an operation that
// passed its last lease check and then stalls can still land after a move.
// New itself refuses such a write: every routed operation carries the step
// version it entered by and new's write role at that step, and new keeps, in
// its side table tandem_fence, the version at which its role last changed.

// New's write role at a step (new_role_at in tandem/plan.h).
enum class FenceRole : uint8_t { kNotWritten = 0, kWriteSecondary = 1, kWritePrimary = 2 };
std::string_view fence_role_name(FenceRole role);  // "not written", "write secondary", ...

// The step version an operation was routed by and new's role at that step.
struct FenceToken {
  int64_t version = 0;
  FenceRole role = FenceRole::kNotWritten;
};

// While a FenceScope lives on a thread, every write that thread makes to a
// store that keeps tombstones (new: upsert, patch, remove, insert_if_absent;
// through any wrapper that calls on the same thread) runs in one transaction
// with a shared lock on new's fence row, and new decides there:
//  - the token's version is older than the fence's: refused, nothing
//    written; kUnavailable, retryable, is_fenced(), naming both versions;
//  - same role: written;
//  - newer version, another role: the fence is first raised to the token
//    (waiting for writes that hold the shared lock), then written. From then
//    on no write routed by an older version lands in new.
// A store without tombstones (old) ignores the scope: tandem keeps no table
// in old, so old cannot be fenced (the lease covers it). Scopes nest; the
// innermost applies. Writes outside any scope (backfill, verify, tests) are
// not fenced.
class FenceScope {
 public:
  explicit FenceScope(FenceToken token);
  ~FenceScope();
  FenceScope(const FenceScope&) = delete;
  FenceScope& operator=(const FenceScope&) = delete;
  // The innermost scope's token on this thread, or nullptr.
  static const FenceToken* current();

 private:
  FenceToken token_;
  const FenceToken* outer_;
};

class Store {
 public:
  virtual ~Store() = default;

  // A short name for messages and metrics ("old", "new"); never a URL.
  virtual std::string_view name() const = 0;

  // Registers the collection. With create_if_missing, creates it when absent;
  // otherwise an absent collection is kFailedPrecondition naming it. If it
  // exists, checks that its columns match the schema (the error names the
  // missing or mismatching column) and that the configured key is a key of
  // the table: the columns of its primary key or of a unique index whose
  // columns are NOT NULL (check_configured_key in
  // stores/sql_text.h); otherwise kFailedPrecondition naming the configured
  // key and the table's keys.
  virtual Status ensure_collection(const CollectionSchema& schema, bool create_if_missing) = 0;

  // The statement ensure_collection(schema, true) runs to create the table
  // when it is missing (shown by `tandem init --dry-run`).
  virtual Result<std::string> create_table_sql(const CollectionSchema& schema) const = 0;

  // How this database's existing table for the collection declares each of
  // the schema's columns (what `tandem init` maps from; read only). A column
  // the store cannot describe is left out. Default: none described.
  virtual Result<ColumnShapes> column_shapes(const CollectionSchema& schema) {
    (void)schema;
    return ColumnShapes{};
  }

  // The table create_collection(schema, like) creates: its statement and,
  // per column (key columns first), the type chosen and why when it is not
  // the type like declares (a length not kept, values refused per record).
  // Each column gets the closest type of this engine that holds every value
  // of the column like describes; a column like does not describe gets the
  // type create_table_sql gives it. Default: create_table_sql's statement.
  struct ColumnDefinition {
    std::string name;
    std::string type;  // as it appears in the statement
    std::string note;  // empty when the type holds exactly what like declares
  };
  struct TableDefinition {
    std::string sql;
    std::vector<ColumnDefinition> columns;
  };
  virtual Result<TableDefinition> table_definition(const CollectionSchema& schema,
                                                   const ColumnShapes& like) const;

  // Creates the collection's table with table_definition(schema, like) when
  // it is missing, then registers it as ensure_collection(schema, false)
  // does. Default: ensure_collection(schema, true).
  virtual Status create_collection(const CollectionSchema& schema, const ColumnShapes& like) {
    (void)like;
    return ensure_collection(schema, true);
  }

  // Drops what tandem itself created in this database (its side tables:
  // tandem_tombstones, tandem_fence), never a collection's table: `tandem finish` runs it on
  // new once the migration is done. Idempotent. A store that creates nothing
  // of its own returns Ok.
  virtual Status drop_tandem_tables() { return Status::Ok(); }

  // Raises this database's fence (FenceScope below) to token when token's
  // version is newer, waiting a bounded time for writes in progress under an
  // older one (then kBusy, retryable). A mover calls it after a move that
  // changes new's role, so that once the move returns no write routed by an
  // earlier step lands in new, even if nothing is written by the new role.
  // Ok, doing nothing, for a store without a fence (old).
  virtual Status raise_fence(const FenceToken& token) {
    (void)token;
    return Status::Ok();
  }
  // The fence as it stands: the step version and role of its last raise.
  // {0, kNotWritten} for a store without a fence (old) or one never raised;
  // an error naming the missing table if this database has none yet. A
  // migration's open compares it with its control store's step version: a
  // fence ahead of it was raised by another control store (see Migration).
  virtual Result<FenceToken> read_fence() { return FenceToken{}; }

  // Point read. kNotFound is never returned: absence is Lookup::kAbsent.
  virtual Result<Lookup> get(std::string_view collection, const Key& key) = 0;

  // Batch point read; one Lookup per key, in the order of keys, from one
  // consistent snapshot.
  virtual Result<std::vector<Lookup>> get_many(std::string_view collection, std::span<const Key> keys) = 0;

  // Writes (insert_if_absent, upsert, patch) are exact or refused: a value
  // this database cannot hold exactly and read back equal (a NUL byte in
  // PostgreSQL text, a timestamp outside the column's range, a decimal with
  // more digits than the column keeps, a row larger than the server accepts)
  // is kInvalidArgument naming the collection, the record and the field,
  // before anything is written; so is a value the server itself refuses for
  // good (a data error, an index row too large). kInvalidArgument is never
  // retryable: the backfill isolates and quarantines the record.
  //
  // Inserts each record that is absent and has no tombstone; never overwrites.
  // One outcome per record, in order. Atomic per call for up to 256 records:
  // on error nothing of the batch was written (unless outcome_unknown); a
  // store may commit a larger batch in parts of at least 256 (PostgreSQL's
  // lock table bounds one transaction: parts of 1,000; MariaDB searches a
  // session's named locks at every GET_LOCK: parts of 256), so on error a
  // leading part may be in: a retry finds it present.
  virtual Result<std::vector<InsertOutcome>> insert_if_absent(std::string_view collection,
                                                              std::span<const Record> records,
                                                              LockPolicy policy) = 0;

  // Inserts or replaces the whole record and clears any tombstone.
  virtual Status upsert(std::string_view collection, const Record& record) = 0;

  // Sets the given fields of an existing record; other fields keep their values.
  virtual Result<PatchOutcome> patch(std::string_view collection, const Key& key, const FieldMap& fields) = 0;

  // Deletes the record (if present) and leaves a tombstone. Idempotent.
  virtual Status remove(std::string_view collection, const Key& key) = 0;

  // Records with keys in range, in ascending key order, at most limit of them.
  // Each call is its own short read: no snapshot is held between calls.
  virtual Result<std::vector<Record>> scan(std::string_view collection, const KeyRange& range,
                                           size_t limit) = 0;

  // As scan, for copying: a row that does not decode goes to bad with its
  // reason (naming the collection, the key and the field) instead of failing
  // the call, also when the key itself does not decode (key nullopt,
  // key_display the raw key). limit counts good and bad rows, but the batch
  // never ends right after a row whose key does not decode: the store reads
  // on to the next row whose key decodes (included) or to the range's end, so
  // that the next batch, which starts after last_key, returns no row again
  // and one bad row never stops a copy. Two rows with the same key are
  // kCorruption naming the key (the configured key is not unique), never a
  // silent merge.
  virtual Result<ScanBatch> scan_batch(std::string_view collection, const KeyRange& range, size_t limit) = 0;

  // Keys in range that carry a tombstone (whether or not a row exists: a row
  // with a tombstone is a record resurrected behind tandem's back). Ascending,
  // at most limit. Stores that keep no tombstones return none.
  virtual Result<std::vector<Key>> tombstones(std::string_view collection, const KeyRange& range,
                                              size_t limit) = 0;

  // Number of records in range (exact; may read the whole range).
  virtual Result<uint64_t> count(std::string_view collection, const KeyRange& range) = 0;

  // Up to parts - 1 keys, ascending, that split range into parts of roughly
  // equal record counts (fewer if the range holds fewer records).
  virtual Result<std::vector<Key>> split_points(std::string_view collection, const KeyRange& range,
                                                size_t parts) = 0;

  // Waits up to timeout for the record lock; kTimeout (retryable) if not had.
  virtual Result<RecordLock> lock(std::string_view collection, const Key& key,
                                  std::chrono::milliseconds timeout) = 0;

  // Takes the record lock if free; an unheld RecordLock if another holder has it.
  virtual Result<RecordLock> try_lock(std::string_view collection, const Key& key) = 0;

  // Count and order-independent hash of the records in range.
  virtual Result<Digest> digest(std::string_view collection, const KeyRange& range) = 0;

  // The same range summarised by the database itself, so that only a count
  // and a hash cross the network: a portable digest that PostgreSQL and
  // MariaDB compute alike for equal data (MD5 of a canonical text of each row,
  // summed mod 2^64; see docs/ARCHITECTURE.md). nullopt when this store or
  // this collection's column types cannot (SQLite, double and json columns):
  // verify then uses digest() on both sides. Portable and plain digests
  // never compare with each other. MariaDB leaves rows that do not decode
  // out (as digest() does); PostgreSQL counts them: either way a mismatch
  // only sends verify to the records, where the quarantine explains them.
  virtual Result<std::optional<Digest>> portable_digest(std::string_view collection, const KeyRange& range) {
    (void)collection;
    (void)range;
    return std::optional<Digest>();
  }

  // How the collection's keys are identified (tandem/key_identity.h): null
  // when a key is its bytes (the default), else old's collation on its text
  // key columns. Known after ensure_collection.
  virtual std::shared_ptr<const KeyIdentity> key_identity(std::string_view collection) const {
    (void)collection;
    return nullptr;
  }
  // Tells new how old identifies the collection's keys (old's key_identity),
  // before new's ensure_collection. A new whose key column compares under a
  // collation tandem cannot read weights from (PostgreSQL nondeterministic
  // ICU) is accepted only if that collation puts the keys both can hold in
  // the same classes as old's (probed at ensure_collection); its keys are
  // then identified by old's weights, narrowed to those keys. Without an
  // offer such a column is refused. Default: ignored.
  virtual void offer_key_identity(std::string_view collection,
                                  const std::shared_ptr<const KeyIdentity>& old) {
    (void)collection;
    (void)old;
  }
  // Whether upsert writes the spelling given over a stored record of the
  // same identity (a collated key in a table no foreign key references),
  // and turning that off. Old and new must agree: copies carry the write
  // primary's spelling, so a side that keeps spellings while the other
  // respells would differ for good. Migration turns it off on both when
  // either keeps them, after ensure_collection and before any write.
  // Default: no respelling.
  virtual bool respells_keys(std::string_view collection) const {
    (void)collection;
    return false;
  }
  virtual void keep_key_spellings(std::string_view collection) { (void)collection; }
  // --- Relations (docs/ARCHITECTURE.md, "Relations") ---

  // The foreign keys this database declares between tables of its own
  // schema (database), each with its columns in constraint order and its
  // referential actions; read only. Collections need not be registered: the
  // caller keeps those between its collections. Default: none (wrappers,
  // stores without foreign keys).
  virtual Result<std::vector<Relation>> foreign_keys() { return std::vector<Relation>(); }

  // Keys of the registered collection's records whose fields equal (each
  // field a key or value column of the collection, compared with =: a NULL
  // value matches nothing), ascending, at most limit. How a cascade's
  // children are found by their reference to a parent. Default:
  // kUnimplemented naming the store.
  virtual Result<std::vector<Key>> keys_matching(std::string_view collection, const FieldMap& equal,
                                                 size_t limit);

  // The orphans of a relation in this database: child records whose
  // reference (every column non-NULL: MATCH SIMPLE) matches no parent row.
  // Both collections registered. count is exact; sample holds the first
  // limit keys in key order. Default: kFailedPrecondition naming the store.
  struct Orphans {
    uint64_t count = 0;
    std::vector<Key> sample;
  };
  virtual Result<Orphans> orphans(const Relation& relation, size_t limit);

  // The statements ensure_foreign_key runs for relation in this database
  // (shown by `tandem init --constraints --dry-run`), and running them:
  // creates the foreign key (named relation.name) where it is missing, in the
  // way that blocks the service's writes least (PostgreSQL: NOT VALID, then
  // VALIDATE; MariaDB: without checks, in place, then an orphan check), and
  // fails naming the orphans when some child has no parent. Idempotent.
  // Default: kFailedPrecondition naming the store.
  virtual Result<std::vector<std::string>> foreign_key_sql(const Relation& relation) const;
  virtual Status ensure_foreign_key(const Relation& relation);
  // Creates, where missing, an index on the relation's child columns
  // ("<name>_idx"): every parent delete searches the children by them.
  virtual Status ensure_relation_index(const Relation& relation);
};

struct StoreOptions {
  // Keep tombstones (a side table). Off for old: the copy only ever goes from
  // old to new, so old needs none, and tandem adds no table to old.
  bool keep_tombstones = true;
  // May tandem configure the database (e.g. SQLite's journal mode) and create
  // its side tables? Off for old, which tandem must leave as it found it.
  bool configure = true;
  // Refuse every write (SQLite: PRAGMA query_only), as an account that can
  // only read would. The backfill and verify need nothing more of old.
  bool read_only = false;
};

// Opens a store from a URL ("sqlite:PATH" or a plain file path for SQLite).
// name is the store's role name for messages ("old"/"new"). The URL never
// appears in errors or logs unredacted.
Result<std::unique_ptr<Store>> open_store(std::string_view name, std::string_view url,
                                          StoreOptions options = {});

// Whether s is ensure_collection's "there is no table" (kFailedPrecondition):
// the collection's table does not exist in that database.
bool is_missing_table(const Status& s);

// Removes any password from a URL for display: "postgres://u:***@h/db".
std::string redact_url(std::string_view url);

}  // namespace tandem
