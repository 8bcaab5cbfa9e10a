#include "backfill/backfill_batch.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>

#include "core/process.h"

namespace tandem {

bool owner_is_gone(const std::string& owner) {
  size_t a = owner.find(':');
  size_t b = owner.find(':', a + 1);
  if (a == std::string::npos || b == std::string::npos) return false;
  if (owner.substr(0, a) != host_name()) return false;
  int64_t pid = 0;
  try {
    pid = std::stoll(owner.substr(a + 1, b - a - 1));
  } catch (...) {
    return false;
  }
  if (pid <= 0 || pid == getpid()) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

size_t batch_bytes(const ScanBatch& read) {
  // Up to 64 records, evenly spread, stand for the others: walking every
  // record's fields was a twentieth of a copy's client time.
  const size_t n = read.records.size();
  const size_t stride = std::max<size_t>(1, n / 64);
  size_t bytes = 0, sampled = 0;
  for (size_t i = 0; i < n; i += stride, ++sampled) {
    const Record& r = read.records[i];
    bytes += 64 + r.key.size() * 16;
    for (const auto& [name, v] : r.fields) {
      bytes += 32 + name.size();
      if (const auto* t = v.get_if<std::string>()) bytes += t->size();
      if (const auto* b = v.get_if<Bytes>()) bytes += b->data.size();
      if (const auto* j = v.get_if<Json>()) bytes += j->text.size();
      if (const auto* d = v.get_if<Decimal>()) bytes += d->text.size();
    }
  }
  if (sampled > 0) bytes = bytes / sampled * n;
  for (const BadRecord& b : read.bad) bytes += 64 + b.raw.size() + b.reason.size();
  return bytes;
}

void count_outcomes(const std::vector<InsertOutcome>& outcomes, BackfillCounts& delta) {
  for (InsertOutcome o : outcomes) {
    switch (o) {
      case InsertOutcome::kInserted:
        ++delta.copied;
        break;
      case InsertOutcome::kAlreadyPresent:
        ++delta.present;
        break;
      case InsertOutcome::kLocked:
        ++delta.locked;
        break;
      case InsertOutcome::kTombstoned:
        ++delta.tombstoned;
        break;
    }
  }
}

}  // namespace tandem
