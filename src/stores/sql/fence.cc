#include "stores/sql/fence.h"

#include <fmt/format.h>

namespace tandem::sql {

FenceVerdict judge_fence(const FenceToken& fence, const FenceToken& token) {
  if (token.version < fence.version) return FenceVerdict::kRefuse;
  if (token.role == fence.role) return FenceVerdict::kWrite;
  return token.version > fence.version ? FenceVerdict::kRaise : FenceVerdict::kRefuse;
}

Status fence_refusal(std::string_view store, const FenceToken& fence, const FenceToken& token) {
  return Status::Unavailable(
             fmt::format(
                 "{} refused a write routed by step version {} (where {} was the {}): {} has been the {} "
                 "since step version {}, so the step this write was routed by has moved; nothing was "
                 "written (fenced); retry: the instance re-reads the step",
                 store, token.version, store, fence_role_name(token.role), store, fence_role_name(fence.role),
                 fence.version))
      .fenced();
}

Status fence_raise_timed_out(std::string_view store, const FenceToken& token) {
  return Status::Busy(fmt::format(
      "{} could not raise its fence (tandem_fence) to step version {} ({} the {}) within {} ms: a write "
      "routed by an earlier step still holds it (a stalled process?); retry",
      store, token.version, store, fence_role_name(token.role), kFenceRaiseTimeoutMs));
}

const FenceToken* fence_for(const StoreOptions& options) {
  return options.keep_tombstones ? FenceScope::current() : nullptr;
}

Result<FenceRole> fence_role_of(int64_t stored) {
  if (stored < 0 || stored > static_cast<int64_t>(FenceRole::kWritePrimary)) {
    return Status::Corruption(fmt::format("tandem_fence holds an unknown role {}", stored));
  }
  return static_cast<FenceRole>(stored);
}

}  // namespace tandem::sql
