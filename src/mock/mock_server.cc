// The mock model server's accept loop and entry point: one io_context per thread, connections
// handed round-robin to them, each served by a Session (session.h).
#include "mock/mock_server.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "infergate/core/log.h"
#include "mock/session.h"
#include "mock/shared_state.h"

namespace infergate::mock {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

// Accepts on one io_context and hands each connection to the next io_context in turn.
class Listener {
 public:
  Listener(Shared& shared, std::vector<std::unique_ptr<asio::io_context>>& contexts)
      : shared_(shared), contexts_(contexts), acceptor_(*contexts[0]), retry_(*contexts[0]) {}

  bool Open(const tcp::endpoint& endpoint, std::string* error) {
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(4096, ec);
    if (ec) {
      *error = ec.message();
      return false;
    }
    return true;
  }

  tcp::endpoint LocalEndpoint() {
    error_code ec;
    return acceptor_.local_endpoint(ec);
  }

  void Accept() {
    asio::io_context& target = *contexts_[next_++ % contexts_.size()];
    acceptor_.async_accept(target, [this](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec) {
        IG_WARN("accept failed: %s", ec.message().c_str());
        retry_.expires_after(20ms);
        retry_.async_wait([this](const error_code& wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);
      shared_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
      shared_.connections_open.fetch_add(1, std::memory_order_relaxed);
      if (contexts_.size() == 1) {
        std::make_shared<Session>(shared_, std::move(socket))->Start();
      } else {
        auto executor = socket.get_executor();
        asio::post(executor, [shared = &shared_, s = std::move(socket)]() mutable {
          std::make_shared<Session>(*shared, std::move(s))->Start();
        });
      }
      Accept();
    });
  }

  void Close() {
    error_code ec;
    acceptor_.close(ec);
    retry_.cancel();
  }

 private:
  Shared& shared_;
  std::vector<std::unique_ptr<asio::io_context>>& contexts_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  size_t next_ = 0;
};

}  // namespace

int RunMockServer(const Options& options) {
  error_code ec;
  std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  if (host.empty()) host = "0.0.0.0";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    std::fprintf(stderr, "infergate-mock: bad listen address '%s'\n", options.host.c_str());
    return 2;
  }
  Shared shared(options);
  int threads = std::max(1, options.threads);
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int i = 0; i < threads; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
  int exit_code = 0;
  {
    Listener listener(shared, contexts);
    std::string error;
    if (!listener.Open(tcp::endpoint(address, options.port), &error)) {
      std::fprintf(stderr, "infergate-mock: cannot listen on %s:%u: %s\n", options.host.c_str(),
                   options.port, error.c_str());
      return 1;
    }
    tcp::endpoint local = listener.LocalEndpoint();
    std::string shown = local.address().to_string();
    if (local.address().is_v6()) shown = "[" + shown + "]";
    std::printf("infergate-mock listening on %s:%u\n", shown.c_str(), local.port());
    std::fflush(stdout);

    asio::signal_set signals(*contexts[0], SIGINT, SIGTERM);
    signals.async_wait([&](const error_code& sig_ec, int) {
      if (sig_ec) return;
      listener.Close();
      for (auto& ctx : contexts) ctx->stop();
    });
    listener.Accept();

    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> workers;
    for (int i = 1; i < threads; ++i) {
      guards.push_back(asio::make_work_guard(*contexts[static_cast<size_t>(i)]));
      workers.emplace_back([ctx = contexts[static_cast<size_t>(i)].get(), i] {
        std::string name = "worker-" + std::to_string(i);
        SetThreadLogName(name.c_str());
        ctx->run();
      });
    }
    contexts[0]->run();
    for (auto& ctx : contexts) ctx->stop();
    for (auto& t : workers) t.join();
    listener.Close();
  }
  contexts.clear();
  return exit_code;
}

}  // namespace infergate::mock
