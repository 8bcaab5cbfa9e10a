#include "serve/admin.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <charconv>
#include <cstdlib>
#include <fstream>

#include "ops/operator_commands.h"
#include "serve/responses.h"
#include "tandem/clock.h"
#include "tandem/config.h"
#include "tandem/operator_tools.h"

namespace tandem::serve {

namespace {

std::string sha256(std::string_view s) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// A query parameter as a count in [1, max], or fallback when absent.
Result<size_t> count_param(const httplib::Request& req, const char* name, size_t fallback, size_t max) {
  if (!req.has_param(name)) return fallback;
  std::string text = req.get_param_value(name);
  size_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1 || v > max)
    return Status::InvalidArgument(
        fmt::format("parameter '{}': expected a whole number from 1 to {}", name, max));
  return v;
}

// An optional list of collection names from body[field].
Result<std::vector<std::string>> names_of(const nlohmann::json& body, const char* field) {
  std::vector<std::string> names;
  if (!body.contains(field)) return names;
  if (!body[field].is_array())
    return Status::InvalidArgument(fmt::format("field '{}': expected an array of names", field));
  for (const nlohmann::json& n : body[field]) {
    if (!n.is_string())
      return Status::InvalidArgument(fmt::format("field '{}': expected an array of names", field));
    names.push_back(n.get<std::string>());
  }
  return names;
}

// body[field] as a number in [min, max], or fallback when absent.
Result<double> number_of(const nlohmann::json& body, const char* field, double fallback, double min,
                         double max) {
  if (!body.contains(field)) return fallback;
  if (!body[field].is_number() || body[field].get<double>() < min || body[field].get<double>() > max)
    return Status::InvalidArgument(
        fmt::format("field '{}': expected a number from {} to {}", field, min, max));
  return body[field].get<double>();
}

Result<nlohmann::json> body_object(const httplib::Request& req) {
  if (req.body.empty()) return nlohmann::json::object();
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return Status::InvalidArgument("the request body is not a JSON object");
  return body;
}

}  // namespace

Result<std::optional<std::string>> load_admin_token(const std::string& path) {
  std::string token;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return Status::InvalidArgument(fmt::format("--admin-token-file {}: cannot be read", path));
    std::getline(in, token);
    if (!token.empty() && token.back() == '\r') token.pop_back();
    if (token.empty())
      return Status::InvalidArgument(fmt::format("--admin-token-file {}: its first line is empty", path));
    return std::optional<std::string>(std::move(token));
  }
  if (const char* env = std::getenv("TANDEM_ADMIN_TOKEN"); env != nullptr && *env != '\0')
    return std::optional<std::string>(env);
  return std::optional<std::string>();
}

Admin::Admin(Migration& migration, std::optional<std::string> token)
    : migration_(migration), jobs_(migration) {
  if (token) token_digest_ = sha256(*token);
}

bool Admin::authorized(const httplib::Request& req, httplib::Response& res) const {
  if (!token_digest_) {
    send_json(res, 403,
              error_json(Status::FailedPrecondition("the admin API is off: start `tandem serve` with "
                                                    "--admin-token-file FILE or TANDEM_ADMIN_TOKEN set")));
    return false;
  }
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  const bool given =
      header.size() > kBearer.size() && std::string_view(header).substr(0, kBearer.size()) == kBearer;
  const std::string digest =
      sha256(given ? std::string_view(header).substr(kBearer.size()) : std::string_view());
  if (given && CRYPTO_memcmp(digest.data(), token_digest_->data(), digest.size()) == 0) return true;
  res.set_header("WWW-Authenticate", "Bearer realm=\"tandem admin\"");
  send_json(
      res, 401,
      error_json(Status::InvalidArgument(given ? "the admin token is not the one this server was started with"
                                               : "the admin API needs \"Authorization: Bearer <token>\"")));
  return false;
}

