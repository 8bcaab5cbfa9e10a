#include "serve/gateway.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <map>

#include "core/json_canonical.h"
#include "serve/key_path.h"
#include "serve/record_json.h"
#include "serve/responses.h"
#include "tandem/config.h"

namespace tandem::serve {

namespace {

std::vector<std::string> collection_names(const Config& config) {
  std::vector<std::string> names;
  for (const CollectionSchema& c : config.collections) names.push_back(c.name);
  return names;
}

Outcome outcome_of(const Status& s) {
  if (s.ok()) return Outcome::kOk;
  switch (http_status_for(s)) {
    case 404:
      return Outcome::kNotFound;
    case 400:
    case 409:
      return Outcome::kBadRequest;
    case 503:
      return Outcome::kUnavailable;
    default:
      return Outcome::kError;
  }
}

// The key segment of the raw request target ".../records/{segment}[?...]":
// taken before decoding, so that %2F and %2C stay inside their column.
Result<std::string_view> raw_key_segment(const httplib::Request& req, const std::string& collection) {
  std::string_view target = req.target;
  target = target.substr(0, target.find('?'));
  const std::string prefix = fmt::format("/v1/collections/{}/records/", collection);
  if (target.substr(0, prefix.size()) != prefix)
    return Status::InvalidArgument(
        fmt::format("the path must be {}{{key}} with the collection's name as it is", prefix));
  std::string_view segment = target.substr(prefix.size());
  if (segment.find('/') != std::string_view::npos)
    return Status::InvalidArgument("the key holds a '/': send a '/' inside a key column as %2F");
  return segment;
}

// The raw (undecoded) value of each query parameter: a key in one is split
// on ',' before decoding, as in the path.
Result<std::map<std::string, std::string, std::less<>>> raw_query(const httplib::Request& req) {
  std::map<std::string, std::string, std::less<>> out;
  std::string_view target = req.target;
  size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name(pair.substr(0, eq));
    if (!out.emplace(name, eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1))).second)
      return Status::InvalidArgument(fmt::format("parameter '{}' is given twice", name.substr(0, 64)));
  }
  return out;
}

nlohmann::json schema_json(const CollectionSchema& c) {
  nlohmann::json columns = nlohmann::json::array();
  nlohmann::json key = nlohmann::json::array();
  for (const Column& k : c.key_columns) {
    key.push_back(k.name);
    columns.push_back({{"name", k.name}, {"type", type_name(k.type)}, {"nullable", false}, {"key", true}});
  }
  for (const Column& col : c.columns)
    columns.push_back(
        {{"name", col.name}, {"type", type_name(col.type)}, {"nullable", col.nullable}, {"key", false}});
  return {{"name", c.name}, {"key", key}, {"columns", columns}};
}

// The record of a PUT: the path's key, and the body's value columns; key
// columns in the body must equal the path's.
Result<Record> record_of(const CollectionSchema& schema, const Key& key, ParsedObject parsed) {
  for (size_t k = 0; k < parsed.key.size(); ++k) {
    if (parsed.key[k] && *parsed.key[k] != key[k])
      return Status::InvalidArgument(fmt::format(
          "field '{}': {} in the body but {} in the path; a record's key is changed by a delete and a put",
          schema.key_columns[k].name, parsed.key[k]->to_display(), key[k].to_display()));
  }
  return Record{key, std::move(parsed.fields)};
}

}  // namespace

void Gateway::answered(size_t collection, Operation op, std::chrono::steady_clock::time_point start,
                       const Status& s, httplib::Response& res) {
  metrics_.observe(collection, op, outcome_of(s),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (!s.ok()) send_error(res, s);
}

Gateway::Gateway(Migration& migration, GatewayOptions options)
    : migration_(migration), options_(options), metrics_(collection_names(migration.config())) {}

Result<Gateway::Target> Gateway::collection(const std::string& name) {
  const auto& all = migration_.config().collections;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].name != name) continue;
    TANDEM_ASSIGN_OR_RETURN(Collection * c, migration_.collection(name));
    return Target{c, i};
  }
  std::string shown = name.substr(0, 64);
  return Status::NotFound(
      fmt::format("no collection '{}' in this migration (GET /v1/collections lists them)", shown));
}

void Gateway::install(httplib::Server& server) {
  server.Get("/v1/collections", [this](const httplib::Request&, httplib::Response& res) {
    nlohmann::json out = nlohmann::json::array();
    for (const CollectionSchema& c : migration_.config().collections) out.push_back(schema_json(c));
    send_json(res, 200, {{"collections", out}});
  });
  const char* kRecord = R"(/v1/collections/([^/]+)/records/(.*))";
  server.Get(kRecord, [this](const auto& req, auto& res) { record_route(req, res, Operation::kGet); });
  server.Put(kRecord, [this](const auto& req, auto& res) { record_route(req, res, Operation::kPut); });
  server.Patch(kRecord, [this](const auto& req, auto& res) { record_route(req, res, Operation::kPatch); });
  server.Delete(kRecord, [this](const auto& req, auto& res) { record_route(req, res, Operation::kDelete); });
  server.Get(R"(/v1/collections/([^/]+)/records)", [this](const auto& req, auto& res) { scan(req, res); });
  server.Post(R"(/v1/collections/([^/]+)/batch-get)",
              [this](const auto& req, auto& res) { batch_get(req, res); });
}

