// The small SQL layer under the control store on a database server: a session
// (one pooled connection) that runs statements with bound parameters and
// returns rows of nullable text, and the dialect's few engine-specific
// spellings. SqlControlStore (sql_control_store.h) holds the logic once;
// src/control/postgres/ and src/control/mariadb/ implement this layer.
//
// SQL is written with '?' placeholders; an engine that numbers them (libpq's
// $1) rewrites them. Every value comes back as text: integers in decimal,
// bytes (BYTEA, BLOB columns) as the raw bytes.
//
// Thread safety: an SqlEngine is thread-safe (a pool); a session belongs to
// one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_annotations.h"
#include "tandem/status.h"

namespace tandem::control_sql {

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
  static Param of(std::string_view v) { return {Kind::kText, 0, 0, std::string(v)}; }
  static Param bytes(std::string_view v) { return {Kind::kBytes, 0, 0, std::string(v)}; }
  static Param bytes_or_null(const std::optional<std::string>& v) { return v ? bytes(*v) : null(); }
};

using Row = std::vector<std::optional<std::string>>;

// A column read as an integer or a double (kCorruption naming what if it is not one).
Result<int64_t> as_int(const std::optional<std::string>& v, std::string_view what);
Result<double> as_double(const std::optional<std::string>& v, std::string_view what);

// One connection, taken from the engine's pool (back in it when destroyed,
// unless broken: the next session reconnects).
class Session {
 public:
  virtual ~Session() = default;
  // A statement without parameters or rows (DDL, BEGIN, COMMIT).
  virtual Status simple(const std::string& sql, std::string_view what) = 0;
  // Runs a statement; returns the rows it matched (UPDATE, DELETE) or inserted.
  virtual Result<int64_t> exec(const std::string& sql, const std::vector<Param>& params,
                               std::string_view what) = 0;
  virtual Result<std::vector<Row>> query(const std::string& sql, const std::vector<Param>& params,
                                         std::string_view what) = 0;
};

// The spellings that differ between engines.
struct Dialect {
  std::string begin;           // "BEGIN" / "START TRANSACTION"
  std::string begin_snapshot;  // a read-only transaction whose statements all see one snapshot
  std::string now_micros;      // the server's clock, integer microseconds since the epoch
  std::string id_column;       // an auto-increment BIGINT primary key column type
  std::string key_text;        // short text that is compared or indexed (binary collation)
  std::string text;            // long text
  std::string bytes;           // arbitrary bytes (keys, cursors)
  std::string real;            // a double
  std::string table_options;   // after CREATE TABLE (...)
  std::string for_share;       // a shared row lock: "FOR SHARE" / "LOCK IN SHARE MODE"
  std::string current_schema;  // the schema/database tables are created in
  // How a refresh writes its heartbeat and reads the step in one statement
  // (SqlControlStore::heartbeat_and_read_step): a data-modifying WITH
  // (PostgreSQL), INSERT ... RETURNING a subquery (MariaDB 10.5 and later,
  // confirmed at open with server_version), or two statements (MySQL).
  enum class HeartbeatRead : uint8_t { kTwoStatements, kWith, kReturning };
  HeartbeatRead heartbeat_read = HeartbeatRead::kTwoStatements;
  // Whether CREATE INDEX takes IF NOT EXISTS (MySQL's does not: the index is
  // then looked up in information_schema.statistics first).
  bool create_index_if_not_exists = true;
  // Run in the schema's transaction to serialize concurrent first opens (may be empty).
  std::string schema_lock;
  // "ON CONFLICT (cols) DO UPDATE SET" / "ON DUPLICATE KEY UPDATE"
  std::function<std::string(std::string_view conflict_columns)> on_conflict;
  // The value proposed for column in an upsert: "EXCLUDED.c" / "VALUES(c)".
  std::function<std::string(std::string_view column)> excluded;
  // Replaces $ID, $KEYTEXT, $TEXT, $BYTES, $REAL and $OPTIONS in a DDL template.
  std::string ddl(std::string_view templ) const;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual Result<std::unique_ptr<Session>> session() = 0;
  virtual const Dialect& dialect() const = 0;
  // The URL without secrets, for messages.
  virtual const std::string& display() const = 0;
};

// A transaction on a session; rolls back unless committed.
class Transaction {
 public:
  static Result<std::unique_ptr<Transaction>> begin(Session& session, const Dialect& dialect);
  // Read-only; every statement sees the same snapshot.
  static Result<std::unique_ptr<Transaction>> begin_snapshot(Session& session, const Dialect& dialect);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  // A connection lost during COMMIT is kUnavailable with outcome_unknown.
  Status commit();

 private:
  explicit Transaction(Session& session) : session_(session) {}
  Session& session_;
  bool done_ = false;
};

// The engines' pool of connections (Connection: the store's class, with
// open(spec), broken() and exec_simple()). Unlike the stores' pool it expects
// the server to go away: a connection idle for a while is checked (ping) before
// it is handed out, and when one is found lost every idle one is dropped too
// (a restarted server lost them all), so the next call reconnects.
template <class Connection, class Spec>
class ConnectionCache {
 public:
  ConnectionCache(Spec spec, std::string ping) : spec_(std::move(spec)), ping_(std::move(ping)) {}
  const Spec& spec() const { return spec_; }

  Result<std::unique_ptr<Connection>> take() {
    for (;;) {
      Idle idle;
      {
        MutexLock lock(mutex_);
        if (idle_.empty()) break;
        idle = std::move(idle_.back());
        idle_.pop_back();
      }
      if (idle.conn->broken()) continue;
      if (std::chrono::steady_clock::now() - idle.since < std::chrono::seconds(2))
        return std::move(idle.conn);
      if (idle.conn->exec_simple(ping_, "checking the connection").ok()) return std::move(idle.conn);
      drop_idle();
    }
    return Connection::open(spec_);
  }
  void give_back(std::unique_ptr<Connection> conn) {
    if (conn == nullptr) return;
    if (conn->broken()) {
      drop_idle();
      return;
    }
    MutexLock lock(mutex_);
    idle_.push_back({std::move(conn), std::chrono::steady_clock::now()});
  }

 private:
  struct Idle {
    std::unique_ptr<Connection> conn;
    std::chrono::steady_clock::time_point since;
  };
  void drop_idle() {
    std::vector<Idle> dropped;
    MutexLock lock(mutex_);
    dropped.swap(idle_);
  }
  Spec spec_;
  std::string ping_;
  Mutex mutex_;
  std::vector<Idle> idle_ GUARDED_BY(mutex_);
};

// The engines' openers, registered from the engine libraries (tandem::postgres,
// tandem::mariadb) so that tandem::core links neither client library.
struct EngineOpener {
  std::vector<std::string_view> schemes;
  std::function<Result<std::unique_ptr<Engine>>(std::string_view url)> open;
};
bool register_engine(EngineOpener opener);
// The opener for scheme, or nullptr if none is linked.
const EngineOpener* find_engine(std::string_view scheme);

}  // namespace tandem::control_sql
