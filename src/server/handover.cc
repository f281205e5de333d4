// The hand-over protocol, over a Unix stream socket:
//   new -> old   "infergate-handover 1\n"
//   old -> new   "sockets N\n", then the N listening sockets, at most kPerMessage per sendmsg,
//                each message one byte ('S') carrying its descriptors (SCM_RIGHTS)
//   new -> old   "drain\n" once the new process is ready (or it closes: nothing happens)
#include "server/handover.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>

#include <cstring>

#include "infergate/core/log.h"

namespace infergate::server {
namespace {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
constexpr size_t kPerMessage = 64;  // descriptors per sendmsg (the kernel allows 253)
constexpr size_t kMaxSockets = 1 << 16;
constexpr const char* kHello = "infergate-handover 1\n";

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// One line (without its newline), at most 128 bytes.
bool ReadLine(int fd, std::string* line) {
  line->clear();
  char c;
  while (line->size() < 128) {
    if (::recv(fd, &c, 1, 0) != 1) return false;
    if (c == '\n') return true;
    *line += c;
  }
  return false;
}

// A message of one byte with room for `fds` descriptors.
struct OneByte {
  explicit OneByte(size_t fds, char value) : byte(value), control(CMSG_SPACE(fds * sizeof(int))) {
    iov = {&byte, 1};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
  }
  OneByte(const OneByte&) = delete;  // msg points into it
  OneByte& operator=(const OneByte&) = delete;
  char byte;
  std::vector<char> control;
  iovec iov{};
  msghdr msg{};
};

bool SendSockets(int fd, const std::vector<int>& sockets) {
  if (!WriteAll(fd, "sockets " + std::to_string(sockets.size()) + "\n")) return false;
  for (size_t at = 0; at < sockets.size(); at += kPerMessage) {
    const size_t n = std::min(kPerMessage, sockets.size() - at);
    OneByte m(n, 'S');
    msghdr& msg = m.msg;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n * sizeof(int));
    std::memcpy(CMSG_DATA(c), sockets.data() + at, n * sizeof(int));
    if (::sendmsg(fd, &msg, MSG_NOSIGNAL) != 1) return false;
  }
  return true;
}

}  // namespace

pid_t SpawnSuccessor(const std::string& binary, const std::vector<std::string>& argv,
                     const std::string& socket, std::string* error) {
  std::vector<std::string> args{binary};
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--take-over") {
      ++i;  // and its value
      continue;
    }
    args.push_back(argv[i]);
  }
  args.push_back("--take-over");
  args.push_back(socket);
  std::vector<char*> c_args;
  for (std::string& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // no socket or file leaks into it
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, c_args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *error = "starting " + binary + ": " + std::strerror(rc);
    return -1;
  }
  return pid;
}

TakeOver::~TakeOver() {
  for (const InheritedSocket& s : sockets_) {
    if (s.fd >= 0) ::close(s.fd);
  }
  if (fd_ >= 0) ::close(fd_);
}

bool TakeOver::Receive(const std::string& path, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    *error = "--take-over " + path + ": the path is too long for a Unix socket";
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{10, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error = "--take-over " + path + ": " + std::strerror(errno) +
             " (is an infergate with --handover-socket " + path + " running?)";
    return false;
  }
  std::string line;
  if (!WriteAll(fd_, kHello) || !ReadLine(fd_, &line) || !line.starts_with("sockets ")) {
    *error = "--take-over " + path + ": the process there did not hand its sockets over";
    return false;
  }
  const size_t count = std::strtoul(line.c_str() + 8, nullptr, 10);
  if (count > kMaxSockets) {
    *error = "--take-over " + path + ": an implausible socket count (" + line + ")";
    return false;
  }
  while (sockets_.size() < count) {
    const size_t n = std::min(kPerMessage, count - sockets_.size());
    OneByte m(kPerMessage, 0);
    msghdr& msg = m.msg;
    if (::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC) != 1 || m.byte != 'S') {
      *error = "--take-over " + path + ": the sockets did not arrive";
      return false;
    }
    size_t got = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; ++i) {
        InheritedSocket s;
        std::memcpy(&s.fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        sockaddr_storage bound{};
        socklen_t len = sizeof(bound);
        if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0 &&
            (bound.ss_family == AF_INET || bound.ss_family == AF_INET6)) {
          s.bound.resize(len);
          std::memcpy(s.bound.data(), &bound, len);
        }
        sockets_.push_back(s);
        ++got;
      }
    }
    if (got != n) {
      *error = "--take-over " + path + ": expected " + std::to_string(n) + " sockets, got " +
               std::to_string(got);
      return false;
    }
  }
  return true;
}

void TakeOver::Drain() {
  if (fd_ < 0) return;
  if (!WriteAll(fd_, "drain\n")) IG_WARN("hand-over: could not tell the previous process to drain");
  ::close(fd_);
  fd_ = -1;
}

HandoverServer::HandoverServer(asio::io_context& io, std::function<std::vector<int>()> sockets,
                               std::function<void()> drain)
    : io_(io), acceptor_(io), sockets_(std::move(sockets)), drain_(std::move(drain)) {}

HandoverServer::~HandoverServer() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  // The path is left alone: a new process that took over may already listen there.
}

bool HandoverServer::Listen(const std::string& path, std::string* error) {
  ::unlink(path.c_str());  // a stale socket of a process that is gone (or handed over)
  boost::system::error_code ec;
  acceptor_.open(local(), ec);
  if (!ec) acceptor_.bind(local::endpoint(path), ec);
  if (!ec) acceptor_.listen(4, ec);
  if (ec) {
    *error = "--handover-socket " + path + ": " + ec.message();
    return false;
  }
  path_ = path;
  Accept();
  return true;
}

void HandoverServer::Accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, local::socket peer) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) Serve(std::make_shared<local::socket>(std::move(peer)));
    Accept();
  });
}

void HandoverServer::Serve(std::shared_ptr<local::socket> peer) {
  auto buf = std::make_shared<asio::streambuf>(128);
  asio::async_read_until(
      *peer, *buf, '\n', [this, peer, buf](const boost::system::error_code& ec, size_t n) {
        std::string line(asio::buffers_begin(buf->data()), asio::buffers_begin(buf->data()) + n);
        buf->consume(n);
        if (ec || line != kHello) return;
        const int fd = peer->native_handle();
        const int flags = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);  // a few small writes; the peer is reading
        const std::vector<int> sockets = sockets_();
        if (!SendSockets(fd, sockets)) {
          IG_WARN("hand-over: sending the listening sockets failed: %s", std::strerror(errno));
          return;
        }
        IG_INFO(
            "hand-over: %zu listening socket(s) sent to a new process; serving until it is "
            "ready",
            sockets.size());
        asio::async_read_until(
            *peer, *buf, '\n', [this, peer, buf](const boost::system::error_code& rec, size_t m) {
              std::string word(asio::buffers_begin(buf->data()),
                               asio::buffers_begin(buf->data()) + m);
              if (rec || word != "drain\n") {
                IG_WARN("hand-over: the new process went away before it was ready; still serving");
                while (::waitpid(-1, nullptr, WNOHANG) > 0) {
                }  // a successor this process started and that exited: no zombie left
                return;
              }
              IG_INFO("hand-over: the new process is ready; draining");
              drain_();
            });
      });
}

}  // namespace infergate::server
