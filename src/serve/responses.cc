#include "serve/responses.h"

namespace tandem::serve {

int http_status_for(const Status& s) {
  if (s.is_retryable()) return 503;
  switch (s.code()) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
    case Code::kConfig:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
      return 409;
    case Code::kUnavailable:
    case Code::kBusy:
    case Code::kTimeout:
      return 503;
    default:
      return 500;
  }
}

nlohmann::json error_json(const Status& s) {
  return {{"code", std::string(code_name(s.code()))},
          {"message", s.message()},
          {"retryable", s.is_retryable()},
          {"outcome_unknown", s.is_outcome_unknown()}};
}

void send_json_text(httplib::Response& res, int status, std::string body) {
  res.status = status;
  body += '\n';
  res.set_content(body, "application/json");
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  // Replace invalid UTF-8 (a message quoting bad input) instead of throwing.
  send_json_text(res, status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void send_error(httplib::Response& res, const Status& s) {
  const int status = http_status_for(s);
  if (status == 503) res.set_header("Retry-After", "1");
  send_json(res, status, error_json(s));
}

}  // namespace tandem::serve
