// Hand-over between two infergate processes on the same addresses, with no dropped connection.
// The running process listens on a Unix socket (--handover-socket). A new process started with
// --take-over PATH connects, receives the running process's listening sockets themselves
// (SCM_RIGHTS), serves them next to it, and once it is ready says "drain": the old process
// stops accepting and drains. The listening sockets never close in between, so no connection in
// their accept queues is lost, and no client sees a refused connect.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace infergate::server {

// A listening socket received from the running process.
struct InheritedSocket {
  int fd = -1;
  boost::asio::ip::tcp::endpoint bound;
};

// The new process's side.
class TakeOver {
 public:
  ~TakeOver();
  // Connects to the running process at `path` and receives its listening sockets. False with
  // the error (nothing to take over from: no process there, or not an infergate).
  bool Receive(const std::string& path, std::string* error);
  std::vector<InheritedSocket>& sockets() { return sockets_; }
  // Tells the old process to drain (call once ready); closes the connection.
  void Drain();

 private:
  int fd_ = -1;
  std::vector<InheritedSocket> sockets_;
};

// SIGUSR2: starts `binary` (the path the running one was started from: after a package upgrade,
// the new file) with `argv` (the running process's arguments, any --take-over dropped) plus
// --take-over `socket`; its descriptors other than stdin, stdout and stderr are not inherited.
// Returns its pid, or -1 with the error.
pid_t SpawnSuccessor(const std::string& binary, const std::vector<std::string>& argv,
                     const std::string& socket, std::string* error);

// The running process's side: serves hand-overs on `path` from `io` (the main thread).
class HandoverServer {
 public:
  // `sockets`: the listening sockets to hand over, at the moment of a request. `drain`: called
  // (on `io`) when the new process says it is ready.
  HandoverServer(boost::asio::io_context& io, std::function<std::vector<int>()> sockets,
                 std::function<void()> drain);
  ~HandoverServer();
  bool Listen(const std::string& path, std::string* error);

 private:
  void Accept();
  void Serve(std::shared_ptr<boost::asio::local::stream_protocol::socket> peer);

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::function<std::vector<int>()> sockets_;
  std::function<void()> drain_;
  std::string path_;
};

}  // namespace infergate::server