void Gateway::record_route(const httplib::Request& req, httplib::Response& res, Operation op) {
  const auto start = std::chrono::steady_clock::now();
  Result<Target> target = collection(req.matches[1].str());
  if (!target.ok()) return send_error(res, target.status());
  Collection& c = *target->collection;
  auto finish = [&](const Status& s) { answered(target->index, op, start, s, res); };
  Result<std::string_view> segment = raw_key_segment(req, c.name());
  if (!segment.ok()) return finish(segment.status());
  Result<Key> key = key_from_path(c.schema(), *segment);
  if (!key.ok()) return finish(key.status());
  switch (op) {
    case Operation::kGet: {
      Result<std::optional<Record>> got = c.get(*key);
      if (!got.ok()) return finish(got.status());
      if (!*got)
        return finish(
            Status::NotFound(fmt::format("{}: no record with key {}", c.name(), key->to_display())));
      send_json_text(res, 200, record_to_json(c.schema(), **got));
      return finish(Status::Ok());
    }
    case Operation::kPut: {
      Result<ParsedObject> parsed = parse_record_object(c.schema(), req.body);
      if (!parsed.ok()) return finish(parsed.status());
      Result<Record> record = record_of(c.schema(), *key, std::move(*parsed));
      if (!record.ok()) return finish(record.status());
      Status s = c.put(*record);
      if (s.ok()) send_json_text(res, 200, record_to_json(c.schema(), *record));
      return finish(s);
    }
    case Operation::kPatch: {
      Result<ParsedObject> parsed = parse_record_object(c.schema(), req.body);
      if (!parsed.ok()) return finish(parsed.status());
      Result<Record> record = record_of(c.schema(), *key, std::move(*parsed));
      if (!record.ok()) return finish(record.status());
      if (record->fields.empty())
        return finish(Status::InvalidArgument("a patch needs at least one value column in the body"));
      Status s = c.patch(*key, record->fields);
      if (s.ok()) send_json(res, 200, nlohmann::json::object());
      return finish(s);
    }
    case Operation::kDelete: {
      Status s = c.remove(*key);
      if (s.ok()) send_json(res, 200, nlohmann::json::object());
      return finish(s);
    }
    default:
      return finish(Status::Internal("unknown operation"));
  }
}

void Gateway::batch_get(const httplib::Request& req, httplib::Response& res) {
  const auto start = std::chrono::steady_clock::now();
  Result<Target> target = collection(req.matches[1].str());
  if (!target.ok()) return send_error(res, target.status());
  Collection& c = *target->collection;
  auto finish = [&](const Status& s) { answered(target->index, Operation::kBatchGet, start, s, res); };
  Result<std::vector<Key>> keys = parse_key_list(c.schema(), req.body, options_.max_batch_keys);
  if (!keys.ok()) return finish(keys.status());
  std::string out = "{\"records\":[";
  for (size_t i = 0; i < keys->size(); ++i) {
    Result<std::optional<Record>> got = c.get((*keys)[i]);
    if (!got.ok()) return finish(got.status().with_context(fmt::format("keys[{}]: ", i)));
    if (i > 0) out += ',';
    out += *got ? record_to_json(c.schema(), **got) : "null";
  }
  out += "]}";
  send_json_text(res, 200, std::move(out));
  finish(Status::Ok());
}

void Gateway::scan(const httplib::Request& req, httplib::Response& res) {
  const auto start = std::chrono::steady_clock::now();
  Result<Target> target = collection(req.matches[1].str());
  if (!target.ok()) return send_error(res, target.status());
  Collection& c = *target->collection;
  auto finish = [&](const Status& s) { answered(target->index, Operation::kScan, start, s, res); };
  Result<std::map<std::string, std::string, std::less<>>> params = raw_query(req);
  if (!params.ok()) return finish(params.status());
  KeyRange range;
  size_t limit = 100;
  for (const auto& [name, value] : *params) {
    if (name == "limit") {
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (ec != std::errc() || end != value.data() + value.size() || limit < 1 ||
          limit > options_.max_scan_limit)
        return finish(Status::InvalidArgument(
            fmt::format("parameter 'limit': expected a whole number from 1 to {}", options_.max_scan_limit)));
      continue;
    }
    if (name != "from" && name != "to" && name != "after")
      return finish(Status::InvalidArgument(
          fmt::format("parameter '{}': a scan takes from, to, after and limit", name.substr(0, 64))));
    Result<Key> key = key_from_path(c.schema(), value);
    if (!key.ok()) return finish(key.status().with_context(fmt::format("parameter '{}': ", name)));
    if (name == "to") {
      range.end = std::move(*key);
    } else if (range.begin) {
      return finish(Status::InvalidArgument("parameters 'from' and 'after' go one at a time"));
    } else {
      range.begin = std::move(*key);
      range.begin_inclusive = name == "from";
    }
  }
  Result<ScanPage> page = c.scan(range, limit);
  if (!page.ok()) return finish(page.status());
  std::string out = "{\"records\":[";
  for (size_t i = 0; i < page->records.size(); ++i) {
    if (i > 0) out += ',';
    out += record_to_json(c.schema(), page->records[i]);
  }
  out += "],\"next\":";
  if (page->next) {
    write_json_string(key_to_path(*page->next), out);
  } else {
    out += "null";
  }
  out += '}';
  send_json_text(res, 200, std::move(out));
  finish(Status::Ok());
}

}  // namespace tandem::serve
