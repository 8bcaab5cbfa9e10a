#include "cli/common.h"

#include <fmt/format.h>

#include "tandem/config.h"

namespace tandem::cli {

int exit_code_for(const Status& s) {
  switch (s.code()) {
    case Code::kConfig:
      return kExitConfig;
    case Code::kFailedPrecondition:
      return kExitRefused;
    case Code::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitError;
  }
}

int report(const Status& s) {
  fmt::print(stderr, "tandem: {}\n", s.to_string());
  return exit_code_for(s);
}

Result<std::unique_ptr<Migration>> open_operator(const GlobalOptions& global) {
  TANDEM_ASSIGN_OR_RETURN(Config config, Config::load_file(global.config_path));
  MigrationOptions options;
  options.register_instance = false;
  return Migration::open(config, options);
}

Result<ControlView> open_control_view(const GlobalOptions& global) {
  ControlView view;
  TANDEM_ASSIGN_OR_RETURN(view.config, Config::load_file(global.config_path));
  TANDEM_RETURN_IF_ERROR(view.config.validate());
  TANDEM_ASSIGN_OR_RETURN(view.control, open_control_store(view.config.control_url));
  TANDEM_RETURN_IF_ERROR(view.control->initialize(view.config.fingerprint(), view.config.plan.size()));
  return view;
}

}  // namespace tandem::cli
