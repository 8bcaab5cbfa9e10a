// The SQL layer's engine-independent parts: reading numbers, the DDL
// template, transactions and the engines' registry.
#include "control/sql/control_sql.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "core/thread_annotations.h"

namespace tandem::control_sql {

Result<int64_t> as_int(const std::optional<std::string>& v, std::string_view what) {
  if (!v) return int64_t{0};
  int64_t out = 0;
  const char* end = v->data() + v->size();
  auto [p, ec] = std::from_chars(v->data(), end, out);
  if (ec != std::errc() || p != end) {
    return Status::Corruption(fmt::format("control store: {} is '{}', not an integer", what, *v));
  }
  return out;
}

Result<double> as_double(const std::optional<std::string>& v, std::string_view what) {
  if (!v) return 0.0;
  char* end = nullptr;
  double out = std::strtod(v->c_str(), &end);
  if (end != v->c_str() + v->size()) {
    return Status::Corruption(fmt::format("control store: {} is '{}', not a number", what, *v));
  }
  return out;
}

std::string Dialect::ddl(std::string_view templ) const {
  std::string out(templ);
  // Longest names first, so that $TEXT does not eat the start of another.
  const std::pair<std::string_view, const std::string*> names[] = {
      {"$KEYTEXT", &key_text}, {"$OPTIONS", &table_options}, {"$BYTES", &bytes}, {"$TEXT", &text},
      {"$REAL", &real},        {"$ID", &id_column}};
  for (const auto& [name, value] : names) {
    for (size_t at = out.find(name); at != std::string::npos; at = out.find(name, at + value->size())) {
      out.replace(at, name.size(), *value);
    }
  }
  return out;
}

Result<std::unique_ptr<Transaction>> Transaction::begin(Session& session, const Dialect& dialect) {
  TANDEM_RETURN_IF_ERROR(session.simple(dialect.begin, "beginning a transaction"));
  return std::unique_ptr<Transaction>(new Transaction(session));
}

Result<std::unique_ptr<Transaction>> Transaction::begin_snapshot(Session& session, const Dialect& dialect) {
  TANDEM_RETURN_IF_ERROR(session.simple(dialect.begin_snapshot, "beginning a read-only transaction"));
  return std::unique_ptr<Transaction>(new Transaction(session));
}

Transaction::~Transaction() {
  if (!done_) (void)session_.simple("ROLLBACK", "rolling back");
}

Status Transaction::commit() {
  done_ = true;
  Status s = session_.simple("COMMIT", "committing");
  if (s.code() == Code::kUnavailable) return std::move(s).outcome_unknown();
  return s;
}

namespace {
struct Registry {
  Mutex mutex;
  std::vector<EngineOpener> openers GUARDED_BY(mutex);
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

bool register_engine(EngineOpener opener) {
  Registry& r = registry();
  MutexLock lock(r.mutex);
  r.openers.push_back(std::move(opener));
  return true;
}

const EngineOpener* find_engine(std::string_view scheme) {
  Registry& r = registry();
  MutexLock lock(r.mutex);
  for (const EngineOpener& o : r.openers) {
    if (std::find(o.schemes.begin(), o.schemes.end(), scheme) != o.schemes.end()) return &o;
  }
  return nullptr;
}

}  // namespace tandem::control_sql
