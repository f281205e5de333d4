// Workers, listeners, the admin endpoint, signals and drain.
#include "infergate/server/server.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "infergate/core/log.h"
#include "infergate/exchange/context.h"
#include "infergate/http/h1/transport.h"
#include "infergate/http/h2/transport.h"
#include "infergate/observability/access_log.h"
#include "infergate/observability/metrics.h"
#include "infergate/tls/context.h"
#include "infergate/tls/stream.h"
#include "infergate/upstream/health_controller.h"
#include "infergate/upstream/pool.h"
#include "server/systemd.h"
#include "server/tls_listeners.h"

namespace infergate::server {
namespace {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

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

struct Worker {
  Worker() : io_holder(std::make_unique<asio::io_context>(1)), io(*io_holder) {}
  // Teardown order matters: sockets must go before their io_context, and the io_context's
  // pending handlers (whose connections touch ctx) before ctx.
  ~Worker() {
    if (thread.joinable()) thread.join();
    acceptors.clear();
    ctx.view.reset();  // the worker's upstream sockets (exchanges hold theirs until destroyed)
    io_holder.reset();
  }
  std::unique_ptr<asio::io_context> io_holder;
  asio::io_context& io;
  exchange::WorkerContext ctx;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  // Per listener, its current TLS context (null: cleartext); replaced by a certificate reload.
  std::vector<std::shared_ptr<const ListenerTls>> tls;
  std::thread thread;
  std::atomic<uint64_t> beats{0};  // bumped by a timer on the event loop (systemd watchdog)
};

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
  timer.expires_after(w->ctx.snapshot->config->listeners[listener].header_timeout);
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
    if (w->ctx.draining) continue;
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

// The admin listener: /metrics, /health and /ready. Not on the request path.
class Admin {
 public:
  Admin(observability::Registry& registry, std::atomic<bool>& draining,
        upstream::HealthController& health, const upstream::BackendRegistry& backends)
      : registry_(registry),
        draining_(draining),
        health_(health),
        backends_(backends),
        acceptor_(io_) {}

  bool Bind(const config::HostPort& hp, std::string* error) {
    auto ep = Endpoint(hp, error);
    if (!ep || !OpenAcceptor(acceptor_, *ep, false, error)) return false;
    IG_INFO("admin listening on %s", Describe(acceptor_.local_endpoint()).c_str());
    return true;
  }

  void Start() {
    asio::co_spawn(io_, Accept(), asio::detached);
    thread_ = std::thread([this] {
      SetThreadLogName("admin");
      io_.run();
    });
  }

  void Stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  asio::awaitable<void> Accept() {
    while (true) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        continue;
      }
      asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> Serve(tcp::socket socket) {
    boost::beast::flat_buffer buffer;
    while (true) {
      beast_http::request<beast_http::string_body> req;
      auto [ec, n] = co_await beast_http::async_read(socket, buffer, req, kNoThrow);
      if (ec) co_return;
      int status = 200;
      std::string type = "application/json";
      std::string body;
      std::string_view target(req.target().data(), req.target().size());
      if (target.starts_with("/admin/backends/") && req.method() == beast_http::verb::post) {
        // POST /admin/backends/{pool}/{backend}/drain | /undrain
        std::string_view rest = target.substr(std::string_view("/admin/backends/").size());
        size_t s1 = rest.find('/');
        size_t s2 = rest.rfind('/');
        std::string_view action =
            s2 == std::string_view::npos ? std::string_view() : rest.substr(s2 + 1);
        auto found = s1 != std::string_view::npos && s2 > s1
                         ? backends_.Find(rest.substr(0, s1), rest.substr(s1 + 1, s2 - s1 - 1))
                         : std::nullopt;
        if (!found || (action != "drain" && action != "undrain")) {
          status = 404;
          body = OpenAiErrorBody(
              ErrorKind::kRouteNotFound,
              "use POST /admin/backends/{pool}/{backend}/drain or /undrain with a known pool and "
              "backend (host:port)");
        } else {
          health_.Drain(found->first, found->second, action == "drain");
          body =
              std::string(R"({"status":")") + (action == "drain" ? "drained" : "undrained") + "\"}";
        }
      } else if (req.method() != beast_http::verb::get) {
        status = 405;
        body = OpenAiErrorBody(ErrorKind::kMethodNotAllowed, "this admin endpoint takes GET");
      } else if (target == "/admin/backends") {
        body = health_.BackendsJson();
      } else if (target == "/metrics") {
        type = "text/plain; version=0.0.4";
        body = registry_.Render();
      } else if (target == "/health") {
        body = R"({"status":"ok"})";
      } else if (target == "/ready") {
        bool draining = draining_.load();
        status = draining ? 503 : 200;
        body = draining ? R"({"status":"draining"})" : R"({"status":"ready"})";
      } else {
        status = 404;
        body =
            OpenAiErrorBody(ErrorKind::kRouteNotFound,
                            "unknown admin path (try /metrics, /health, /ready, /admin/backends)");
      }
      std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                        (status == 200 ? "OK" : "Error") + "\r\nContent-Type: " + type +
                        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
                        (req.keep_alive() ? "" : "Connection: close\r\n") + "\r\n" + body;
      auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(out), kNoThrow);
      if (wec || !req.keep_alive()) co_return;
    }
  }

