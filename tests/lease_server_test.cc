// Leases on a server control store (PostgreSQL, MariaDB): the control store
// becomes unreachable under load (a TCP proxy the test cuts), the instance
// fails closed within its lease, a mover on another path counts it gone
// only after the lease, and the instance recovers by itself.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include "control_store_fixture.h"
#include "tandem/move_problem.h"

namespace tandem::testing {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Forwards 127.0.0.1:port() to 127.0.0.1:target. cut() drops every
// connection and closes new ones at once, until restore().
class TcpProxy {
 public:
  explicit TcpProxy(int target) : target_(target) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::listen(listener_, 64), 0);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TcpProxy() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    cut();
    for (auto& t : pipes_) t.join();
  }
  int port() const { return port_; }
  void cut() {
    std::lock_guard lock(mutex_);
    down_ = true;
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  }
  void restore() {
    std::lock_guard lock(mutex_);
    down_ = false;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      std::lock_guard lock(mutex_);
      if (down_) {
        ::close(client);
        continue;
      }
      int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(target_));
      if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      open_.push_back(client);
      open_.push_back(server);
      pipes_.emplace_back([client, server] { pump(client, server); });
    }
  }
  static void pump(int a, int b) {
    char buf[16384];
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, 200) < 0) break;
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0 || ::write(fds[1 - i].fd, buf, static_cast<size_t>(n)) != n) done = true;
      }
      if (done) break;
    }
    ::shutdown(a, SHUT_RDWR);
    ::shutdown(b, SHUT_RDWR);
  }

  int target_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  bool down_ = false;
  std::vector<int> open_;
  std::vector<std::thread> pipes_;
};

// url with its port replaced by port.
std::string through(const std::string& url, int port) {
  return std::regex_replace(url, std::regex(":[0-9]+/"), fmt::format(":{}/", port),
                            std::regex_constants::format_first_only);
}
int port_of(const std::string& url) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(url, m, std::regex(":([0-9]+)/")));
  return std::stoi(m[1]);
}

class LeaseOnServer : public ::testing::TestWithParam<Engine> {};

TEST_P(LeaseOnServer, AnUnreachableControlStoreFailsTheInstanceClosedWithinItsLeaseAndItRecovers) {
  ControlDatabase db(GetParam());
  TcpProxy proxy(port_of(db.url()));
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
  through_proxy.control_url = through(db.url(), proxy.port());
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
  proxy.cut();
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
  proxy.restore();
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

INSTANTIATE_TEST_SUITE_P(Servers, LeaseOnServer, ::testing::Values(Engine::kPostgres, Engine::kMariaDb),
                         [](const ::testing::TestParamInfo<Engine>& info) {
                           return engine_name(info.param);
                         });

}  // namespace
}  // namespace tandem::testing
