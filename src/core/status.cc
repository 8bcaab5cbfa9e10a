#include "tandem/status.h"

#include <string>

namespace tandem {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "NotFound";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kFailedPrecondition:
      return "FailedPrecondition";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kBusy:
      return "Busy";
    case Code::kTimeout:
      return "Timeout";
    case Code::kCorruption:
      return "Corruption";
    case Code::kConfig:
      return "Config";
    case Code::kIoError:
      return "IoError";
    case Code::kInternal:
      return "Internal";
  }
  return "Unknown";
}

Status Status::with_context(std::string_view context) const {
  if (ok()) return *this;
  Status s(code_, std::string(context) + ": " + message_);
  s.retryable_ = retryable_;
  s.outcome_unknown_ = outcome_unknown_;
  s.foreign_key_ = foreign_key_;
  s.fenced_ = fenced_;
  return s;
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  std::string out(code_name(code_));
  out += ": ";
  out += message_;
  if (retryable_) out += " [retryable]";
  if (outcome_unknown_) out += " [outcome unknown: re-read before retrying]";
  return out;
}

}  // namespace tandem