  observability::Registry& registry_;
  std::atomic<bool>& draining_;
  upstream::HealthController& health_;
  const upstream::BackendRegistry& backends_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace

struct Server::Impl {
  std::shared_ptr<const config::Config> config;
  ServerOptions options;
  int worker_count = 1;
  std::unique_ptr<observability::Registry> registry;
  isolation::StateRegistry isolation_state;  // bulkheads, thread pools, gates by name
  std::shared_ptr<const exchange::Snapshot> snapshot;
  std::unique_ptr<upstream::BackendRegistry> backends;
  std::unique_ptr<upstream::HealthController> health;
  std::vector<std::unique_ptr<exchange::ListenerRuntime>> listeners;  // before the workers
  std::unique_ptr<observability::AccessLog> access_log;               // outlives the workers
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<bool> draining{false};
  std::unique_ptr<Admin> admin;
  // Signals are caught from construction on, before any listener accepts: a SIGTERM that
  // arrives while the server starts still drains instead of killing the process.
  std::unique_ptr<TlsListeners> tls;  // the listeners' certificates, ticket keys, contexts
  Systemd systemd;
  asio::io_context main_io{1};
  asio::signal_set signals{main_io, SIGINT, SIGTERM, SIGHUP};
};

// Each listener's connection cap: max_connections, or by default a share of the descriptors the
// process may open (raised to the hard limit first), leaving room for upstream sockets.
std::vector<std::unique_ptr<exchange::ListenerRuntime>> SizeListeners(
    const config::Config& config, observability::Registry& registry, int workers) {
  std::vector<std::unique_ptr<exchange::ListenerRuntime>> out;
  const auto& listeners = config.listeners;
  const uint64_t fd_limit = exchange::RaiseFdLimit();
  // Per worker: epoll, eventfd, timerfd and one acceptor per listener; plus the admin
  // listener, health probes, logs and the process's own files.
  const uint64_t reserved =
      64 + static_cast<uint64_t>(workers) * (4 + listeners.size()) + config.pools.size() * 4;
  const uint64_t fallback = exchange::DefaultMaxConnections(fd_limit, reserved, listeners.size());
  uint64_t total = 0;
  for (const auto& lc : listeners) {
    const uint64_t max = lc.max_connections > 0 ? lc.max_connections : fallback;
    total += max;
    out.push_back(std::make_unique<exchange::ListenerRuntime>(max, registry, lc.name));
    IG_INFO("listener %s: max_connections %llu%s", lc.name.c_str(),
            static_cast<unsigned long long>(max),
            lc.max_connections > 0 ? "" : " (from the file-descriptor limit)");
  }
  if (2 * total + reserved > fd_limit) {
    IG_WARN(
        "max_connections of all listeners (%llu) with an upstream socket each exceeds the "
        "file-descriptor limit (%llu): accepts may fail with EMFILE; raise LimitNOFILE or lower "
        "max_connections",
        static_cast<unsigned long long>(total), static_cast<unsigned long long>(fd_limit));
  }
  return out;
}

Server::Server(std::shared_ptr<const config::Config> config, ServerOptions options)
    : impl_(new Impl) {
  impl_->config = std::move(config);
  impl_->options = options;
  impl_->signals.add(SIGUSR1);  // reopen the access log (logrotate)
  int n = options.workers > 0 ? options.workers : impl_->config->workers;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl_->worker_count = n;
  impl_->registry = std::make_unique<observability::Registry>(n + 1);
  impl_->snapshot = std::make_shared<exchange::Snapshot>(impl_->config, *impl_->registry,
                                                         &impl_->isolation_state);
  impl_->backends = std::make_unique<upstream::BackendRegistry>(*impl_->config, n + 1);
  impl_->health = std::make_unique<upstream::HealthController>(impl_->config, *impl_->backends,
                                                               *impl_->registry);
  impl_->listeners = SizeListeners(*impl_->config, *impl_->registry, n);
  impl_->tls = std::make_unique<TlsListeners>(*impl_->registry);
  if (const auto& al = impl_->config->access_log) {
    impl_->access_log = std::make_unique<observability::AccessLog>(
        observability::AccessLogOptions{al->path, al->format, al->buffer_lines}, *impl_->registry);
  }
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->ctx.io = &w->io;
    w->ctx.index = i + 1;
    w->ctx.access_log = impl_->access_log.get();

    for (auto& l : impl_->listeners) w->ctx.listeners.push_back(l.get());
    w->ctx.sheddable.resize(impl_->listeners.size());
    w->ctx.connector = h1::MakeUpstreamConnector(w->io.get_executor());
    exchange::InstallSnapshot(w->ctx, impl_->snapshot, w->io.get_executor(), impl_->backends.get(),
                              impl_->registry.get());
    impl_->workers.push_back(std::move(w));
  }
}

Server::~Server() = default;

bool Server::Bind(std::string* error) {
  // One instance per address: every listener is probed before any is bound (so two of this
  // config's listeners that overlap, like 0.0.0.0:8080 and 127.0.0.1:8080, are not mistaken for
  // another process).
  for (const auto& lc : impl_->config->listeners) {
    std::string why;
    const auto ep = Endpoint(lc.listen, &why);
    if (ep && AlreadyServed(*ep)) {
      *error = "listener " + lc.name + ": " + Describe(*ep) +
               " is already served by another process (another infergate?); stop it first: two "
               "gateways on one address would split its connections";
      return false;
    }
  }
  if (impl_->access_log && !impl_->access_log->Start(error)) return false;
  // Pools' TLS to their backends: a CA or client certificate that did not load stops the start.
  if (!impl_->backends->tls_error().empty()) {
    *error = impl_->backends->tls_error();
    return false;
  }
  const auto& listeners = impl_->config->listeners;
  for (size_t li = 0; li < listeners.size(); ++li) {
    const auto& lc = listeners[li];
    std::string why;
    // TLS: every certificate and key is read and checked before the port opens.
    if (!impl_->tls->Add(lc, error)) return false;
    for (auto& w : impl_->workers) w->tls.push_back(impl_->tls->current(li));
    auto ep = Endpoint(lc.listen, &why);
    if (!ep) {
      *error = "listener " + lc.name + ": " + why;
      return false;
    }
    for (auto& w : impl_->workers) {
      auto acc = std::make_unique<tcp::acceptor>(w->io);
      if (!OpenAcceptor(*acc, *ep, true, &why)) {
        *error = "listener " + lc.name + ": " + why;
        return false;
      }
      // With port 0 the first worker's socket picks the port; the others share it.
      if (ep->port() == 0) ep->port(acc->local_endpoint().port());
      w->acceptors.push_back(std::move(acc));
    }
    IG_INFO("listener %s on %s (%d workers)", lc.name.c_str(), Describe(*ep).c_str(),
            impl_->worker_count);
  }
  if (impl_->config->admin) {
    impl_->admin = std::make_unique<Admin>(*impl_->registry, impl_->draining, *impl_->health,
                                           *impl_->backends);
    std::string why;
    if (!impl_->admin->Bind(impl_->config->admin->listen, &why)) {
      *error = "admin: " + why;
      return false;
    }
  }
  return true;
}

void Server::ReloadCertificates() {
  for (TlsListeners::Reloaded& r : impl_->tls->Reload()) {
    for (auto& w : impl_->workers) {
      asio::post(w->io, [w = w.get(), r] { w->tls[r.listener] = r.tls; });
    }
  }
}

int Server::Run() {
  for (auto& wp : impl_->workers) {
    Worker* w = wp.get();
    for (size_t li = 0; li < w->acceptors.size(); ++li) {
      asio::co_spawn(w->io, AcceptLoop(w, w->acceptors[li].get(), li), asio::detached);
    }
    w->thread = std::thread([w] {
      char name[16];
      std::snprintf(name, sizeof(name), "worker-%d", w->ctx.index);
      SetThreadLogName(name);
      observability::SetThreadShard(w->ctx.index);
      auto guard = asio::make_work_guard(w->io);
      w->io.run();
    });
  }
  impl_->health->Start();
  if (impl_->admin) impl_->admin->Start();
  Systemd& systemd = impl_->systemd;
  const std::string serving = "serving " + std::to_string(impl_->config->listeners.size()) +
                              " listener(s) with " + std::to_string(impl_->worker_count) +
                              " worker(s)";
  systemd.Ready(serving);

  asio::io_context& main_io = impl_->main_io;
  // The watchdog: each worker's heartbeat ticks at a quarter of the ping period; a ping goes out
  // every half of WATCHDOG_USEC only when every heartbeat moved.
  std::vector<const std::atomic<uint64_t>*> beats;
  for (auto& w : impl_->workers) beats.push_back(&w->beats);
  asio::steady_timer watchdog_timer(main_io);
  std::function<void(const error_code&)> on_watchdog;
  if (const auto wd = systemd.watchdog()) {
    const auto ping = *wd / 2;
    for (auto& w : impl_->workers)
      asio::co_spawn(w->io, Heartbeat(w.get(), ping / 4), asio::detached);
    systemd.Check(beats);
    on_watchdog = [&, ping](const error_code& ec) {
      if (ec) return;
      systemd.Check(beats);
      watchdog_timer.expires_after(ping);
      watchdog_timer.async_wait(on_watchdog);
    };
    watchdog_timer.expires_after(ping);
    watchdog_timer.async_wait(on_watchdog);
  }
  asio::signal_set& signals = impl_->signals;
  bool stop = false;
  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGUSR1) {
      IG_INFO("SIGUSR1: reopening the access log%s", impl_->access_log ? "" : " (none configured)");
      if (impl_->access_log) impl_->access_log->Reopen();
      signals.async_wait(on_signal);
      return;
    }
    if (sig == SIGHUP) {
      IG_INFO("SIGHUP: reloading the listeners' certificates");
      systemd.Reloading();
      ReloadCertificates();
      systemd.Ready(serving);
      IG_WARN("SIGHUP: other configuration changes are not reloaded yet; restart to apply them");
      signals.async_wait(on_signal);
      return;
    }
    IG_INFO("signal %d: draining (up to %lld ms)", sig,
            static_cast<long long>(impl_->options.drain_timeout.count()));
    systemd.Stopping("draining");
    stop = true;
  };
  signals.async_wait(on_signal);
  while (!stop) main_io.run_one();

  // Drain: stop accepting, let in-flight exchanges finish, then stop.
  impl_->draining = true;
  for (auto& w : impl_->workers) {
    asio::post(w->io, [w = w.get()] {
      w->ctx.draining = true;
      const std::vector<exchange::Drainable*> open(w->ctx.drainables.begin(),
                                                   w->ctx.drainables.end());
      for (exchange::Drainable* d : open) d->BeginDrain();
      for (auto& acc : w->acceptors) {
        error_code ignored;
        acc->close(ignored);
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + impl_->options.drain_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    uint64_t active = 0;
    for (auto& w : impl_->workers) active += w->ctx.active_requests.load();
    if (active == 0) break;
    main_io.poll();  // the watchdog keeps pinging while the workers drain
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  watchdog_timer.cancel();
  uint64_t left = 0;
  for (auto& w : impl_->workers) left += w->ctx.active_requests.load();
  if (left > 0)
    IG_WARN("drain timeout: %llu requests still in flight are cut",
            static_cast<unsigned long long>(left));
  for (auto& w : impl_->workers) w->io.stop();
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  if (impl_->access_log) impl_->access_log->Stop();  // what the workers logged is written
  // Runner jobs post to the workers' io_contexts: finish them while those still exist.
  impl_->snapshot->isolation->StopThreadPools();
  if (impl_->admin) impl_->admin->Stop();
  impl_->health->Stop();
  IG_INFO("stopped");
  return 0;
}

}  // namespace infergate::server
