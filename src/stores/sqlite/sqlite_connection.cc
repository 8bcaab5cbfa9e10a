#include "stores/sqlite/sqlite_connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace tandem::sqlite {

Status error_status(sqlite3* db, int rc, std::string_view what) {
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = fmt::format("{}: {} (SQLite code {})", what, detail, rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Busy(message + "; the database is busy, retry");
    case SQLITE_CANTOPEN:
      return Status::Unavailable(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(message);
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return Status::InvalidArgument(message);
    case SQLITE_FULL:
    case SQLITE_IOERR:
      return Status::IoError(message);
    case SQLITE_READONLY:
      return Status::FailedPrecondition(message + " (the database is read-only)");
    default:
      return Status::Internal(message);
  }
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, bool create, bool configure,
                                                     int busy_timeout_ms, bool read_only) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = error_status(db, rc, fmt::format("opening SQLite database '{}'", path));
    sqlite3_close_v2(db);
    if (!create && (rc & 0xff) == SQLITE_CANTOPEN) {
      return Status::Unavailable(s.message() + " (does the file exist?)");
    }
    return s;
  }
  std::unique_ptr<Connection> conn(new Connection(db, path));
  sqlite3_busy_timeout(db, busy_timeout_ms);
  sqlite3_extended_result_codes(db, 1);
  if (read_only) TANDEM_RETURN_IF_ERROR(conn->exec("PRAGMA query_only=1"));
  if (configure) {
    // Switching a fresh file to WAL takes an exclusive lock, and SQLite
    // answers SQLITE_BUSY at once (no busy handler: it could deadlock) when
    // another connection is switching it too: processes starting together.
    // Retried here until the busy timeout; once one has switched it, the
    // others find WAL and go on.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
    Status wal = conn->exec("PRAGMA journal_mode=WAL");
    for (int attempt = 1;
         !wal.ok() && wal.code() == Code::kBusy && std::chrono::steady_clock::now() < deadline; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50, 2 * attempt)));
      wal = conn->exec("PRAGMA journal_mode=WAL");
    }
    TANDEM_RETURN_IF_ERROR(wal);
    TANDEM_RETURN_IF_ERROR(conn->exec("PRAGMA synchronous=NORMAL"));
  }
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Connection::exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK)
    return error_status(db_, rc, fmt::format("running '{}' on '{}'", text.substr(0, 120), path_));
  return Status::Ok();
}

Result<sqlite3_stmt*> Connection::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                              &stmt, nullptr);
  if (rc != SQLITE_OK) return error_status(db_, rc, fmt::format("preparing '{}'", sql.substr(0, 160)));
  cache_.emplace(sql, stmt);
  return stmt;
}

Result<bool> Statement::step(std::string_view what) {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return error_status(conn_.db(), rc, what);
}

Status Statement::run(std::string_view what) {
  for (;;) {
    auto r = step(what);
    if (!r.ok()) return r.status();
    if (!*r) return Status::Ok();
  }
}

std::string Statement::column_text(int i) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
  int n = sqlite3_column_bytes(stmt_, i);
  return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(n));
}

std::string Statement::column_blob(int i) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
  int n = sqlite3_column_bytes(stmt_, i);
  return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(n));
}

Pool::Lease::~Lease() {
  if (conn_ == nullptr) return;
  MutexLock lock(pool_->mutex_);
  pool_->idle_.push_back(std::move(conn_));
}

Result<Pool::Lease> Pool::acquire() {
  std::unique_ptr<Connection> conn;
  {
    MutexLock lock(mutex_);
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (conn == nullptr) {
    TANDEM_ASSIGN_OR_RETURN(conn, Connection::open(path_, /*create=*/false, configure_, 30000, read_only_));
  }
  if (int limit = length_limit_.load(); limit > 0) sqlite3_limit(conn->db(), SQLITE_LIMIT_LENGTH, limit);
  return Lease(this, std::move(conn));
}

Status Pool::prime(bool create) {
  TANDEM_ASSIGN_OR_RETURN(auto conn, Connection::open(path_, create, configure_, 30000, read_only_));
  MutexLock lock(mutex_);
  idle_.push_back(std::move(conn));
  return Status::Ok();
}

Result<std::unique_ptr<Transaction>> Transaction::begin(Connection& conn, Mode mode) {
  TANDEM_RETURN_IF_ERROR(conn.exec(mode == Mode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN"));
  return std::unique_ptr<Transaction>(new Transaction(conn));
}

Transaction::~Transaction() {
  if (!done_) (void)conn_.exec("ROLLBACK");
}

Status Transaction::commit() {
  Status s = conn_.exec("COMMIT");
  if (s.ok()) {
    done_ = true;
    return s;
  }
  if (s.code() == Code::kBusy) return s;  // still open; the destructor rolls back
  return Status(s).outcome_unknown();
}

std::string path_from_url(std::string_view url) {
  if (url.rfind("sqlite://", 0) == 0) return std::string(url.substr(9));
  if (url.rfind("sqlite:", 0) == 0) return std::string(url.substr(7));
  return std::string(url);
}

}  // namespace tandem::sqlite
