#include "tandem/store.h"

namespace tandem {

std::string_view insert_outcome_name(InsertOutcome outcome) {
  switch (outcome) {
    case InsertOutcome::kInserted:
      return "inserted";
    case InsertOutcome::kAlreadyPresent:
      return "already present";
    case InsertOutcome::kLocked:
      return "locked";
    case InsertOutcome::kTombstoned:
      return "tombstoned";
  }
  return "unknown";
}

Result<Store::TableDefinition> Store::table_definition(const CollectionSchema& schema,
                                                       const ColumnShapes& like) const {
  (void)like;
  TableDefinition out;
  TANDEM_ASSIGN_OR_RETURN(out.sql, create_table_sql(schema));
  for (const auto* columns : {&schema.key_columns, &schema.columns}) {
    for (const Column& c : *columns) out.columns.push_back({c.name, std::string(type_name(c.type)), ""});
  }
  return out;
}

namespace {
thread_local const FenceToken* t_fence = nullptr;
}  // namespace

std::string_view fence_role_name(FenceRole role) {
  switch (role) {
    case FenceRole::kNotWritten:
      return "not written";
    case FenceRole::kWriteSecondary:
      return "write secondary";
    case FenceRole::kWritePrimary:
      return "write primary";
  }
  return "unknown";
}

FenceScope::FenceScope(FenceToken token) : token_(token), outer_(t_fence) { t_fence = &token_; }
FenceScope::~FenceScope() { t_fence = outer_; }
const FenceToken* FenceScope::current() { return t_fence; }

bool is_missing_table(const Status& s) {
  return s.code() == Code::kFailedPrecondition && s.message().find("there is no table") != std::string::npos;
}

std::string redact_url(std::string_view url) {
  std::string out(url);
  // scheme://user:password@host/... -> scheme://user:***@host/...
  size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    // The user info ends at the last '@' before the path: a password may hold '@'.
    size_t slash = out.find('/', scheme + 3);
    size_t at = out.rfind('@', slash == std::string::npos ? std::string::npos : slash);
    size_t colon = out.find(':', scheme + 3);
    if (at != std::string::npos && at > scheme && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // ...?password=secret&... -> ...?password=***&...
  for (std::string_view param : {"password=", "passwd=", "pwd="}) {
    size_t pos = 0;
    while ((pos = out.find(param, pos)) != std::string::npos) {
      bool starts_param = pos > 0 && (out[pos - 1] == '?' || out[pos - 1] == '&' || out[pos - 1] == ' ');
      size_t begin = pos + param.size();
      if (!starts_param) {
        pos = begin;
        continue;
      }
      size_t end = out.find_first_of("& ", begin);
      if (end == std::string::npos) end = out.size();
      out.replace(begin, end - begin, "***");
      pos = begin + 3;
    }
  }
  return out;
}

}  // namespace tandem
