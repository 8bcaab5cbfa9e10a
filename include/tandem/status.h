// Status and Result<T>: errors are values at every library boundary.
//
// A Status carries a code, a message that names what failed (record, range,
// option) and what to do, and two flags that drive recovery:
//   retryable()       - the same call may succeed if repeated (busy, timeout,
//                       dropped connection). Nothing was changed.
//   outcome_unknown() - the call may or may not have taken effect (e.g. the
//                       connection dropped during a commit). Never blindly
//                       retry a non-idempotent write; re-read instead.
// Thread safety: values; safe to copy between threads.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tandem {

enum class Code {
  kOk = 0,
  kNotFound,         // the record or object does not exist
  kInvalidArgument,  // bad input: a record, a field, an option
  kAlreadyExists,
  kFailedPrecondition,  // refused: the state does not allow it (e.g. a step move)
  kUnavailable,         // a database or the control store cannot be reached
  kBusy,                // locked or contended; see retryable()
  kTimeout,
  kCorruption,  // stored data does not decode as the schema says
  kConfig,      // configuration file or option is invalid
  kIoError,
  kInternal,
};

std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)).retryable(); }
  static Status Busy(std::string m) { return Status(Code::kBusy, std::move(m)).retryable(); }
  static Status Timeout(std::string m) { return Status(Code::kTimeout, std::move(m)).retryable(); }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status Config(std::string m) { return {Code::kConfig, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool is_retryable() const { return retryable_; }
  bool is_outcome_unknown() const { return outcome_unknown_; }
  // A foreign key refused the write (a child without its parent, a parent
  // with children): never a bad record; the backfill stops naming it.
  bool is_foreign_key() const { return foreign_key_; }
  // New refused the write, or its copy into new: it was routed by a step
  // version older than the one at which new's role last changed (FenceScope
  // in tandem/store.h). Nothing was written to new; is_outcome_unknown()
  // says whether the other database may have it.
  bool is_fenced() const { return fenced_; }

  // Builders: return a copy with the flag set.
  Status retryable(bool value = true) && {
    retryable_ = value;
    return std::move(*this);
  }
  Status outcome_unknown(bool value = true) && {
    outcome_unknown_ = value;
    return std::move(*this);
  }
  Status foreign_key(bool value = true) && {
    foreign_key_ = value;
    return std::move(*this);
  }
  Status fenced(bool value = true) && {
    fenced_ = value;
    return std::move(*this);
  }
  // Prefixes context ("while copying users [10, 20): ") keeping code and flags.
  Status with_context(std::string_view context) const;

  // "NotFound: message [retryable]".
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  bool retryable_ = false;
  bool outcome_unknown_ = false;
  bool foreign_key_ = false;
  bool fenced_ = false;
};

// Either a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(data_).ok() && "Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(data_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(data_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(data_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace tandem

// Returns early from the enclosing function with the error of a Status.
#define TANDEM_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::tandem::Status tandem_status_ = (expr);        \
    if (!tandem_status_.ok()) return tandem_status_; \
  } while (0)

#define TANDEM_CONCAT_INNER(a, b) a##b
#define TANDEM_CONCAT(a, b) TANDEM_CONCAT_INNER(a, b)
// TANDEM_ASSIGN_OR_RETURN(auto x, expr): x = expr.value(), or return its error.
#define TANDEM_ASSIGN_OR_RETURN(lhs, expr) \
  TANDEM_ASSIGN_OR_RETURN_IMPL(TANDEM_CONCAT(tandem_result_, __LINE__), lhs, expr)
// NOLINTBEGIN(bugprone-macro-parentheses): lhs is a declaration.
#define TANDEM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
