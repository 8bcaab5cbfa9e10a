// RAII over MariaDB Connector/C: a connection with a cache of server-side
// prepared statements (binary protocol, every value a bound parameter), rows
// streamed one at a time, a pool, and error classification by error number:
// a value the server refuses for good (too long, out of range, a wrong value,
// a packet over max_allowed_packet, a row too large) is kInvalidArgument,
// never retryable.
// Connector/C types never leave src/.
//
// Thread safety: a Connection is used by one thread at a time (the pool hands
// each to one caller); the Pool is thread-safe.
#pragma once

#include <mysql.h>

#include <fmt/format.h>
#include <cstdint>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stores/connection_pool.h"
#include "tandem/status.h"

namespace tandem::mariadb {

// A parsed URL: mariadb://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?OPTIONS] (also
// mysql://). Options: password_file=PATH, password_env=VAR (the password is
// read here and handed to the client library, never put in argv or messages),
// socket=PATH, and TLS: ssl_mode=disabled|required|verify_ca|verify_identity,
// ssl_ca=, ssl_capath=, ssl_cert=, ssl_key=, ssl_cipher=, tls_version=.
struct ConnectionSpec {
  std::string host = "127.0.0.1";
  unsigned port = 3306;
  std::string user;
  std::string password;
  std::string database;
  std::string socket;
  std::unordered_map<std::string, std::string> tls;  // option name -> value
  std::string display;                               // redacted, for messages
  bool read_only = false;                            // every transaction READ ONLY
  // Connector/C's timeouts in seconds (the control store's are short).
  unsigned connect_timeout = 10;
  unsigned io_timeout = 900;
  // Run once on each new session after tandem's own setup (e.g. SET innodb_lock_wait_timeout).
  std::string session_sql;
  static Result<ConnectionSpec> parse(std::string_view url);
};

// One bound parameter.
struct Param {
  enum class Kind : uint8_t { kNull, kInt, kDouble, kText, kBytes };
  Kind kind = Kind::kNull;
  int64_t integer = 0;
  double real = 0;
  std::string text;
  static Param null() { return {}; }
  static Param of(int64_t v) { return {Kind::kInt, v, 0, {}}; }
  static Param of(double v) { return {Kind::kDouble, 0, v, {}}; }
  static Param of(std::string v) { return {Kind::kText, 0, 0, std::move(v)}; }
  static Param bytes(std::string v) { return {Kind::kBytes, 0, 0, std::move(v)}; }
};

// One fetched row. Integer columns read as int64, floating columns as double,
// dates and times as text "YYYY-MM-DD HH:MM:SS.ffffff", everything else as
// text (bytes for binary columns). Valid only inside the visit callback.
class Row {
 public:
  enum class Kind : uint8_t { kInt, kDouble, kText };
  size_t size() const { return columns_.size(); }
  bool is_null(size_t col) const { return columns_[col].null != 0; }
  Kind kind(size_t col) const { return columns_[col].kind; }
  int64_t integer(size_t col) const { return columns_[col].integer; }
  double real(size_t col) const { return columns_[col].real; }
  std::string_view text(size_t col) const;
  // The value as text whatever its kind (for messages and raw rows).
  std::string as_text(size_t col) const;

 private:
  friend class Connection;
  struct Column {
    Kind kind = Kind::kText;
    bool temporal = false;
    bool date_only = false;  // a DATE column (else DATETIME or TIMESTAMP: with the time, even a zero date)
    int64_t integer = 0;
    double real = 0;
    MYSQL_TIME time{};
    std::string buffer;
    unsigned long length = 0;
    my_bool null = 0;
    my_bool error = 0;
  };
  std::vector<Column> columns_;
  mutable std::string time_text_;
};

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> open(const ConnectionSpec& spec);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool broken() const { return broken_; }
  // Marks the connection unusable so the pool closes it (e.g. when it may
  // still hold named locks it failed to release: closing releases them).
  void discard() { broken_ = true; }
  const std::string& display() const { return display_; }

  // Runs a prepared statement, visiting each row it returns (if any); returns
  // the rows affected. Statements are prepared once per connection.
  Result<uint64_t> run(const std::string& sql, const std::vector<Param>& params, std::string_view what,
                       const std::function<Status(const Row&)>& visit = nullptr);
  // A statement without parameters or rows, over the text protocol.
  Status exec_simple(const std::string& sql, std::string_view what);
  // The server's error number of the last failed call (0 if none yet).
  unsigned last_error() const { return last_error_; }
  // The session's max_allowed_packet: no statement may be larger.
  size_t max_packet() const { return max_packet_; }

 private:
  Connection(MYSQL* mysql, std::string display) : mysql_(mysql), display_(std::move(display)) {}
  Result<MYSQL_STMT*> prepared(const std::string& sql, std::string_view what);
  Status error(unsigned number, std::string_view sqlstate, std::string_view message, std::string_view what);
  Status stmt_error(MYSQL_STMT* stmt, std::string_view what);

  MYSQL* mysql_;
  std::string display_;
  bool broken_ = false;
  unsigned last_error_ = 0;
  size_t max_packet_ = size_t{1} << 20;  // read from the server at open
  std::unordered_map<std::string, MYSQL_STMT*> statements_;
};

using Pool = ConnectionPool<Connection, ConnectionSpec>;

// START TRANSACTION [mode] ... COMMIT on one connection; rolls back unless committed.
struct Transaction {
  static Result<std::unique_ptr<SqlTransaction<Connection>>> begin(Connection& conn,
                                                                   std::string_view mode = "") {
    return SqlTransaction<Connection>::begin(
        conn, mode.empty() ? std::string("START TRANSACTION") : fmt::format("START TRANSACTION {}", mode));
  }
};

}  // namespace tandem::mariadb
