// RAII over libpq: a connection with a prepared-statement cache, a pool, and
// error classification by SQLSTATE. libpq types never leave src/.
#pragma once

#include <libpq-fe.h>

#include <fmt/format.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stores/connection_pool.h"
#include "tandem/status.h"

namespace tandem::postgres {

// A parsed connection URL: what libpq gets, and a redacted form for messages.
// tandem's own parameters password_file=PATH and password_env=VAR are read
// here and passed to libpq as a keyword, never as part of a URL or argv.
struct ConnectionSpec {
  std::string conninfo;    // the URL without tandem's parameters
  std::string password;    // empty: none given (libpq may still use ~/.pgpass)
  std::string display;     // redacted, for messages
  bool read_only = false;  // every transaction read-only (default_transaction_read_only)
  // libpq's connect_timeout, in seconds; the control store's is short.
  int connect_timeout_s = 10;
  // More libpq keywords (e.g. tcp_user_timeout), after those of the URL.
  std::vector<std::pair<std::string, std::string>> keywords;
  // Run once on each new session after tandem's own setup (e.g. SET lock_timeout).
  std::string session_sql;
  static Result<ConnectionSpec> parse(std::string_view url);
};

// One bound parameter: text, or binary (bytea), or NULL.
struct Param {
  std::string value;
  bool is_null = false;
  bool binary = false;
};

// Owns a PGresult.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : r_(r) {}
  ~PgResult() {
    if (r_ != nullptr) PQclear(r_);
  }
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept {
    if (this != &o) {
      if (r_ != nullptr) PQclear(r_);
      r_ = o.r_;
      o.r_ = nullptr;
    }
    return *this;
  }
  PGresult* get() const { return r_; }
  int rows() const { return PQntuples(r_); }
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col))};
  }
  int64_t affected() const;

 private:
  PGresult* r_ = nullptr;
};

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> open(const ConnectionSpec& spec);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool broken() const { return broken_ || PQstatus(conn_) != CONNECTION_OK; }
  // Runs a statement with parameters (prepared once per connection).
  Result<PgResult> exec(const std::string& sql, const std::vector<Param>& params, std::string_view what);
  Status exec_simple(const std::string& sql, std::string_view what);
  // Runs `COPY ... FROM STDIN` (sql) and sends data, rows in COPY's text
  // format. Errors as exec(): a row the server refuses is kInvalidArgument.
  Status copy_in(const std::string& sql, std::string_view data, std::string_view what);
  // Streams the rows of a query one at a time (single-row mode).
  Status stream(const std::string& sql, const std::vector<Param>& params, std::string_view what,
                const std::function<Status(const PgResult& row)>& visit);
  const std::string& display() const { return display_; }
  // The SQLSTATE of the last error a call returned ("" if it had none), e.g.
  // "23505" for a unique violation.
  const std::string& last_sqlstate() const { return last_sqlstate_; }

 private:
  Connection(PGconn* conn, std::string display) : conn_(conn), display_(std::move(display)) {}
  Result<std::string> prepared(const std::string& sql, int n_params, std::string_view what);
  Status error(const PGresult* r, std::string_view what);

  PGconn* conn_;
  std::string display_;
  bool broken_ = false;
  std::string last_sqlstate_;
  std::unordered_map<std::string, std::string> statements_;  // sql -> prepared name
};

using Pool = ConnectionPool<Connection, ConnectionSpec>;

// BEGIN [mode] ... COMMIT on one connection; rolls back unless committed.
struct Transaction {
  static Result<std::unique_ptr<SqlTransaction<Connection>>> begin(Connection& conn,
                                                                   std::string_view mode = "") {
    return SqlTransaction<Connection>::begin(
        conn, mode.empty() ? std::string("BEGIN") : fmt::format("BEGIN {}", mode));
  }
};

}  // namespace tandem::postgres
