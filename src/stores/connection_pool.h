// What the server stores share around their own connection class: a pool of
// connections, and a transaction that rolls back unless committed.
//
// Connection must offer: static Result<std::unique_ptr<Connection>>
// open(const Spec&), bool broken() const, and Status exec_simple(const
// std::string& sql, std::string_view what).
//
// Thread safety: the pool is thread-safe; a lease, and a transaction on it,
// belong to one thread at a time.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_annotations.h"
#include "tandem/status.h"

namespace tandem {

template <class Connection, class Spec>
class ConnectionPool {
 public:
  // A connection taken from the pool; back in it when destroyed, unless broken.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    ~Lease() {
      if (conn_ == nullptr || conn_->broken()) return;  // a broken connection is dropped
      MutexLock lock(pool_->mutex_);
      pool_->idle_.push_back(std::move(conn_));
    }
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  explicit ConnectionPool(Spec spec) : spec_(std::move(spec)) {}

  // An idle connection, or a new one (kUnavailable, retryable, if the server
  // cannot be reached). Broken connections are dropped, not returned.
  Result<Lease> acquire() {
    {
      MutexLock lock(mutex_);
      while (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        if (!conn->broken()) return Lease(this, std::move(conn));
      }
    }
    TANDEM_ASSIGN_OR_RETURN(auto conn, Connection::open(spec_));
    return Lease(this, std::move(conn));
  }
  const Spec& spec() const { return spec_; }

 private:
  Spec spec_;
  Mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_ GUARDED_BY(mutex_);
};

// The status of one statement run in its own (implicit) transaction: a
// connection lost while it ran may have committed it, so kUnavailable is
// outcome_unknown, as for a COMMIT.
inline Status single_statement_outcome(Status s) {
  if (s.code() == Code::kUnavailable) return std::move(s).outcome_unknown();
  return s;
}

// A transaction on one connection; rolls back unless committed.
template <class Connection>
class SqlTransaction {
 public:
  // begin_sql: the engine's statement ("BEGIN ...", "START TRANSACTION ...").
  static Result<std::unique_ptr<SqlTransaction>> begin(Connection& conn, const std::string& begin_sql) {
    TANDEM_RETURN_IF_ERROR(conn.exec_simple(begin_sql, "beginning a transaction"));
    return std::unique_ptr<SqlTransaction>(new SqlTransaction(conn));
  }
  ~SqlTransaction() {
    if (!done_ && !conn_.broken()) (void)conn_.exec_simple("ROLLBACK", "rolling back");
  }
  SqlTransaction(const SqlTransaction&) = delete;
  SqlTransaction& operator=(const SqlTransaction&) = delete;

  // A connection lost during COMMIT is kUnavailable with outcome_unknown.
  Status commit() {
    done_ = true;
    Status s = conn_.exec_simple("COMMIT", "committing");
    if (s.ok()) return s;
    if (s.code() == Code::kUnavailable) return Status(s).outcome_unknown();
    return s;
  }

 private:
  explicit SqlTransaction(Connection& conn) : conn_(conn) {}
  Connection& conn_;
  bool done_ = false;
};

}  // namespace tandem
