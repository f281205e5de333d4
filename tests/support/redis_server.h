// A real redis-server for integration tests: on a free loopback port, with no persistence,
// waited on until it logs that it accepts connections; killed, paused (SIGSTOP), resumed and
// restarted on the same port by the test.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/process.h"

namespace infergate::testing {

class RedisServer {
 public:
  // Whether redis-server is on PATH (tests GTEST_SKIP without it).
  static bool Installed();
  // Starts redis-server --port <free port> --bind 127.0.0.1 --save '' --appendonly no plus
  // `args` (e.g. {"--requirepass", "pw"}). Nullptr (after printing its output) on failure.
  static std::unique_ptr<RedisServer> Start(
      std::vector<std::string> args = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // TLS only (--port 0 --tls-port <free port>): the server shows `cert` and `key`; with
  // `require_client_cert` it asks for a client certificate signed by `ca` and refuses a client
  // without one (--tls-auth-clients yes).
  struct Tls {
    std::string ca, cert, key;
    bool require_client_cert = false;
  };
  static std::unique_ptr<RedisServer> StartTls(
      const Tls& tls, std::vector<std::string> args = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~RedisServer();

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  Process* process() { return process_.get(); }

  // SIGKILL and reap: connections are reset, nothing is saved.
  void Kill();
  // SIGTERM and reap: redis closes its clients' connections and exits.
  void Stop();
  // SIGSTOP / SIGCONT: the server keeps its sockets but answers nothing while paused.
  void Pause();
  void Resume();
  // Starts it again on the same port with the same arguments (empty: nothing was saved). False
  // when it does not come up.
  bool Restart(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  RedisServer() = default;
  bool Launch(std::chrono::milliseconds timeout);

  uint16_t port_ = 0;
  bool tls_ = false;
  std::vector<std::string> args_;
  std::unique_ptr<Process> process_;
};

}  // namespace infergate::testing
