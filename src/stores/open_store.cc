#include <fmt/format.h>

#include "stores/mariadb/mariadb_store.h"
#include "stores/postgres/postgres_store.h"
#include "stores/sqlite/sqlite_connection.h"
#include "stores/sqlite/sqlite_store.h"
#include "tandem/store.h"

namespace tandem {

Result<std::unique_ptr<Store>> open_store(std::string_view name, std::string_view url, StoreOptions options) {
  std::string_view scheme = url.substr(0, url.find(':'));
  if (url.find(':') == std::string_view::npos || scheme == "sqlite") {
    auto store = sqlite::SqliteStore::open(std::string(name), sqlite::path_from_url(url), options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(std::move(*store));
  }
  if (scheme == "postgres" || scheme == "postgresql") {
    auto store = pg::PostgresStore::open(std::string(name), url, options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(std::move(*store));
  }
  if (scheme == "mariadb" || scheme == "mysql") {
    auto store = maria::MariaDbStore::open(std::string(name), url, options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(std::move(*store));
  }
  return Status::Config(
      fmt::format("{} database: unsupported URL scheme '{}' in '{}' (supported: sqlite:PATH, "
                  "postgres://USER@HOST:PORT/DB, mariadb://USER@HOST:PORT/DB)",
                  name, scheme, redact_url(url)));
}

}  // namespace tandem
