// Thin RAII layer over sqlite3 shared by the SQLite store and the SQLite
// control store: a connection with a prepared-statement cache, a pool of
// connections, statement and transaction guards, and error classification.
// sqlite3 types never leave src/.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/thread_annotations.h"
#include "tandem/status.h"

namespace tandem::sqlite {

// Maps an SQLite result code to a Status: BUSY/LOCKED are kBusy (retryable),
// CANTOPEN is kUnavailable, CORRUPT/NOTADB kCorruption, CONSTRAINT, TOOBIG
// and MISMATCH kInvalidArgument (never retryable: the value is refused). what says what was being done
// ("insert into users").
Status error_status(sqlite3* db, int rc, std::string_view what);

class Connection {
 public:
  // Opens (creating if allowed) the database at path with a busy timeout;
  // with configure, switches it to WAL mode. The path is named in errors
  // (local files hold no secrets). With read_only, every write is refused.
  static Result<std::unique_ptr<Connection>> open(const std::string& path, bool create, bool configure,
                                                  int busy_timeout_ms = 30000, bool read_only = false);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }
  Status exec(std::string_view sql);
  // A cached prepared statement; use through Statement, which resets it.
  Result<sqlite3_stmt*> prepare(const std::string& sql);

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// Borrowed cached statement; resets and clears bindings when destroyed.
class Statement {
 public:
  Statement(Connection& conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  ~Statement() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  // Binds return SQLite's result code (SQLITE_TOOBIG for a value over the
  // length limit, which would otherwise be bound as NULL). Text and blobs are
  // bound with their length: NUL bytes are kept.
  int bind_int(int index, int64_t v) { return sqlite3_bind_int64(stmt_, index, v); }
  int bind_text(int index, std::string_view v) {
    return sqlite3_bind_text64(stmt_, index, v.data() != nullptr ? v.data() : "", v.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  }
  int bind_blob(int index, std::string_view v) {
    return sqlite3_bind_blob64(stmt_, index, v.data() != nullptr ? v.data() : "", v.size(), SQLITE_TRANSIENT);
  }
  int bind_null(int index) { return sqlite3_bind_null(stmt_, index); }
  // SQLITE_ROW -> true, SQLITE_DONE -> false, else error.
  Result<bool> step(std::string_view what);
  // Runs to completion (for writes).
  Status run(std::string_view what);
  // As run, but builds the description (describe()) only if the step fails:
  // for loops over many records, where formatting it each time would cost more than the insert.
  template <typename Describe>
  Status run_described(Describe describe) {
    for (;;) {
      int rc = sqlite3_step(stmt_);
      if (rc == SQLITE_DONE) return Status::Ok();
      if (rc != SQLITE_ROW) return error_status(conn_.db(), rc, describe());
    }
  }
  int64_t column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
  std::string column_text(int i) const;
  std::string column_blob(int i) const;
  bool column_is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  int changes() const { return sqlite3_changes(sqlite3_db_handle(stmt_)); }

 private:
  Connection& conn_;
  sqlite3_stmt* stmt_;
};

// A pool of connections to one file; each borrowed connection is used by one
// thread at a time. Thread-safe.
class Pool {
 public:
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    ~Lease();
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  Pool(std::string path, bool configure, bool read_only = false)
      : path_(std::move(path)), configure_(configure), read_only_(read_only) {}
  Result<Lease> acquire();
  // Lowers SQLite's limit on the bytes of one value or row
  // (SQLITE_LIMIT_LENGTH) on every connection handed out from now on; for
  // tests of values over the limit. 0 keeps SQLite's own.
  void set_length_limit(int limit) { length_limit_ = limit; }
  // The first connection, created here; fails if the file cannot be opened.
  Status prime(bool create);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool configure_;
  bool read_only_;
  std::atomic<int> length_limit_{0};
  Mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_ GUARDED_BY(mutex_);
};

// BEGIN IMMEDIATE (write) or BEGIN (read) ... COMMIT; rolls back if not committed.
class Transaction {
 public:
  enum class Mode { kRead, kWrite };
  static Result<std::unique_ptr<Transaction>> begin(Connection& conn, Mode mode);
  ~Transaction();
  // A failed COMMIT other than BUSY is reported with outcome_unknown.
  Status commit();

 private:
  explicit Transaction(Connection& conn) : conn_(conn) {}
  Connection& conn_;
  bool done_ = false;
};

// "sqlite:PATH", "sqlite://PATH" or a plain path -> PATH.
std::string path_from_url(std::string_view url);

}  // namespace tandem::sqlite
