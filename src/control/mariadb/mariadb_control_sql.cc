// The control store's SQL layer on MariaDB/MySQL (control_sql.h), over the
// store's connection and pool (stores/mariadb/mariadb_connection.h), with
// short timeouts: an instance's lease depends on reaching the control store,
// so an unreachable server fails a call within seconds, never hangs it.
// Registered with open_control_store for mariadb:// and mysql:// URLs.
#include <fmt/format.h>

#include "control/sql/control_sql.h"
#include "stores/mariadb/mariadb_connection.h"

// Kept by the linker option of tandem::mariadb, so that this object, and with
// it the registration below, is part of every program that links the component.
extern "C" {
extern const int tandem_mariadb_control_linked;
const int tandem_mariadb_control_linked = 1;
}

namespace tandem::mariadb {
namespace {

using Cache = control_sql::ConnectionCache<Connection, ConnectionSpec>;

std::vector<Param> my_params(const std::vector<control_sql::Param>& params) {
  using Kind = control_sql::Param::Kind;
  std::vector<Param> out;
  for (const control_sql::Param& p : params) {
    switch (p.kind) {
      case Kind::kNull:
        out.push_back(Param::null());
        break;
      case Kind::kInt:
        out.push_back(Param::of(p.integer));
        break;
      case Kind::kDouble:
        out.push_back(Param::of(p.real));
        break;
      case Kind::kText:
        out.push_back(Param::of(p.text));
        break;
      case Kind::kBytes:
        out.push_back(Param::bytes(p.text));
        break;
    }
  }
  return out;
}

class MySession : public control_sql::Session {
 public:
  MySession(Cache& cache, std::unique_ptr<Connection> conn) : cache_(cache), lease_(std::move(conn)) {}
  ~MySession() override { cache_.give_back(std::move(lease_)); }
  MySession(const MySession&) = delete;
  MySession& operator=(const MySession&) = delete;
  Status simple(const std::string& sql, std::string_view what) override {
    return lease_->exec_simple(sql, what);
  }
  Result<int64_t> exec(const std::string& sql, const std::vector<control_sql::Param>& params,
                       std::string_view what) override {
    TANDEM_ASSIGN_OR_RETURN(uint64_t n, lease_->run(sql, my_params(params), what));
    return static_cast<int64_t>(n);
  }
  Result<std::vector<control_sql::Row>> query(const std::string& sql,
                                              const std::vector<control_sql::Param>& params,
                                              std::string_view what) override {
    std::vector<control_sql::Row> rows;
    TANDEM_RETURN_IF_ERROR(lease_
                               ->run(sql, my_params(params), what,
                                     [&](const Row& r) {
                                       control_sql::Row row;
                                       for (size_t c = 0; c < r.size(); ++c) {
                                         if (r.is_null(c)) {
                                           row.emplace_back();
                                         } else {
                                           row.emplace_back(r.as_text(c));
                                         }
                                       }
                                       rows.push_back(std::move(row));
                                       return Status::Ok();
                                     })
                               .status());
    return rows;
  }

 private:
  Cache& cache_;
  std::unique_ptr<Connection> lease_;
};

class MyEngine : public control_sql::Engine {
 public:
  explicit MyEngine(ConnectionSpec spec) : pool_(std::move(spec), "DO 1") {
    dialect_.begin = "START TRANSACTION";
    // InnoDB's default isolation, REPEATABLE READ: one snapshot from the start.
    dialect_.begin_snapshot = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
    // The session's time zone is UTC (the connection sets it).
    dialect_.now_micros = "CAST(UNIX_TIMESTAMP(SYSDATE(6)) * 1000000 AS SIGNED)";
    dialect_.id_column = "BIGINT AUTO_INCREMENT PRIMARY KEY";
    dialect_.key_text = "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
    dialect_.text = "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
    dialect_.bytes = "LONGBLOB";
    dialect_.real = "DOUBLE";
    dialect_.table_options = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
    dialect_.for_share = "LOCK IN SHARE MODE";
    dialect_.current_schema = "DATABASE()";
    dialect_.heartbeat_read = control_sql::Dialect::HeartbeatRead::kReturning;
    dialect_.create_index_if_not_exists = false;
    dialect_.on_conflict = [](std::string_view) { return std::string("ON DUPLICATE KEY UPDATE"); };
    dialect_.excluded = [](std::string_view column) { return fmt::format("VALUES({})", column); };
  }
  Result<std::unique_ptr<control_sql::Session>> session() override {
    TANDEM_ASSIGN_OR_RETURN(auto conn, pool_.take());
    return std::unique_ptr<control_sql::Session>(new MySession(pool_, std::move(conn)));
  }
  const control_sql::Dialect& dialect() const override { return dialect_; }
  const std::string& display() const override { return pool_.spec().display; }

 private:
  Cache pool_;
  control_sql::Dialect dialect_;
};

Result<std::unique_ptr<control_sql::Engine>> open_engine(std::string_view url) {
  TANDEM_ASSIGN_OR_RETURN(ConnectionSpec spec, ConnectionSpec::parse(url));
  spec.connect_timeout = 2;
  spec.io_timeout = 5;  // a server that stops answering mid-call fails it within seconds
  // Lock waits end first (kBusy); every statement outside a transaction
  // commits, whatever the server's default.
  spec.session_sql = "SET SESSION innodb_lock_wait_timeout = 3, autocommit = 1";
  return std::unique_ptr<control_sql::Engine>(new MyEngine(std::move(spec)));
}

[[maybe_unused]] const bool registered =
    control_sql::register_engine({.schemes = {"mariadb", "mysql"}, .open = open_engine});

}  // namespace
}  // namespace tandem::mariadb
