// A systemd notify socket for tests: a datagram socket in a temporary directory whose path goes
// into the daemon's NOTIFY_SOCKET; every message it sends is read back in order.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "support/test_env.h"

namespace infergate::testing {

// The notify socket: every datagram the gateway sends, in order.
class NotifySocket {
 public:
  NotifySocket() {
    path_ = dir_.path() + "/notify";
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }

  // Reads datagrams until one contains `needle` (returned whole), or `timeout` passes ("").
  std::string WaitFor(const std::string& needle,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      std::string message(buf, static_cast<size_t>(n));
      seen_.push_back(message);
      if (message.find(needle) != std::string::npos) return message;
    }
  }
  const std::vector<std::string>& seen() const { return seen_; }
  // Messages already queued, without waiting.
  std::vector<std::string> Pending() {
    std::vector<std::string> out;
    char buf[4096];
    while (true) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) return out;
      out.emplace_back(buf, static_cast<size_t>(n));
      seen_.push_back(out.back());
    }
  }

 private:
  TempDir dir_;
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
  std::vector<std::string> seen_;
};

}  // namespace infergate::testing
