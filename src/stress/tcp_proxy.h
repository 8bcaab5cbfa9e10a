// TcpProxy: a network partition on loopback, for tests and tandem-stress. It
// forwards 127.0.0.1:port() to 127.0.0.1:target until told to fail, in one of
// the two ways a real partition shows itself to a client:
//   - drop(): every connection is shut down and new ones are closed at once
//     (a peer that resets, a firewall that rejects): calls fail fast;
//   - silence(): connections stay open but nothing passes either way, and new
//     ones are accepted by the kernel but not answered (a cable pulled, a
//     firewall that drops packets): calls hang until their own timeout, and
//     what was sent meanwhile arrives late, once heal() lets it through, as
//     TCP's retransmissions would deliver it.
// heal() ends either. Errors setting up the listener are reported by ok().
//
// Thread safety: every method from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::stress {

class TcpProxy {
 public:
  explicit TcpProxy(int target);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  bool ok() const { return port_ > 0; }
  int port() const { return port_; }
  void drop();
  void silence();
  void heal();

 private:
  enum class Mode { kOpen, kDropped, kSilent };
  void accept_loop();
  void pump(int a, int b);

  const int target_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<Mode> mode_{Mode::kOpen};
  std::mutex mutex_;
  std::condition_variable healed_;
  std::vector<int> open_;  // every forwarded socket, closed by the destructor
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

// url (postgres://… or mariadb://… with host:port) with its port replaced by port.
std::string url_with_port(const std::string& url, int port);
// The port of url; 0 if it names none.
int url_port(const std::string& url);

}  // namespace tandem::stress
