// The store engines behind open_store (include/tandem/store.h), one per URL
// scheme family. SQLite is part of tandem::core (the control store needs it);
// PostgreSQL and MariaDB are components of their own (tandem::postgres,
// tandem::mariadb), so a service that uses only SQLite links neither libpq nor
// Connector/C. An engine library registers itself from a static object in its
// <engine>_engine.cc; the object file also defines the symbol
// tandem_<engine>_store_linked, which the engine's CMake target and pkg-config
// file ask the linker to keep (--undefined=...), so the registration is linked
// even though no code of the program names the engine.
//
// Thread safety: registration happens during static initialisation; lookups
// after main() starts may come from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "tandem/status.h"
#include "tandem/store.h"

namespace tandem {

struct StoreEngine {
  std::string_view name;                  // "PostgreSQL"
  std::vector<std::string_view> schemes;  // URL schemes it opens: {"postgres", "postgresql"}
  std::string_view url_form;              // for messages: "postgres://USER@HOST:PORT/DB"
  std::function<Result<std::unique_ptr<Store>>(std::string name, std::string_view url, StoreOptions options)>
      open;
};

// Adds an engine; returns true (for use as a static initialiser).
bool register_store_engine(StoreEngine engine);

}  // namespace tandem
