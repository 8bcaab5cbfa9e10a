#include "stress/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace tandem::stress {

namespace {
bool is_write(const Op& op) { return op.kind != Op::Kind::kRead; }
std::string_view kind_name(Op::Kind k) {
  switch (k) {
    case Op::Kind::kRead:
      return "read";
    case Op::Kind::kPut:
      return "put";
    case Op::Kind::kPatch:
      return "patch";
    case Op::Kind::kDelete:
      return "delete";
  }
  return "?";
}
std::string_view outcome_name(Op::Outcome o) {
  switch (o) {
    case Op::Outcome::kOk:
      return "ok";
    case Op::Outcome::kFailed:
      return "failed";
    case Op::Outcome::kUnknown:
      return "outcome unknown";
  }
  return "?";
}
}  // namespace

void History::add(size_t key, Op op) {
  std::lock_guard lock(mutexes_[key]);
  ops_[key].push_back(std::move(op));
}

// state is allowed for a read over [since, before]: made by a write w (or the
// initial state, a write at time 0) that did not fail, began before `before`,
// and was not overwritten for sure before `since`: no acknowledged write began
// after w ended and ended before `since`.
bool History::allowed(size_t key, const std::string& state, uint64_t before, uint64_t since,
                      bool from_secondary) const {
  const std::vector<Op>& ops = ops_[key];
  uint64_t latest_overwrite = 0;  // the latest start of an acknowledged write that ended before since
  for (const Op& w : ops) {
    if (is_write(w) && w.outcome == Op::Outcome::kOk && w.resp < since &&
        !(from_secondary && w.secondary_missed)) {
      latest_overwrite = std::max(latest_overwrite, w.inv);
    }
  }
  const std::string& initial = key < initial_.size() && !initial_[key].empty() ? initial_[key] : "absent";
  if (state == initial && latest_overwrite == 0) return true;
  for (const Op& w : ops) {
    if (!is_write(w) || w.outcome == Op::Outcome::kFailed || w.state != state) continue;
    if (w.inv < before && w.resp >= latest_overwrite) return true;
  }
  return false;
}

std::vector<std::string> History::check_reads(size_t max_listed) const {
  std::vector<std::string> out;
  for (size_t key = 0; key < ops_.size(); ++key) {
    for (const Op& r : ops_[key]) {
      if (r.kind != Op::Kind::kRead || r.outcome != Op::Outcome::kOk) continue;
      if (allowed(key, r.state, r.resp, r.inv, r.read_from_secondary)) continue;
      if (out.size() < max_listed) {
        out.push_back(
            fmt::format("key {}: a read at t={}..{} saw {}, which no order of the writes allows. "
                        "History: {}",
                        key, r.inv, r.resp, r.state, describe(key, r.inv)));
      } else {
        out.emplace_back();
      }
    }
  }
  return out;
}

bool History::final_allowed(size_t key, const std::string& state) const {
  return allowed(key, state, UINT64_MAX, UINT64_MAX, false);
}

// "key kind inv resp outcome step missed from_secondary state"
void History::write_to(std::ostream& out) const {
  for (size_t key = 0; key < ops_.size(); ++key) {
    for (const Op& op : ops_[key]) {
      out << key << ' ' << static_cast<int>(op.kind) << ' ' << op.inv << ' ' << op.resp << ' '
          << static_cast<int>(op.outcome) << ' ' << op.step << ' ' << op.secondary_missed << ' '
          << op.read_from_secondary << ' ' << (op.state.empty() ? "-" : op.state) << '\n';
    }
  }
}

bool History::read_line(const std::string& line) {
  std::istringstream in(line);
  size_t key = 0;
  int kind = 0, outcome = 0;
  Op op;
  if (!(in >> key >> kind >> op.inv >> op.resp >> outcome >> op.step >> op.secondary_missed >>
        op.read_from_secondary >> op.state) ||
      key >= ops_.size() || kind < 0 || kind > 3 || outcome < 0 || outcome > 2) {
    return false;
  }
  if (op.state == "-") op.state.clear();
  op.kind = static_cast<Op::Kind>(kind);
  op.outcome = static_cast<Op::Outcome>(outcome);
  add(key, std::move(op));
  return true;
}

int64_t History::collisions() const {
  int64_t n = 0;
  for (const auto& ops : ops_) {
    std::vector<const Op*> writes;
    for (const Op& op : ops) {
      if (is_write(op)) writes.push_back(&op);
    }
    std::sort(writes.begin(), writes.end(), [](const Op* a, const Op* b) { return a->inv < b->inv; });
    uint64_t reach = 0;
    for (const Op* w : writes) {
      if (w->inv < reach) ++n;
      reach = std::max(reach, w->resp);
    }
  }
  return n;
}

std::string History::describe(size_t key, uint64_t around, size_t max_ops) const {
  std::vector<Op> ops = ops_[key];
  std::sort(ops.begin(), ops.end(), [](const Op& a, const Op& b) { return a.inv < b.inv; });
  if (around > 0) {  // the ops before and just after `around`
    size_t at = 0;
    while (at < ops.size() && ops[at].inv <= around) ++at;
    ops.resize(std::min(ops.size(), at + 3));
  }
  std::string out =
      fmt::format("initially {}", key < initial_.size() && !initial_[key].empty() ? initial_[key] : "absent");
  size_t first = ops.size() > max_ops ? ops.size() - max_ops : 0;
  if (first > 0) out += fmt::format("; ... {} earlier operations", first);
  for (size_t i = first; i < ops.size(); ++i) {
    const Op& op = ops[i];
    if (op.kind == Op::Kind::kRead) {
      out += fmt::format("; t={}..{} step {} read -> {}", op.inv, op.resp, op.step,
                         op.outcome == Op::Outcome::kOk ? op.state : std::string(outcome_name(op.outcome)));
    } else {
      out += fmt::format("; t={}..{} step {} {} {} {}", op.inv, op.resp, op.step, kind_name(op.kind),
                         op.state, outcome_name(op.outcome));
    }
  }
  return out;
}

}  // namespace tandem::stress
