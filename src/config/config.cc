#include "tandem/config.h"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "core/encoding.h"
#include "tandem/mapping.h"

namespace tandem {

namespace {

std::string where_of(const toml::node& node) {
  const auto& src = node.source();
  return fmt::format("line {}", src.begin.line);
}

Status bad_at(std::string_view source, const toml::node& node, std::string_view what) {
  return Status::Config(fmt::format("{} {}: {}", source, where_of(node), what));
}

// Resolves a relative SQLite path against the config file's folder.
std::string resolve_url(std::string_view url, const std::filesystem::path& base_dir) {
  std::string_view scheme = url.substr(0, url.find(':'));
  bool sqlite = url.find(':') == std::string_view::npos || scheme == "sqlite";
  if (!sqlite) return std::string(url);
  std::string path(url);
  std::string prefix;
  if (path.rfind("sqlite://", 0) == 0) {
    prefix = "sqlite://";
    path = path.substr(9);
  } else if (path.rfind("sqlite:", 0) == 0) {
    prefix = "sqlite:";
    path = path.substr(7);
  }
  std::filesystem::path p(path);
  if (p.is_relative() && !base_dir.empty()) p = base_dir / p;
  return prefix + p.lexically_normal().string();
}

Result<std::chrono::milliseconds> read_ms(const toml::table& t, std::string_view key, std::string_view source,
                                          std::chrono::milliseconds fallback) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return fallback;
  auto v = n->value<int64_t>();
  if (!v || *v <= 0)
    return bad_at(source, *n, fmt::format("[migration] {} must be a positive integer (milliseconds)", key));
  return std::chrono::milliseconds(*v);
}

Result<std::string> read_string(const toml::node& n, std::string_view source, std::string_view what) {
  auto v = n.value<std::string>();
  if (!v) return bad_at(source, n, fmt::format("{} must be a string", what));
  return *v;
}

// The key and columns of a table (new's collection, or old's table).
Status parse_shape(const toml::table& t, const std::string& label, std::string_view source,
                   CollectionSchema& c) {
  const toml::array* cols = t.get_as<toml::array>("columns");
  if (cols == nullptr || cols->empty()) {
    return bad_at(
        source, t,
        fmt::format("{} has no columns (columns = [{{ name = \"id\", type = \"int\" }}, ...])", label));
  }
  std::vector<Column> all;
  for (size_t i = 0; i < cols->size(); ++i) {
    const toml::table* ct = (*cols)[i].as_table();
    if (ct == nullptr)
      return bad_at(source, (*cols)[i],
                    fmt::format("{}: columns[{}] must be a table {{ name, type }}", label, i));
    Column col;
    const toml::node* cn = ct->get("name");
    const toml::node* ty = ct->get("type");
    if (cn == nullptr || ty == nullptr) {
      return bad_at(source, *ct, fmt::format("{}: columns[{}] needs a name and a type", label, i));
    }
    TANDEM_ASSIGN_OR_RETURN(col.name, read_string(*cn, source, fmt::format("{}.columns[{}].name", label, i)));
    TANDEM_ASSIGN_OR_RETURN(std::string type_text,
                            read_string(*ty, source, fmt::format("{} column '{}' type", label, col.name)));
    auto type = parse_type_name(type_text);
    if (!type.ok())
      return bad_at(source, *ty, fmt::format("{} column '{}': {}", label, col.name, type.status().message()));
    col.type = *type;
    if (const toml::node* nn = ct->get("nullable")) {
      auto b = nn->value<bool>();
      if (!b)
        return bad_at(source, *nn,
                      fmt::format("{} column '{}': nullable must be true or false", label, col.name));
      col.nullable = *b;
    }
    for (auto&& [k, v] : *ct) {
      if (k != "name" && k != "type" && k != "nullable") {
        return bad_at(source, v,
                      fmt::format("{} column '{}': unknown option '{}' (expected name, type, nullable)",
                                  label, col.name, k.str()));
      }
    }
    all.push_back(std::move(col));
  }
  std::vector<std::string> key_names;
  if (const toml::node* kn = t.get("key")) {
    if (auto s = kn->value<std::string>()) {
      key_names.push_back(*s);
    } else if (const toml::array* ka = kn->as_array()) {
      for (const auto& e : *ka) {
        auto s2 = e.value<std::string>();
        if (!s2) return bad_at(source, e, fmt::format("{}: key entries must be column names", label));
        key_names.push_back(*s2);
      }
    } else {
      return bad_at(source, *kn, fmt::format("{}: key must be a column name or a list of them", label));
    }
  } else {
    return bad_at(source, t, fmt::format("{} has no key (key = [\"id\"])", label));
  }
  for (const std::string& k : key_names) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Column& col) { return col.name == k; });
    if (it == all.end())
      return bad_at(source, t, fmt::format("{}: key column '{}' is not among its columns", label, k));
    Column key_col = *it;
    key_col.nullable = false;
    c.key_columns.push_back(key_col);
  }
  for (const Column& col : all) {
    if (std::find(key_names.begin(), key_names.end(), col.name) == key_names.end()) c.columns.push_back(col);
  }
  return c.validate().with_context(source);
}

