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

std::string redact_url(std::string_view url) {
  // scheme://user:password@host/... -> scheme://user:***@host/...
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  size_t at = url.find('@', scheme + 3);
  size_t slash = url.find('/', scheme + 3);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) {
    return std::string(url);
  }
  size_t colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

}  // namespace tandem
