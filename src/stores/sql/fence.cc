#include "stores/sql/fence.h"

#include <fmt/format.h>

namespace tandem::sql {

FenceVerdict judge_fence(const FenceRow& fence, const FenceToken& token) {
  if (token.version < fence.version) return FenceVerdict::kRefuse;
  if (token.role == fence.role) return FenceVerdict::kWrite;
  return token.version > fence.version ? FenceVerdict::kRaise : FenceVerdict::kRefuse;
}

Status fence_refusal(std::string_view store, const FenceRow& fence, const FenceToken& token) {
  return Status::Unavailable(
             fmt::format(
                 "{} refused a write routed by step version {} ({} the {}): its role changed to {} at "
                 "step version {}, so the step this write was routed by has moved; nothing was "
                 "written (fenced)",
                 store, token.version, store, fence_role_name(token.role), fence_role_name(fence.role),
                 fence.version))
      .fenced();
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
