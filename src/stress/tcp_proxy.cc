// A network partition on loopback (see tcp_proxy.h).
#include "stress/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <regex>

#include <fmt/format.h>

namespace tandem::stress {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

}  // namespace

TcpProxy::TcpProxy(int target) : target_(target) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0 || ::listen(listener_, 128) != 0) {
    return;
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  if (listener_ >= 0) ::shutdown(listener_, SHUT_RDWR);
  healed_.notify_all();
  if (acceptor_.joinable()) acceptor_.join();
  drop();
  for (auto& t : pumps_) t.join();
  for (int fd : open_) ::close(fd);
  if (listener_ >= 0) ::close(listener_);
}

void TcpProxy::drop() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::kDropped;
  for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
}

void TcpProxy::silence() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::kSilent;
}

void TcpProxy::heal() {
  {
    std::lock_guard lock(mutex_);
    mode_ = Mode::kOpen;
  }
  healed_.notify_all();
}

void TcpProxy::accept_loop() {
  while (!stopping_) {
    int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) return;
    std::unique_lock lock(mutex_);
    // Silent: the client's connect() has succeeded (the kernel's backlog),
    // but nothing answers until the partition heals.
    healed_.wait(lock, [this] { return stopping_ || mode_ != Mode::kSilent; });
    if (stopping_ || mode_ == Mode::kDropped) {
      ::close(client);
      continue;
    }
    int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(target_);
    if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      continue;
    }
    open_.push_back(client);
    open_.push_back(server);
    pumps_.emplace_back([this, client, server] { pump(client, server); });
  }
}

void TcpProxy::pump(int a, int b) {
  char buf[16384];
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  for (bool done = false; !done;) {
    if (mode_ == Mode::kSilent) {  // hold what is sent: it stays in the sockets' buffers
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (::poll(fds, 2, 100) < 0) break;
    for (int i = 0; i < 2 && !done; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0 || ::write(fds[1 - i].fd, buf, static_cast<size_t>(n)) != n) done = true;
    }
  }
  ::shutdown(a, SHUT_RDWR);
  ::shutdown(b, SHUT_RDWR);
}

std::string url_with_port(const std::string& url, int port) {
  return std::regex_replace(url, std::regex(":[0-9]+/"), fmt::format(":{}/", port),
                            std::regex_constants::format_first_only);
}

int url_port(const std::string& url) {
  std::smatch m;
  if (!std::regex_search(url, m, std::regex(":([0-9]+)/"))) return 0;
  return std::stoi(m[1]);
}

}  // namespace tandem::stress
