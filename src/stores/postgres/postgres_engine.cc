// Registers the PostgreSQL store with open_store (src/stores/store_engines.h).
#include "stores/postgres/postgres_store.h"
#include "stores/store_engines.h"

// Kept by the linker option of tandem::postgres, so that this object, and with
// it the registration below, is part of every program that links the component.
extern "C" {
extern const int tandem_postgres_store_linked;
const int tandem_postgres_store_linked = 1;
}

namespace tandem::postgres {
namespace {

Result<std::unique_ptr<Store>> open_postgres(std::string name, std::string_view url, StoreOptions options) {
  auto store = PostgresStore::open(std::move(name), url, options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

[[maybe_unused]] const bool registered = register_store_engine({.name = "PostgreSQL",
                                                                .schemes = {"postgres", "postgresql"},
                                                                .url_form = "postgres://USER@HOST:PORT/DB",
                                                                .open = open_postgres});

}  // namespace
}  // namespace tandem::postgres