void Admin::install_jobs(httplib::Server& server) {
  server.Get("/admin/v1/backfill", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, jobs_.backfill_json());
  });
  server.Post("/admin/v1/backfill", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = body_object(req);
    if (!body.ok()) return send_error(res, body.status());
    const std::string action = (*body)["action"].is_string() ? (*body)["action"].get<std::string>() : "";
    auto names = names_of(*body, "collections");
    if (!names.ok()) return send_error(res, names.status());
    auto rate = number_of(*body, "max_rows_per_second", 0, 0, 1e12);
    if (!rate.ok()) return send_error(res, rate.status());
    Status s;
    if (action == "start") {
      auto workers = number_of(*body, "workers", 4, 1, 256);
      if (!workers.ok()) return send_error(res, workers.status());
      BackfillOptions options;
      options.collections = *names;
      options.workers = static_cast<size_t>(*workers);
      options.max_rows_per_second = *rate;
      s = jobs_.start_backfill(std::move(options));
    } else if (action == "stop") {
      jobs_.stop_backfill();
    } else if (action == "throttle") {
      if (!body->contains("max_rows_per_second"))
        return send_error(res,
                          Status::InvalidArgument("field 'max_rows_per_second' is needed (0: no limit)"));
      s = jobs_.throttle_backfill(*rate);
    } else if (action == "pause" || action == "resume") {
      s = ops::pause_backfill(migration_, *names, action == "pause").status();
    } else {
      s = Status::InvalidArgument("field 'action': expected start, stop, pause, resume or throttle");
    }
    if (!s.ok()) return send_error(res, s);
    send_json(res, action == "start" ? 202 : 200, jobs_.backfill_json());
  });
  server.Get("/admin/v1/verify", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, jobs_.verify_json());
  });
  server.Post("/admin/v1/verify", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = body_object(req);
    if (!body.ok()) return send_error(res, body.status());
    auto names = names_of(*body, "collections");
    if (!names.ok()) return send_error(res, names.status());
    const nlohmann::json& repair = (*body)["repair"];
    if (!repair.is_null() && !repair.is_boolean())
      return send_error(res, Status::InvalidArgument("field 'repair': expected true or false"));
    VerifyOptions options;
    options.collections = *names;
    options.repair = repair.is_boolean() && repair.get<bool>();
    Status s = jobs_.start_verify(std::move(options));
    if (!s.ok()) return send_error(res, s);
    send_json(res, 202, jobs_.verify_json());
  });
  server.Get("/admin/v1/shadow-samples", [this](const httplib::Request& req, httplib::Response& res) {
    auto limit = count_param(req, "limit", 20, 1000);
    if (!limit.ok()) return send_error(res, limit.status());
    auto samples = OperatorTools(migration_).control().shadow_samples(*limit);
    if (!samples.ok()) return send_error(res, samples.status());
    nlohmann::json out = nlohmann::json::array();
    for (const ShadowSample& s : *samples) {
      out.push_back({{"collection", s.collection},
                     {"key", s.key_display},
                     {"kind", std::string(mismatch_kind_name(s.kind))},
                     {"primary", s.primary},
                     {"secondary", s.secondary},
                     {"at", format_time(s.at)}});
    }
    send_json(res, 200, {{"samples", out}});
  });
  server.Post("/admin/v1/instances/forget", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = body_object(req);
    if (!body.ok()) return send_error(res, body.status());
    const nlohmann::json& id = (*body)["id"];
    const nlohmann::json& reason = (*body)["reason"];
    if (!id.is_string() || id.get<std::string>().empty())
      return send_error(res,
                        Status::InvalidArgument("field 'id': the instance's id, as GET instances lists it"));
    if (!reason.is_string())
      return send_error(res, Status::InvalidArgument("field 'reason': why the instance is known to be dead"));
    auto forgotten = forget_instance(migration_.config(), OperatorTools(migration_).control(),
                                     id.get<std::string>(), reason.get<std::string>());
    if (!forgotten.ok()) return send_error(res, forgotten.status());
    send_json(res, 200,
              {{"forgotten", forgotten->instance_id},
               {"host", forgotten->host},
               {"last_heartbeat", format_time(forgotten->last_heartbeat)},
               {"step_version", forgotten->step_version}});
  });
  server.Get("/admin/v1/instances", [this](const httplib::Request&, httplib::Response& res) {
    auto out = ops::instances_report(migration_.config(), OperatorTools(migration_).control());
    if (!out.ok()) return send_error(res, out.status());
    send_json(res, 200, *out);
  });
}

