// The workers and what they accept: each worker's event loop, its listener sockets (one per
// listener slot, SO_REUSEPORT), the accept loop, and a TLS connection's handshake up to the
// transport ALPN chose.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/exchange/context.h"
#include "server/tls_listeners.h"

namespace infergate::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string Describe(const tcp::endpoint& ep);
// Opens, binds and listens; SO_REUSEPORT lets every worker own a socket on the same port.
bool OpenAcceptor(tcp::acceptor& acc, const tcp::endpoint& ep, bool reuse_port, std::string* error);
// Whether another socket already listens on `ep` (probed without SO_REUSEPORT).
bool AlreadyServed(const tcp::endpoint& ep);
// A listen address as an endpoint (a name is resolved: blocking, off the event loops).
std::optional<tcp::endpoint> Endpoint(const config::HostPort& hp, std::string* error);

struct Worker {
  Worker() : io_holder(std::make_unique<asio::io_context>(1)), io(*io_holder) {}
  // Teardown order matters: sockets must go before their io_context, and the io_context's
  // pending handlers (whose connections touch ctx) before ctx.
  ~Worker() {
    if (thread.joinable()) thread.join();
    acceptors.clear();
    extra_acceptors.clear();
    ctx.view.reset();       // the worker's upstream sockets (exchanges hold theirs until destroyed)
    ctx.h1_spares.reset();  // spare exchanges' timers, before their io_context
    io_holder.reset();
  }
  std::unique_ptr<asio::io_context> io_holder;
  asio::io_context& io;
  exchange::WorkerContext ctx;
  // Per listener slot: its socket on this worker (kept, closed, once a reload removed it).
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  // More sockets of a slot taken over from a process that had more workers: {slot, socket}.
  std::vector<std::pair<size_t, std::unique_ptr<tcp::acceptor>>> extra_acceptors;
  // Per listener slot, its current TLS context (null: cleartext); replaced by a reload.
  std::vector<std::shared_ptr<const ListenerTls>> tls;
  std::thread thread;
  std::atomic<uint64_t> beats{0};  // bumped by a timer on the event loop (systemd watchdog)
};

// Bumps the worker's heartbeat every `period` while its event loop runs: a loop wedged by a
// blocking call stops it, and the watchdog ping is withheld.
asio::awaitable<void> Heartbeat(Worker* w, std::chrono::microseconds period);

// Accepts on `acc` (listener slot `listener`) until it is closed.
asio::awaitable<void> AcceptLoop(Worker* w, tcp::acceptor* acc, size_t listener);

}  // namespace infergate::server
