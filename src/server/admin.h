// The admin listener, on its own thread: /metrics, /health, /ready, GET /admin/backends, and the
// endpoints that change state (POST /admin/reload, POST /admin/backends/{pool}/{backend}/drain |
// undrain), which take a bearer token when admin.token_sha256 is set. Not on the request path.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/observability/metrics.h"
#include "infergate/server/server.h"
#include "infergate/upstream/health_controller.h"

namespace infergate::server {

class Admin {
 public:
  // `reload`: runs a reload on the main thread and returns its outcome (blocks the admin thread
  // meanwhile).
  Admin(observability::Registry& registry, std::atomic<bool>& draining,
        upstream::HealthController& health, std::function<ReloadOutcome()> reload);

  // `inherited`: a listening socket on that address taken over from a previous process (-1:
  // none, bind one).
  bool Bind(const config::HostPort& hp, std::string* error, int inherited = -1);
  int native_handle() { return acceptor_.native_handle(); }
  // A hand-over: the new process accepts on the shared socket from now on (thread-safe).
  void StopAccepting();
  void Start();
  void Stop();
  // The SHA-256 (hex) of the token the state-changing endpoints require; "" for none.
  void SetToken(std::string token_sha256);

 private:
  struct Answer {
    int status = 200;
    std::string body;
    std::string type = "application/json";
    std::string extra;  // extra header lines, each ending in CRLF
  };
  boost::asio::awaitable<void> Accept();
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);
  Answer Handle(std::string_view method, std::string_view target, std::string_view authorization);
  Answer Backend(std::string_view target);
  bool Authorized(std::string_view authorization);

  observability::Registry& registry_;
  std::atomic<bool>& draining_;
  upstream::HealthController& health_;
  std::function<ReloadOutcome()> reload_;
  std::mutex token_mu_;
  std::string token_sha256_;
  observability::Counter* unauthorized_ = nullptr;
  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace infergate::server