void Admin::install(httplib::Server& server) {
  install_jobs(server);
  // Every /admin/ path is checked by authorized() before routing (server.cc).
  server.Get("/admin/v1/status", [this](const httplib::Request&, httplib::Response& res) {
    auto out = ops::status_report(migration_.config(), OperatorTools(migration_).control());
    if (!out.ok()) return send_error(res, out.status());
    send_json(res, 200, *out);
  });
  server.Get("/admin/v1/plan", [this](const httplib::Request&, httplib::Response& res) {
    auto out = ops::plan_report(migration_.config(), OperatorTools(migration_).control());
    if (!out.ok()) return send_error(res, out.status());
    send_json(res, 200, *out);
  });
  server.Get("/admin/v1/history", [this](const httplib::Request& req, httplib::Response& res) {
    auto limit = count_param(req, "limit", 20, 10000);
    if (!limit.ok()) return send_error(res, limit.status());
    auto out = ops::history_report(OperatorTools(migration_).control(), *limit);
    if (!out.ok()) return send_error(res, out.status());
    send_json(res, 200, {{"history", *out}});
  });
  server.Post("/admin/v1/step", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = body_object(req);
    if (!body.ok()) return send_error(res, body.status());
    if (!(*body)["action"].is_string())
      return send_error(res,
                        Status::InvalidArgument("field 'action': expected \"next\", \"back\" or \"set\""));
    auto action = ops::parse_step_action((*body)["action"].get<std::string>());
    if (!action.ok()) return send_error(res, action.status());
    int64_t number = 0;
    if (*action == ops::StepAction::kSet) {
      if (!(*body)["step"].is_number_integer())
        return send_error(res, Status::InvalidArgument("field 'step': a step number is needed with \"set\""));
      number = (*body)["step"].get<int64_t>();
    }
    const nlohmann::json& reason = (*body)["reason"];
    const nlohmann::json& force = (*body)["force"];
    if (!reason.is_null() && !reason.is_string())
      return send_error(res, Status::InvalidArgument("field 'reason': expected a string"));
    if (!force.is_null() && !force.is_boolean())
      return send_error(res, Status::InvalidArgument("field 'force': expected true or false"));
    const bool forced = force.is_boolean() && force.get<bool>();
    if (forced && (reason.is_null() || reason.get<std::string>().empty()))
      return send_error(res, Status::InvalidArgument("field 'reason': a forced move needs a reason"));
    auto moved =
        ops::move_step(migration_, *action, number,
                       reason.is_string() ? reason.get<std::string>() : std::string("admin API"), forced);
    if (!moved.ok()) return send_error(res, moved.status());
    send_json(res, 200, {{"step", ops::step_json(migration_.config(), *moved)}});
  });
  server.Post("/admin/v1/repair", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = body_object(req);
    if (!body.ok()) return send_error(res, body.status());
    int64_t limit = 1000;
    if (body->contains("limit")) {
      if (!(*body)["limit"].is_number_integer() || (*body)["limit"].get<int64_t>() < 1)
        return send_error(res, Status::InvalidArgument("field 'limit': expected a positive integer"));
      limit = (*body)["limit"].get<int64_t>();
    }
    auto repaired = migration_.drain_repair_queue(static_cast<size_t>(limit));
    if (!repaired.ok()) return send_error(res, repaired.status());
    auto left = OperatorTools(migration_).control().repair_counts();
    if (!left.ok()) return send_error(res, left.status());
    send_json(
        res, 200,
        {{"repaired", *repaired}, {"left", {{"old", (*left)[Side::kOld]}, {"new", (*left)[Side::kNew]}}}});
  });
  server.Get("/admin/v1/quarantine", [this](const httplib::Request& req, httplib::Response& res) {
    auto limit = count_param(req, "limit", 100, 10000);
    if (!limit.ok()) return send_error(res, limit.status());
    auto entries = OperatorTools(migration_).control().quarantine(*limit);
    if (!entries.ok()) return send_error(res, entries.status());
    nlohmann::json out = nlohmann::json::array();
    for (const QuarantineEntry& e : *entries) {
      out.push_back({{"id", e.id},
                     {"collection", e.collection},
                     {"key", e.key_display},
                     {"field", e.field},
                     {"reason", e.reason},
                     {"at", format_time(e.at)}});
    }
    send_json(res, 200, {{"quarantine", out}});
  });
}

}  // namespace tandem::serve
