// Listener sockets, the accept loop and TLS handshakes on the workers.
#include "server/accept.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "infergate/core/log.h"
#include "infergate/http/h1/transport.h"
#include "infergate/http/h2/transport.h"
#include "infergate/tls/context.h"
#include "infergate/tls/stream.h"

namespace infergate::server {
namespace {

using boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

}  // namespace

std::string Describe(const tcp::endpoint& ep) {
  if (ep.address().is_v6())
    return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// Opens, binds and listens; SO_REUSEPORT lets every worker own a socket on the same port.
bool OpenAcceptor(tcp::acceptor& acc, const tcp::endpoint& ep, bool reuse_port,
                  std::string* error) {
  error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && reuse_port) {
    int one = 1;
    if (::setsockopt(acc.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      ec = error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(4096, ec);
  if (ec) {
    *error = "bind " + Describe(ep) + ": " + ec.message();
    return false;
  }
  return true;
}

// Whether another socket already listens on `ep`. The workers bind with SO_REUSEPORT, which
// would let a second infergate (same user) bind next to a running one and take half of its
// connections; a probe without SO_REUSEPORT fails on a listening socket instead.
bool AlreadyServed(const tcp::endpoint& ep) {
  if (ep.port() == 0) return false;
  asio::io_context io;
  tcp::acceptor probe(io);
  error_code ec;
  probe.open(ep.protocol(), ec);
  if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) probe.bind(ep, ec);
  return ec == asio::error::address_in_use;
}

std::optional<tcp::endpoint> Endpoint(const config::HostPort& hp, std::string* error) {
  error_code ec;
  auto addr = asio::ip::make_address(hp.host, ec);
  if (!ec) return tcp::endpoint(addr, hp.port);
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
  if (ec || results.empty()) {
    *error = "cannot resolve " + hp.host + ": " + (ec ? ec.message() : "no address");
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

// Bumps the worker's heartbeat every `period` while its event loop runs: a loop wedged by a
// blocking call stops it, and the watchdog ping is withheld.
asio::awaitable<void> Heartbeat(Worker* w, std::chrono::microseconds period) {
  asio::steady_timer timer(w->io);
  while (true) {
    w->beats.fetch_add(1, std::memory_order_relaxed);
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(kNoThrow);
    if (ec) co_return;
  }
}

namespace {

// A connection in its TLS handshake holds a slot like one whose request head is unfinished: a
// new connection at max_connections may close it (the oldest first).
class HandshakeSlot final : public exchange::Sheddable {
 public:
  HandshakeSlot(exchange::WorkerContext& ctx, size_t listener, tcp::socket& socket)
      : ctx_(ctx), listener_(listener), socket_(socket) {
    ctx_.sheddable[listener_].Enter(*this, exchange::ConnState::kHead);
  }
  ~HandshakeSlot() override { Give(); }
  void Shed() override {
    Give();
    shed_ = true;
    error_code ignored;
    socket_.close(ignored);
  }
  // The handshake is done: the connection takes the slot over.
  void HandOver() {
    held_ = false;
    if (is_linked()) unlink();
  }
  bool shed() const { return shed_; }

 private:
  void Give() {
    if (!held_) return;
    held_ = false;
    if (is_linked()) unlink();
    ctx_.listeners[listener_]->slots.Give();
  }
  exchange::WorkerContext& ctx_;
  size_t listener_;
  tcp::socket& socket_;
  bool held_ = true;
  bool shed_ = false;
};

// A TLS connection's handshake, within the listener's header_timeout, then the transport ALPN
// chose. A failure is counted, never logged per connection (a scanner must not flood the log).
// The handshake keeps the context it began with, whatever a certificate reload does meanwhile.
asio::awaitable<void> TlsHandshake(Worker* w, size_t listener, tcp::socket socket,
                                   std::shared_ptr<const ListenerTls> ctx) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  tls::TlsSocket stream(std::move(socket), *ctx->asio);
  exchange::ListenerRuntime& lr = *w->ctx.listeners[listener];
  HandshakeSlot slot(w->ctx, listener, stream.next_layer());
  asio::steady_timer timer(w->io);
  timer.expires_after(w->ctx.snapshot->listener(listener).header_timeout);
  auto timed_out = std::make_shared<bool>(false);
  timer.async_wait([timed_out, &stream](const error_code& ec) {
    if (ec) return;
    *timed_out = true;
    error_code ignore;
    stream.next_layer().close(ignore);
  });
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kNoThrow);
  timer.cancel();
  if (ec || *timed_out || slot.shed()) {
    if (!slot.shed()) (*timed_out ? lr.tls_timeout : lr.tls_failed)->Inc();
    co_return;
  }
  slot.HandOver();
  std::vector<std::string> peer_names = tls::PeerCertificateNames(stream.native_handle());
  if (tls::NegotiatedProtocol(stream.native_handle()) == tls::AppProtocol::kH2) {
    h2::ServeConnection(w->ctx, listener,
                        tls::MakeTlsByteStream(std::move(stream), std::move(peer_names)), "");
  } else {
    h1::ServeTlsConnection(w->ctx, listener, std::move(stream), std::move(peer_names));
  }
}

}  // namespace

asio::awaitable<void> AcceptLoop(Worker* w, tcp::acceptor* acc, size_t listener) {
  asio::steady_timer backoff(w->io);
  std::chrono::steady_clock::time_point last_warn{};
  exchange::ListenerRuntime& lr = *w->ctx.listeners[listener];
  while (acc->is_open()) {
    auto [ec, socket] = co_await acc->async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc->is_open()) break;
      // Out of descriptors or memory: count it, say so once per interval, and pause this
      // listener (the pending connection stays in the backlog) while existing connections are
      // served. Without the pause a level-triggered accept would spin.
      const bool fd_limit = ec == asio::error::no_descriptors || ec.value() == ENFILE;
      (fd_limit ? lr.accept_fd_limit : lr.accept_other)->Inc();
      const auto now = std::chrono::steady_clock::now();
      if (last_warn == std::chrono::steady_clock::time_point{} ||
          now - last_warn >= std::chrono::seconds(10)) {
        last_warn = now;
        IG_WARN("accept on %s failed: %s; pausing accepts for 100ms (logged once per 10s)%s",
                Describe(acc->local_endpoint()).c_str(), ec.message().c_str(),
                fd_limit ? "; lower max_connections or raise LimitNOFILE" : "");
      }
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    // Draining, or a reload removed the listener (an accept that completed before its socket
    // was closed): not served.
    if (w->ctx.draining || !w->ctx.snapshot->serves(listener)) continue;
    if (!h1::TakeConnectionSlot(w->ctx, listener)) {
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    if (const std::shared_ptr<const ListenerTls>& tls = w->tls[listener]) {
      asio::co_spawn(w->io, TlsHandshake(w, listener, std::move(socket), tls), asio::detached);
    } else {
      h1::ServeConnection(w->ctx, listener, std::move(socket));
    }
  }
}

}  // namespace infergate::server
