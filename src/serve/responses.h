// How `tandem serve` answers: a Status as an HTTP status and a JSON error
// body {code, message, retryable, outcome_unknown}, and JSON bodies.
//
//   kInvalidArgument, kConfig        400 (the message names the field)
//   kNotFound                        404
//   kAlreadyExists                   409
//   kFailedPrecondition              409 (a refused step move: problems listed)
//   retryable (kUnavailable, kBusy, kTimeout, fenced)
//                                    503 with Retry-After: 1
//   anything else                    500
//
// outcome_unknown: the write may or may not have taken effect; read the
// record before repeating a write that is not idempotent.
#pragma once

#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tandem/status.h"

namespace tandem::serve {

int http_status_for(const Status& s);
// {"code":"InvalidArgument","message":...,"retryable":...,"outcome_unknown":...}
nlohmann::json error_json(const Status& s);
void send_error(httplib::Response& res, const Status& s);
void send_json(httplib::Response& res, int status, const nlohmann::json& body);
// body already JSON text.
void send_json_text(httplib::Response& res, int status, std::string body);

}  // namespace tandem::serve
