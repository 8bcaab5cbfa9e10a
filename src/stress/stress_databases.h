// ServerDatabase: a database made on a PostgreSQL or MariaDB server for one
// stress run (new's database when --engine is a server) and dropped when the
// object goes. Errors are returned, never thrown.
#pragma once

#include <memory>
#include <string>

#include "tandem/status.h"

namespace tandem::stress {

// A server database made for this run and dropped at the end.
class ServerDatabase {
 public:
  // engine: "postgres" or "mariadb"; admin: an admin URL of the server.
  static Result<std::unique_ptr<ServerDatabase>> create(const std::string& engine, const std::string& admin,
                                                        const std::string& name);
  ~ServerDatabase();
  // The database's URL: admin's with the database name replaced.
  std::string url() const;

 private:
  ServerDatabase(std::string engine, std::string admin, std::string name)
      : engine_(std::move(engine)), admin_(std::move(admin)), name_(std::move(name)) {}
  Status exec(const std::string& sql) const;
  std::string engine_, admin_, name_;
};

}  // namespace tandem::stress
