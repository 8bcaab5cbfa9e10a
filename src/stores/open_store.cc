#include <fmt/format.h>

#include <algorithm>

#include "stores/sqlite/sqlite_connection.h"
#include "stores/sqlite/sqlite_store.h"
#include "stores/store_engines.h"
#include "tandem/store.h"

namespace tandem {
namespace {

std::vector<StoreEngine>& engines() {
  static std::vector<StoreEngine> registered;  // filled before main(), read after
  return registered;
}

Result<std::unique_ptr<Store>> open_sqlite(std::string name, std::string_view url, StoreOptions options) {
  auto store = sqlite::SqliteStore::open(std::move(name), sqlite::path_from_url(url), options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

[[maybe_unused]] const bool sqlite_registered = register_store_engine(
    {.name = "SQLite", .schemes = {"sqlite"}, .url_form = "sqlite:PATH", .open = open_sqlite});

// The engines tandem ships as components of their own, for a clear message when
// a program was linked without one.
struct KnownComponent {
  std::string_view scheme, name, component;
};
constexpr KnownComponent kComponents[] = {{"postgres", "PostgreSQL", "postgres"},
                                          {"postgresql", "PostgreSQL", "postgres"},
                                          {"mariadb", "MariaDB", "mariadb"},
                                          {"mysql", "MariaDB", "mariadb"}};

}  // namespace

bool register_store_engine(StoreEngine engine) {
  engines().push_back(std::move(engine));
  return true;
}

Result<std::unique_ptr<Store>> open_store(std::string_view name, std::string_view url, StoreOptions options) {
  // A plain path (no scheme) is an SQLite file.
  std::string_view scheme = url.find(':') == std::string_view::npos ? "sqlite" : url.substr(0, url.find(':'));
  for (const StoreEngine& engine : engines()) {
    if (std::find(engine.schemes.begin(), engine.schemes.end(), scheme) != engine.schemes.end()) {
      return engine.open(std::string(name), url, options);
    }
  }
  for (const KnownComponent& c : kComponents) {
    if (c.scheme == scheme) {
      return Status::Config(fmt::format(
          "{} database: '{}' is a {} URL, but this program was linked without tandem's {} store: link "
          "tandem::{} (CMake) or tandem-{} (pkg-config), or tandem::tandem for every engine",
          name, redact_url(url), c.name, c.name, c.component, c.component));
    }
  }
  std::string forms;
  for (const StoreEngine& engine : engines()) {
    forms += forms.empty() ? "" : ", ";
    forms += engine.url_form;
  }
  return Status::Config(fmt::format("{} database: unsupported URL scheme '{}' in '{}' (supported: {})", name,
                                    scheme, redact_url(url), forms));
}

}  // namespace tandem
