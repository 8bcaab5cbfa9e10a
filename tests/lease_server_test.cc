// Leases on a server control store (PostgreSQL, MariaDB): the control store
// becomes unreachable under load (a TCP proxy the test cuts: connections
// reset, or connections that hang and deliver late), the instance
// fails closed within its lease, a mover on another path counts it gone
// only after the lease, and the instance recovers by itself.

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "control_store_fixture.h"
#include "stress/tcp_proxy.h"
#include "tandem/move_problem.h"

namespace tandem::testing {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The engine, and whether the partition is silent (connections hang) rather
// than dropped (connections reset).
class LeaseOnServer : public ::testing::TestWithParam<std::tuple<Engine, bool>> {};

TEST_P(LeaseOnServer, AnUnreachableControlStoreFailsTheInstanceClosedWithinItsLeaseAndItRecovers) {
  const auto [engine, silent] = GetParam();
  ControlDatabase db(engine);
  stress::TcpProxy proxy(stress::url_port(db.url()));
  ASSERT_TRUE(proxy.ok());
  TempDir dir;
  Config config;
  config.migration_name = "lease";
  config.old_url = "sqlite:" + dir.file("old.db");
  config.new_url = "sqlite:" + dir.file("new.db");
  config.control_url = db.url();
  config.refresh_interval = milliseconds(100);
  config.instance_timeout = milliseconds(1500);
  config.collections = {users_schema()};
  create_old_database(dir.file("old.db"), users_schema(), {});
  MigrationOptions op;
  op.register_instance = false;
  auto mover = value_or_die(init_and_open(config, op));  // reaches the server directly

  Config through_proxy = config;
  through_proxy.control_url = stress::url_with_port(db.url(), proxy.port());
  MigrationOptions options;
  options.instance_label = "behind-proxy";
  auto instance = value_or_die(Migration::open(through_proxy, options));
  Collection* users = value_or_die(instance->collection("users"));

  // Load: one writer, each put a new key; what it was told, and when.
  struct Outcome {
    int64_t id;
    Steady::time_point started;
    Status status;
  };
  std::mutex mutex;
  std::vector<Outcome> outcomes;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int64_t id = 1; !stop; ++id) {
      auto started = Steady::now();
      Status s = users->put(user(id, "v"));
      {
        std::lock_guard lock(mutex);
        outcomes.push_back({id, started, s});
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  std::this_thread::sleep_for(milliseconds(500));
  const auto cut_at = Steady::now();
  silent ? proxy.silence() : proxy.drop();
  // The mover, on the control store's clock, counts it gone only after the
  // whole lease: until then a move would have to wait for it.
  bool counted_gone = false;
  while (!counted_gone && Steady::now() - cut_at < std::chrono::seconds(10)) {
    auto now = value_or_die(OperatorTools(*mover).control().clock_now());
    counted_gone = true;
    for (const InstanceHeartbeat& h : value_or_die(OperatorTools(*mover).control().instances())) {
      if (h.instance_id == "behind-proxy" && instance_is_live(h, now, config.instance_timeout))
        counted_gone = false;
    }
    if (!counted_gone) std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(counted_gone);
  const auto gone_at = Steady::now();
  EXPECT_GE(gone_at - cut_at, milliseconds(1500) - milliseconds(200));  // not before its lease
  std::this_thread::sleep_for(milliseconds(300));
  proxy.heal();
  std::this_thread::sleep_for(milliseconds(1500));
  stop = true;
  writer.join();

  Store* old_store = &OperatorTools(*mover).store(Side::kOld);
  int refused = 0, acknowledged_after_lapse = 0, recovered = 0;
  for (const Outcome& o : outcomes) {
    bool in_old = value_or_die(old_store->get("users", Key{Value(o.id)})).present();
    if (o.status.ok()) {
      EXPECT_TRUE(in_old) << "acknowledged put " << o.id << " is not in old";
      // Routing stopped before the mover counted it gone: nothing started
      // between then and the restore was acknowledged.
      if (o.started >= gone_at && o.started < gone_at + milliseconds(300)) ++acknowledged_after_lapse;
      if (o.started > gone_at + milliseconds(300)) ++recovered;
    } else if (o.status.message().find("cannot confirm the migration's step") != std::string::npos) {
      ++refused;
      EXPECT_EQ(o.status.code(), Code::kUnavailable);
      EXPECT_FALSE(in_old) << "refused put " << o.id << " reached old";
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_EQ(acknowledged_after_lapse, 0);
  EXPECT_GT(recovered, 0) << "the instance did not resume after the control store came back";
}

INSTANTIATE_TEST_SUITE_P(Servers, LeaseOnServer,
                         ::testing::Combine(::testing::Values(Engine::kPostgres, Engine::kMariaDb),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<Engine, bool>>& info) {
                           return engine_name(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_silent" : "_dropped");
                         });

}  // namespace
}  // namespace tandem::testing
