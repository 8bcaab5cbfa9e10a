// The refusal both control stores return from continue_after_fence when new's
// fence is ahead of a control store whose steps have moved already.
#pragma once

#include <cstdint>
#include <string_view>

#include "tandem/control_store.h"
#include "tandem/status.h"

namespace tandem {

// kFailedPrecondition naming the control store, its step and version, and
// new's fence version, with what to do.
Status fence_ahead(std::string_view control, const StepState& current, int64_t fence_version);

}  // namespace tandem