Result<CollectionSchema> parse_collection(const toml::table& t, size_t index, std::string_view source) {
  CollectionSchema c;
  std::string label = fmt::format("collections[{}]", index);
  const toml::node* name = t.get("name");
  if (name == nullptr) return bad_at(source, t, fmt::format("{} has no name", label));
  TANDEM_ASSIGN_OR_RETURN(c.name, read_string(*name, source, label + ".name"));
  label = fmt::format("collection '{}'", c.name);
  for (auto&& [k, v] : t) {
    if (k != "name" && k != "key" && k != "columns" && k != "old" && k != "new_only") {
      return bad_at(source, v,
                    fmt::format("{}: unknown option '{}' (expected name, key, columns, old, new_only)", label,
                                k.str()));
    }
  }
  TANDEM_RETURN_IF_ERROR(parse_shape(t, label, source, c));
  return c;
}

// [collections.old]: old's table and how its records become new's.
Result<CollectionMapping> parse_old(const toml::table& t, const CollectionSchema& schema,
                                    std::string_view source) {
  CollectionMapping m;
  std::string label = fmt::format("collection '{}' [collections.old]", schema.name);
  for (auto&& [k, v] : t) {
    static const std::set<std::string, std::less<>> known = {
        "table", "key", "columns", "document", "unknown_fields", "keep_in", "map", "drop"};
    if (!known.contains(k.str())) {
      return bad_at(
          source, v,
          fmt::format("{}: unknown option '{}' (expected table, key, columns, document, unknown_fields, "
                      "keep_in, map, drop)",
                      label, k.str()));
    }
  }
  m.old_schema.name = schema.name;
  if (const toml::node* n = t.get("table")) {
    TANDEM_ASSIGN_OR_RETURN(m.old_schema.name, read_string(*n, source, label + " table"));
  }
  TANDEM_RETURN_IF_ERROR(parse_shape(t, label, source, m.old_schema));
  if (const toml::node* n = t.get("document")) {
    TANDEM_ASSIGN_OR_RETURN(std::string d, read_string(*n, source, label + " document"));
    m.document = d;
  }
  if (const toml::node* n = t.get("unknown_fields")) {
    TANDEM_ASSIGN_OR_RETURN(std::string u, read_string(*n, source, label + " unknown_fields"));
    if (u == "error") {
      m.unknown = UnknownFields::kError;
    } else if (u == "drop") {
      m.unknown = UnknownFields::kDrop;
    } else if (u == "keep") {
      m.unknown = UnknownFields::kKeep;
    } else {
      return bad_at(source, *n, fmt::format("{}: unknown_fields must be error, drop or keep", label));
    }
  }
  if (const toml::node* n = t.get("keep_in")) {
    TANDEM_ASSIGN_OR_RETURN(m.keep_in, read_string(*n, source, label + " keep_in"));
  }
  if (const toml::node* n = t.get("drop")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) return bad_at(source, *n, fmt::format("{}: drop must be a list of field names", label));
    for (const auto& e : *a) {
      TANDEM_ASSIGN_OR_RETURN(std::string f, read_string(e, source, label + " drop entry"));
      m.drop.push_back(f);
    }
  }
  if (const toml::node* n = t.get("map")) {
    const toml::array* a = n->as_array();
    if (a == nullptr)
      return bad_at(source, *n, fmt::format("{}: map must be a list of {{ column, from, convert }}", label));
    for (const auto& e : *a) {
      const toml::table* et = e.as_table();
      if (et == nullptr || et->get("column") == nullptr) {
        return bad_at(
            source, e,
            fmt::format("{}: each map entry is {{ column = ..., from = ..., convert = ... }}", label));
      }
      FieldMapping f;
      for (auto&& [k, v] : *et) {
        std::string what = fmt::format("{} map entry {}", label, k.str());
        if (k == "column") {
          TANDEM_ASSIGN_OR_RETURN(f.column, read_string(v, source, what));
        } else if (k == "from") {
          TANDEM_ASSIGN_OR_RETURN(f.from, read_string(v, source, what));
        } else if (k == "convert") {
          TANDEM_ASSIGN_OR_RETURN(f.convert, read_string(v, source, what));
        } else {
          return bad_at(
              source, v,
              fmt::format("{}: unknown map option '{}' (expected column, from, convert)", label, k.str()));
        }
      }
      // Each segment of a document path must be a safe identifier too.
      std::stringstream parts(f.from);
      std::string part;
      while (std::getline(parts, part, '.')) {
        TANDEM_RETURN_IF_ERROR(validate_identifier("map from", part).with_context(label));
      }
      m.fields.push_back(std::move(f));
    }
  }
  auto mapper = Mapper::create(schema, m);
  if (!mapper.ok()) return bad_at(source, t, mapper.status().message());
  return m;
}

