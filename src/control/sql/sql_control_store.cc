// The control store on a database server: opening, the schema, initialize and
// metadata (the concerns are in the files named in sql_control_store.h).
#include "control/sql/sql_control_store.h"

#include <fmt/format.h>

#include <cstdio>

#include "tandem/store.h"

namespace tandem::control_sql {

namespace {
// Every table the schemas create: when all exist, opening creates nothing (the
// account then needs no CREATE privilege).
constexpr std::string_view kTables[] = {
    "tandem_meta",       "tandem_step_state",          "tandem_step_history",
    "tandem_instances",  "tandem_forgotten_instances", "tandem_repair_queue",
    "tandem_quarantine", "tandem_shadow_counters",     "tandem_shadow_samples",
    "tandem_backfill",   "tandem_backfill_ranges",     "tandem_verify_runs"};
constexpr std::string_view kCreateIndex = "CREATE INDEX IF NOT EXISTS ";
// Columns added since the first release of each table (BIGINT NOT NULL
// DEFAULT 0): the lease each heartbeat records, a range's claim time and
// count at claim (a worker's rate).
struct AddedColumn {
  std::string_view table;
  std::string_view column;
};
constexpr AddedColumn kAddedColumns[] = {{"tandem_instances", "lease_ms"},
                                         {"tandem_backfill_ranges", "claimed_at"},
                                         {"tandem_backfill_ranges", "claimed_scanned"}};
}  // namespace

Status SqlControlStore::open() {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  TANDEM_RETURN_IF_ERROR(detect_heartbeat_read(*session));
  std::string names;
  for (std::string_view t : kTables) names += fmt::format("{}'{}'", names.empty() ? "" : ", ", t);
  TANDEM_ASSIGN_OR_RETURN(
      auto rows,
      session->query(fmt::format("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = {} "
                                 "AND table_name IN ({})",
                                 dialect().current_schema, names),
                     {}, "looking for the control tables"));
  TANDEM_ASSIGN_OR_RETURN(int64_t found, as_int(rows.at(0).at(0), "the number of control tables"));
  if (found == static_cast<int64_t>(std::size(kTables))) return upgrade(*session);
  std::unique_ptr<Transaction> tx;
  if (!dialect().schema_lock.empty()) {
    TANDEM_ASSIGN_OR_RETURN(tx, Transaction::begin(*session, dialect()));
    TANDEM_RETURN_IF_ERROR(session->query(dialect().schema_lock, {}, "locking the control schema").status());
  }
  for (const auto* schema : {&kStepsSchema, &kInstancesSchema, &kRepairQuarantineSchema, &kShadowSchema,
                             &kBackfillSchema, &kVerifySchema}) {
    for (std::string_view statement : *schema) {
      Status made = statement.starts_with(kCreateIndex) && !dialect().create_index_if_not_exists
                        ? create_index(*session, statement)
                        : session->simple(dialect().ddl(statement), "creating the control tables");
      TANDEM_RETURN_IF_ERROR(made.with_context(
          "the control account needs the privilege to create tables on first use (docs/CONTROL_STORE.md)"));
    }
  }
  if (tx) TANDEM_RETURN_IF_ERROR(tx->commit());
  return Status::Ok();
}

Status SqlControlStore::create_index(Session& session, std::string_view statement) {
  // "CREATE INDEX IF NOT EXISTS <name> ON <table> (...)"
  std::string_view rest = statement.substr(kCreateIndex.size());
  std::string name(rest.substr(0, rest.find(' ')));
  auto exists = [&]() -> Result<bool> {
    TANDEM_ASSIGN_OR_RETURN(
        auto rows, session.query(fmt::format("SELECT COUNT(*) FROM information_schema.statistics WHERE "
                                             "table_schema = {} AND index_name = ?",
                                             dialect().current_schema),
                                 {Param::of(name)}, fmt::format("looking for the control index {}", name)));
    TANDEM_ASSIGN_OR_RETURN(int64_t n, as_int(rows.at(0).at(0), "an index count"));
    return n > 0;
  };
  TANDEM_ASSIGN_OR_RETURN(bool has, exists());
  if (has) return Status::Ok();
  Status made = session.simple(fmt::format("CREATE INDEX {}", rest), "creating the control tables");
  if (made.ok()) return made;
  TANDEM_ASSIGN_OR_RETURN(has, exists());  // another process made it first
  return has ? Status::Ok() : made;
}

Status SqlControlStore::detect_heartbeat_read(Session& session) {
  heartbeat_read_ = dialect().heartbeat_read;
  if (heartbeat_read_ != Dialect::HeartbeatRead::kReturning) return Status::Ok();
  TANDEM_ASSIGN_OR_RETURN(auto rows, session.query("SELECT VERSION()", {}, "reading the server's version"));
  // "10.11.6-MariaDB-0+deb12u1": RETURNING since MariaDB 10.5; MySQL has none.
  std::string version = rows.empty() ? "" : rows[0].at(0).value_or("");
  int major = 0;
  int minor = 0;
  bool mariadb = version.find("MariaDB") != std::string::npos &&
                 std::sscanf(version.c_str(), "%d.%d", &major, &minor) == 2;  // NOLINT(cert-err34-c)
  if (!mariadb || major < 10 || (major == 10 && minor < 5)) {
    heartbeat_read_ = Dialect::HeartbeatRead::kTwoStatements;
  }
  return Status::Ok();
}

// Columns added since the tables were first made: control stores made
// before gain them (the account then needs ALTER once).
Status SqlControlStore::upgrade(Session& session) {
  for (const AddedColumn& c : kAddedColumns) {
    auto has = [&]() -> Result<bool> {
      TANDEM_ASSIGN_OR_RETURN(
          auto rows, session.query(fmt::format("SELECT COUNT(*) FROM information_schema.columns WHERE "
                                               "table_schema = {} AND table_name = ? AND column_name = ?",
                                               dialect().current_schema),
                                   {Param::of(c.table), Param::of(c.column)},
                                   fmt::format("reading the columns of {}", c.table)));
      TANDEM_ASSIGN_OR_RETURN(int64_t n, as_int(rows.at(0).at(0), "a column count"));
      return n > 0;
    };
    TANDEM_ASSIGN_OR_RETURN(bool found, has());
    if (found) continue;
    Status added = session.simple(
        fmt::format("ALTER TABLE {} ADD COLUMN {} BIGINT NOT NULL DEFAULT 0", c.table, c.column),
        fmt::format("adding {}.{} to the control store", c.table, c.column));
    if (added.ok()) continue;
    TANDEM_ASSIGN_OR_RETURN(found, has());  // another process added it first
    if (!found) return added;
  }
  return Status::Ok();
}

Status SqlControlStore::initialize(std::string_view fingerprint, size_t plan_size) {
  {
    TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
    TANDEM_ASSIGN_OR_RETURN(auto tx, Transaction::begin(*session, dialect()));
    TANDEM_ASSIGN_OR_RETURN(int64_t now_us, now(*session));
    // Inserted only if absent: two first opens at once agree on the first.
    TANDEM_RETURN_IF_ERROR(put_meta(*session, "fingerprint", fingerprint, /*overwrite=*/false));
    TANDEM_ASSIGN_OR_RETURN(auto rows,
                            session->query("SELECT value FROM tandem_meta WHERE name = 'fingerprint'", {},
                                           "reading the config fingerprint from tandem_meta"));
    std::string stored = rows.empty() ? "" : rows[0][0].value_or("");
    if (stored != fingerprint) {
      return Status::Config(fmt::format(
          "the plan or collections in the config (fingerprint {}) differ from those this migration "
          "was started with (fingerprint {}, control store '{}'); restore the original plan and "
          "collections, or start a new migration with a fresh control store",
          fingerprint, stored, engine_->display()));
    }
    TANDEM_RETURN_IF_ERROR(
        put_meta(*session, "created_at", format_time(from_micros(now_us)), /*overwrite=*/false));
    TANDEM_RETURN_IF_ERROR(
        session
            ->exec(fmt::format("INSERT INTO tandem_step_state (id, step_index, version, changed_at) "
                               "VALUES (1, 0, 1, ?) {} id = tandem_step_state.id",
                               dialect().on_conflict("id")),
                   {Param::of(now_us)}, "initializing the step state in tandem_step_state")
            .status());
    TANDEM_RETURN_IF_ERROR(tx->commit());
  }
  TANDEM_ASSIGN_OR_RETURN(StepState s, current_step());
  if (s.step_index >= plan_size) {
    return Status::Corruption(fmt::format("control store '{}' is at step {} but the plan has {} steps",
                                          engine_->display(), s.step_index + 1, plan_size));
  }
  return Status::Ok();
}

Status SqlControlStore::put_meta(Session& session, std::string_view name, std::string_view value,
                                 bool overwrite) {
  std::string update = overwrite ? dialect().excluded("value") : std::string("tandem_meta.value");
  return session
      .exec(fmt::format("INSERT INTO tandem_meta (name, value) VALUES (?, ?) {} value = {}",
                        dialect().on_conflict("name"), update),
            {Param::of(name), Param::of(value)}, fmt::format("writing '{}' in tandem_meta", name))
      .status();
}

Result<int64_t> SqlControlStore::now(Session& session) {
  TANDEM_ASSIGN_OR_RETURN(
      auto rows, session.query("SELECT " + dialect().now_micros, {}, "reading the control store's clock"));
  return as_int(rows.at(0).at(0), "the control store's clock");
}

Result<int64_t> SqlControlStore::count(std::string_view table) {
  TANDEM_ASSIGN_OR_RETURN(auto rows, query1(fmt::format("SELECT COUNT(*) FROM {}", table), {},
                                            fmt::format("counting {}", table)));
  return as_int(rows.at(0).at(0), table);
}

Result<int64_t> SqlControlStore::exec1(const std::string& sql, const std::vector<Param>& params,
                                       std::string_view what) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  auto n = session->exec(sql, params, what);
  if (!n.ok() && n.status().code() == Code::kUnavailable) return Status(n.status()).outcome_unknown();
  return n;
}

Result<std::vector<Row>> SqlControlStore::query1(const std::string& sql, const std::vector<Param>& params,
                                                 std::string_view what) {
  TANDEM_ASSIGN_OR_RETURN(auto session, engine_->session());
  return session->query(sql, params, what);
}

Result<std::unique_ptr<ControlStore>> open_sql_control_store(std::string_view scheme, std::string_view url) {
  const EngineOpener* opener = find_engine(scheme);
  if (opener == nullptr) {
    return Status::Config(fmt::format(
        "control store: '{}' is a {} URL, but this program was linked without tandem's {} component: link "
        "tandem::tandem (CMake) or tandem-{} (pkg-config)",
        redact_url(url), scheme, scheme, scheme == "mysql" ? "mariadb" : scheme));
  }
  TANDEM_ASSIGN_OR_RETURN(auto engine, opener->open(url));
  auto store = std::make_unique<SqlControlStore>(std::move(engine));
  TANDEM_RETURN_IF_ERROR(store->open().with_context("opening the control store"));
  return std::unique_ptr<ControlStore>(std::move(store));
}

}  // namespace tandem::control_sql
