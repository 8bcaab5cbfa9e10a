// Registers the MariaDB store with open_store (src/stores/store_engines.h).
#include "stores/mariadb/mariadb_store.h"
#include "stores/store_engines.h"

// Kept by the linker option of tandem::mariadb, so that this object, and with
// it the registration below, is part of every program that links the component.
extern "C" {
extern const int tandem_mariadb_store_linked;
const int tandem_mariadb_store_linked = 1;
}

namespace tandem::mariadb {
namespace {

Result<std::unique_ptr<Store>> open_mariadb(std::string name, std::string_view url, StoreOptions options) {
  auto store = MariaDbStore::open(std::move(name), url, options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

[[maybe_unused]] const bool registered = register_store_engine({.name = "MariaDB",
                                                                .schemes = {"mariadb", "mysql"},
                                                                .url_form = "mariadb://USER@HOST:PORT/DB",
                                                                .open = open_mariadb});

}  // namespace
}  // namespace tandem::mariadb
