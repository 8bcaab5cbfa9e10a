// A server database made for one stress run (see stress_databases.h).
#include "stress/stress_databases.h"

#include <fmt/format.h>

#include "stores/mariadb/mariadb_connection.h"
#include "stores/postgres/postgres_connection.h"

namespace tandem::stress {

Result<std::unique_ptr<ServerDatabase>> ServerDatabase::create(const std::string& engine,
                                                               const std::string& admin,
                                                               const std::string& name) {
  auto db = std::unique_ptr<ServerDatabase>(new ServerDatabase(engine, admin, name));
  TANDEM_RETURN_IF_ERROR(db->exec(fmt::format("CREATE DATABASE {}", name)));
  return db;
}

ServerDatabase::~ServerDatabase() {
  (void)exec(engine_ == "postgres" ? fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name_)
                                   : fmt::format("DROP DATABASE IF EXISTS {}", name_));
}

std::string ServerDatabase::url() const { return admin_.substr(0, admin_.rfind('/') + 1) + name_; }

Status ServerDatabase::exec(const std::string& sql) const {
  if (engine_ == "postgres") {
    TANDEM_ASSIGN_OR_RETURN(auto spec, postgres::ConnectionSpec::parse(admin_));
    TANDEM_ASSIGN_OR_RETURN(auto conn, postgres::Connection::open(spec));
    return conn->exec_simple(sql, "administering the stress database");
  }
  TANDEM_ASSIGN_OR_RETURN(auto spec, mariadb::ConnectionSpec::parse(admin_));
  TANDEM_ASSIGN_OR_RETURN(auto conn, mariadb::Connection::open(spec));
  return conn->exec_simple(sql, "administering the stress database");
}

}  // namespace tandem::stress