Result<Step> parse_step(const toml::table& t, size_t index, std::string_view source) {
  Step s;
  std::string label = fmt::format("plan step {}", index + 1);
  if (const toml::node* n = t.get("name")) {
    TANDEM_ASSIGN_OR_RETURN(s.name, read_string(*n, source, label + " name"));
    label = fmt::format("plan step {} ('{}')", index + 1, s.name);
  }
  auto side = [&](std::string_view key, bool required) -> Result<std::optional<Side>> {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required)
        return bad_at(source, t, fmt::format("{}: {} is required (\"old\" or \"new\")", label, key));
      return std::optional<Side>();
    }
    TANDEM_ASSIGN_OR_RETURN(std::string text, read_string(*n, source, fmt::format("{} {}", label, key)));
    auto v = parse_side(text);
    if (!v.ok()) return bad_at(source, *n, fmt::format("{}: {}: {}", label, key, v.status().message()));
    return std::optional<Side>(*v);
  };
  TANDEM_ASSIGN_OR_RETURN(auto rp, side("read_primary", true));
  TANDEM_ASSIGN_OR_RETURN(auto wp, side("write_primary", true));
  TANDEM_ASSIGN_OR_RETURN(s.read_secondary, side("read_secondary", false));
  TANDEM_ASSIGN_OR_RETURN(s.write_secondary, side("write_secondary", false));
  s.read_primary = *rp;
  s.write_primary = *wp;
  if (const toml::node* n = t.get("read_secondary_mode")) {
    TANDEM_ASSIGN_OR_RETURN(std::string mode, read_string(*n, source, label + " read_secondary_mode"));
    if (mode == "fallback") {
      s.read_secondary_mode = ReadSecondaryMode::kFallback;
    } else if (mode == "shadow") {
      s.read_secondary_mode = ReadSecondaryMode::kShadow;
    } else {
      return bad_at(
          source, *n,
          fmt::format("{}: read_secondary_mode '{}' must be \"fallback\" or \"shadow\"", label, mode));
    }
    if (!s.read_secondary)
      return bad_at(source, *n,
                    fmt::format("{}: read_secondary_mode is set but read_secondary is not", label));
  }
  if (const toml::node* n = t.get("notes")) {
    TANDEM_ASSIGN_OR_RETURN(s.notes, read_string(*n, source, label + " notes"));
  }
  for (auto&& [k, v] : t) {
    static const std::set<std::string, std::less<>> kKnown = {
        "name",          "read_primary",    "read_secondary", "read_secondary_mode",
        "write_primary", "write_secondary", "notes"};
    if (!kKnown.contains(k.str()))
      return bad_at(source, v, fmt::format("{}: unknown option '{}'", label, k.str()));
  }
  return s;
}

}  // namespace

