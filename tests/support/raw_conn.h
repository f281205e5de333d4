// A raw TCP connection to a loopback port, for tests that send bytes no client library would
// (attacks, raw HTTP/2 frames) and need to know whether the peer closed the connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "support/test_env.h"

namespace infergate::testing {

// A raw connection that sends bytes and reports whether the peer closed it, for attacks that
// the HttpClient would not make.
class RawConn {
 public:
  explicit RawConn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawConn() { ::close(fd_); }
  bool connected() const { return connected_; }
  // False once the peer has closed (or reset) the connection.
  bool Send(std::string_view data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Waits up to `wait` for the peer to send or close; returns what arrived ("" on timeout) and
  // sets closed() when it closed.
  std::string Read(Millis wait) {
    std::string got;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return got;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT)) > 0) got.append(buf, n);
    if (n == 0 || (n < 0 && errno != EAGAIN)) closed_ = true;
    return got;
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

}  // namespace infergate::testing
