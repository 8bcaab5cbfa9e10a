// A service outside tandem's tree, built against an installed tandem (CMake
// package or pkg-config; tests/consumer/run.sh). It routes a write and a read
// through a Migration between two SQLite files, then checks which store
// engines it was linked with: `consumer DIR core` expects only SQLite (a
// postgres:// URL is refused as not linked), `consumer DIR all` expects the
// PostgreSQL and MariaDB engines to be there (a URL to a closed port fails to
// connect instead). Prints "consumer: ok" and exits 0 when all holds.
#include <tandem/config.h>
#include <tandem/migration.h>
#include <tandem/operator_tools.h>
#include <tandem/store.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "consumer: %s\n", what.c_str());
  return 1;
}

// True if opening url fails because the engine was not linked in.
bool refused_as_not_linked(std::string_view url) {
  auto store = tandem::open_store("probe", url);
  return !store.ok() && store.status().message().find("linked without") != std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return fail("usage: consumer DIR core|all");
  const std::filesystem::path dir = argv[1];
  const std::string_view linked = argv[2];
  const std::string toml = R"(
[migration]
name = "consumer"
control = "sqlite:control.db"
[databases]
old = "sqlite:old.db"
new = "sqlite:new.db"
[[collections]]
name = "users"
key = ["id"]
columns = [ { name = "id", type = "int" }, { name = "email", type = "text" } ]
)";
  auto config = tandem::Config::parse(toml, "consumer.toml", dir);
  if (!config.ok()) return fail(config.status().message());
  {
    auto old_store = tandem::open_store("old", config->old_url);
    if (!old_store.ok()) return fail(old_store.status().message());
    tandem::Status s = (*old_store)->ensure_collection(config->collections[0], true);
    if (!s.ok()) return fail(s.message());
    // What `tandem init` does: a Migration's open creates no table.
    auto new_store = tandem::open_store("new", config->new_url);
    if (!new_store.ok()) return fail(new_store.status().message());
    auto created = tandem::init_new_tables(*config, **old_store, new_store->get(), /*dry_run=*/false);
    if (!created.ok()) return fail(created.status().message());
  }
  auto migration = tandem::Migration::open(*config);
  if (!migration.ok()) return fail(migration.status().message());
  auto users = (*migration)->collection("users");
  if (!users.ok()) return fail(users.status().message());
  tandem::Record record{tandem::Key{42}, {{"email", tandem::Value("a@example.org")}}};
  if (tandem::Status s = (*users)->put(record); !s.ok()) return fail(s.message());
  auto read = (*users)->get(tandem::Key{42});
  if (!read.ok()) return fail(read.status().message());
  if (!read->has_value() || **read != record)
    return fail("the record read back differs from the one written");

  const bool postgres_missing = refused_as_not_linked("postgres://nobody@127.0.0.1:1/none?connect_timeout=2");
  const bool mariadb_missing = refused_as_not_linked("mariadb://nobody@127.0.0.1:1/none");
  if (linked == "core" && (!postgres_missing || !mariadb_missing)) {
    return fail("linked with tandem::core only, yet a server engine is registered");
  }
  if (linked == "all" && (postgres_missing || mariadb_missing)) {
    return fail("linked with every component, yet a server engine is missing");
  }
  std::printf("consumer: ok (%s)\n", std::string(linked).c_str());
  return 0;
}