Result<Config> Config::parse(std::string_view text, std::string_view source,
                             const std::filesystem::path& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text, std::string(source));
  } catch (const toml::parse_error& e) {
    return Status::Config(fmt::format("{} line {} column {}: {}", source, e.source().begin.line,
                                      e.source().begin.column, e.description()));
  }
  Config c;
  for (auto&& [k, v] : root) {
    if (k != "migration" && k != "databases" && k != "collections" && k != "plan") {
      return bad_at(
          source, v,
          fmt::format("unknown section '{}' (expected migration, databases, collections, plan)", k.str()));
    }
  }
  if (const toml::table* m = root["migration"].as_table()) {
    static const std::set<std::string, std::less<>> kKnown = {"name",
                                                              "control",
                                                              "refresh_interval_ms",
                                                              "instance_timeout_ms",
                                                              "fence",
                                                              "lock_timeout_ms",
                                                              "shadow_sample_every",
                                                              "shadow_sample_limit",
                                                              "max_cascade_records",
                                                              "ignore_relations"};
    for (auto&& [k, v] : *m) {
      if (!kKnown.contains(k.str()))
        return bad_at(source, v, fmt::format("[migration]: unknown option '{}'", k.str()));
    }
    if (const toml::node* n = m->get("name")) {
      TANDEM_ASSIGN_OR_RETURN(c.migration_name, read_string(*n, source, "[migration] name"));
    }
    if (const toml::node* n = m->get("control")) {
      TANDEM_ASSIGN_OR_RETURN(c.control_url, read_string(*n, source, "[migration] control"));
    }
    TANDEM_ASSIGN_OR_RETURN(c.refresh_interval,
                            read_ms(*m, "refresh_interval_ms", source, c.refresh_interval));
    TANDEM_ASSIGN_OR_RETURN(c.instance_timeout,
                            read_ms(*m, "instance_timeout_ms", source, c.instance_timeout));
    TANDEM_ASSIGN_OR_RETURN(c.lock_timeout, read_ms(*m, "lock_timeout_ms", source, c.lock_timeout));
    if (const toml::node* n = m->get("fence")) {
      TANDEM_ASSIGN_OR_RETURN(std::string fence, read_string(*n, source, "[migration] fence"));
      if (fence == "lease") {
        c.fence = FencePolicy::kLease;
      } else if (fence == "operator") {
        c.fence = FencePolicy::kOperator;
      } else {
        return bad_at(source, *n,
                      fmt::format("[migration] fence: '{}' is not a policy (expected \"lease\": an instance "
                                  "that cannot renew its lease stops routing, or \"operator\": it keeps "
                                  "routing and moves wait for an operator)",
                                  fence));
      }
    }
    if (const toml::node* n = m->get("ignore_relations")) {
      const toml::array* names = n->as_array();
      if (names == nullptr) {
        return bad_at(source, *n, "[migration] ignore_relations must be an array of foreign key names");
      }
      for (const toml::node& e : *names) {
        auto name = e.value<std::string>();
        if (!name || name->empty()) {
          return bad_at(source, e, "[migration] ignore_relations: each entry must be a foreign key's name");
        }
        c.ignore_relations.insert(*name);
      }
    }
    for (auto [key, target] : {std::pair{"shadow_sample_every", &c.shadow_sample_every},
                               std::pair{"shadow_sample_limit", &c.shadow_sample_limit},
                               std::pair{"max_cascade_records", &c.max_cascade_records}}) {
      if (const toml::node* n = m->get(key)) {
        auto v = n->value<int64_t>();
        if (!v || *v <= 0)
          return bad_at(source, *n, fmt::format("[migration] {} must be a positive integer", key));
        *target = *v;
      }
    }
  }
  const toml::table* dbs = root["databases"].as_table();
  if (dbs == nullptr)
    return Status::Config(
        fmt::format("{}: missing [databases] with old = \"...\" and new = \"...\"", source));
  for (auto&& [k, v] : *dbs) {
    if (k != "old" && k != "new")
      return bad_at(source, v,
                    fmt::format("[databases]: unknown database '{}' (expected old and new)", k.str()));
  }
  for (auto [key, target] : {std::pair{"old", &c.old_url}, std::pair{"new", &c.new_url}}) {
    const toml::node* n = dbs->get(key);
    if (n == nullptr) return Status::Config(fmt::format("{}: [databases] has no {} = \"URL\"", source, key));
    TANDEM_ASSIGN_OR_RETURN(std::string url, read_string(*n, source, fmt::format("[databases] {}", key)));
    *target = resolve_url(url, base_dir);
  }
  if (c.control_url.empty()) c.control_url = "tandem-control.db";
  c.control_url = resolve_url(c.control_url, base_dir);

  if (const toml::node* cn = root.get("collections")) {
    const toml::array* arr = cn->as_array();
    if (arr == nullptr)
      return bad_at(source, *cn, "collections must be an array of tables ([[collections]])");
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::table* t = (*arr)[i].as_table();
      if (t == nullptr) return bad_at(source, (*arr)[i], fmt::format("collections[{}] must be a table", i));
      TANDEM_ASSIGN_OR_RETURN(CollectionSchema schema, parse_collection(*t, i, source));
      if (const toml::node* no = t->get("new_only")) {
        auto b = no->value<bool>();
        if (!b)
          return bad_at(source, *no,
                        fmt::format("collection '{}': new_only must be true or false", schema.name));
        if (*b && t->get("old") != nullptr)
          return bad_at(source, *no,
                        fmt::format("collection '{}': new_only = true and an [collections.old] mapping "
                                    "contradict each other (old has no table for a new-only collection)",
                                    schema.name));
        if (*b) c.new_only.insert(schema.name);
      }
      if (const toml::node* old = t->get("old")) {
        const toml::table* ot = old->as_table();
        if (ot == nullptr)
          return bad_at(source, *old, fmt::format("collection '{}': old must be a table", schema.name));
        TANDEM_ASSIGN_OR_RETURN(c.mappings[schema.name], parse_old(*ot, schema, source));
      }
      c.collections.push_back(std::move(schema));
    }
  }
  if (const toml::table* plan = root["plan"].as_table()) {
    for (auto&& [k, v] : *plan) {
      if (k != "steps")
        return bad_at(source, v, fmt::format("[plan]: unknown option '{}' (expected steps)", k.str()));
    }
    const toml::array* steps = plan->get_as<toml::array>("steps");
    if (steps == nullptr) return bad_at(source, *plan, "[plan] needs [[plan.steps]] entries");
    c.plan.steps.clear();
    for (size_t i = 0; i < steps->size(); ++i) {
      const toml::table* t = (*steps)[i].as_table();
      if (t == nullptr)
        return bad_at(source, (*steps)[i], fmt::format("plan step {} must be a table", i + 1));
      TANDEM_ASSIGN_OR_RETURN(Step s, parse_step(*t, i, source));
      c.plan.steps.push_back(std::move(s));
    }
  }
  TANDEM_RETURN_IF_ERROR(c.validate().with_context(source));
  return c;
}

Result<Config> Config::load_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::Config(
        fmt::format("cannot read config file '{}' (pass --config FILE, or create tandem.toml; "
                    "see `tandem demo` for an example)",
                    path.string()));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  return parse(buf.str(), path.string(), base);
}

}  // namespace tandem
