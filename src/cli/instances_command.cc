// `tandem instances list|forget`: the instances registered in the control
// store, and an operator's declaration that a silent one is dead.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "ops/operator_commands.h"
#include "tandem/operator_tools.h"

namespace tandem::cli {

int run_instances_command(const GlobalOptions& global, const std::string& action, const std::string& id,
                          const std::string& reason, bool json) {
  auto view = open_control_view(global);
  if (!view.ok()) return report(view.status());
  ControlStore& control = *view->control;
  const Config& config = view->config;
  if (action == "forget") {
    auto forgotten = forget_instance(config, control, id, reason);
    if (!forgotten.ok()) return report(forgotten.status());
    fmt::print("forgot instance {} (host {}, last heartbeat {}), recorded with the reason: {}\n",
               forgotten->instance_id, forgotten->host, format_time(forgotten->last_heartbeat),
               forgotten->reason);
    return kExitOk;
  }
  auto now = control.clock_now();
  auto instances = control.instances();
  auto forgotten = control.forgotten_instances(20);
  for (const Status* s : {&now.status(), &instances.status(), &forgotten.status()}) {
    if (!s->ok()) return report(*s);
  }
  auto state = [&](const InstanceHeartbeat& h) -> std::string_view {
    if (instance_is_live(h, *now, config.instance_timeout)) return "live";
    return config.fence == FencePolicy::kOperator ? "silent" : "gone";
  };
  if (json) {
    auto out = ops::instances_report(config, control);
    if (!out.ok()) return report(out.status());
    fmt::print("{}\n", out->dump(2));
    return kExitOk;
  }
  fmt::print("fence: {} (lease {} ms)\n", fence_policy_name(config.fence), config.instance_timeout.count());
  if (instances->empty()) fmt::print("no instance registered\n");
  for (const InstanceHeartbeat& h : *instances) {
    fmt::print("  {:<32} host {:<20} pid {:<8} step {} (version {})  heartbeat {}  {}\n", h.instance_id,
               h.host, h.pid, h.applied_step_index + 1, h.applied_version, format_time(h.heartbeat_at),
               state(h));
  }
  for (const InstanceForgotten& f : *forgotten) {
    fmt::print("forgotten: {} (host {}) at {} by {} at step version {}: {}\n", f.instance_id, f.host,
               format_time(f.at), f.actor, f.step_version, f.reason);
  }
  return kExitOk;
}

}  // namespace tandem::cli
