// Workers, listeners, signals and drain.
#include "infergate/server/server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "infergate/core/log.h"
#include "infergate/http/h1/transport.h"
#include "infergate/observability/access_log.h"
#include "infergate/observability/metrics.h"
#include "infergate/upstream/pool.h"
#include "server/server_impl.h"
#include "server/shared_rates.h"

namespace infergate::server {

using boost::system::error_code;

std::vector<uint64_t> ListenerCaps(const config::Config& config, int workers, bool log) {
  std::vector<uint64_t> out;
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
    out.push_back(max);
    if (log)
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
  impl_->signals.add(SIGUSR2);  // hand over to a new process (binary upgrade)
  int n = options.workers > 0 ? options.workers : impl_->config->workers;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl_->worker_count = n;
  impl_->registry = std::make_unique<observability::Registry>(n + 1);
  impl_->backends = std::make_shared<upstream::BackendRegistry>(*impl_->config, n + 1);
  impl_->health = std::make_unique<upstream::HealthController>(impl_->config, impl_->backends,
                                                               *impl_->registry);
  impl_->startup_error =
      UseSharedState(*impl_->config, *impl_->registry, impl_->isolation_state, *impl_->health);
  auto snapshot = std::make_shared<exchange::Snapshot>(impl_->config, *impl_->registry,
                                                       &impl_->isolation_state);
  snapshot->backends = impl_->backends;
  impl_->snapshot = snapshot;
  snapshot->models = impl_->health->models();
  for (const std::string& w : impl_->config->warnings) IG_WARN("%s", w.c_str());
  const std::vector<uint64_t> caps = ListenerCaps(*impl_->config, n);
  for (size_t i = 0; i < caps.size(); ++i) {
    impl_->listeners.push_back(std::make_unique<exchange::ListenerRuntime>(
        caps[i], *impl_->registry, impl_->config->listeners[i].name));
  }
  impl_->tls = std::make_unique<TlsListeners>(*impl_->registry);
  impl_->InitReloadMetrics();
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
  if (!impl_->startup_error.empty()) {
    *error = impl_->startup_error;
    return false;
  }
  // One instance per address: every listener is probed before any is bound (so two of this
  // config's listeners that overlap, like 0.0.0.0:8080 and 127.0.0.1:8080, are not mistaken for
  // another process).
  // A hand-over: the running process's listening sockets, served next to it until it drains.
  std::vector<InheritedSocket> inherited;
  if (!impl_->options.take_over.empty()) {
    impl_->taking_over = std::make_unique<TakeOver>();
    if (!impl_->taking_over->Receive(impl_->options.take_over, error)) return false;
  }
  // The sockets for a listener on `ep`; a listener on port 0 takes the first address group on
  // its IP that no listener took yet (the sockets come in the old process's listener order).
  auto taken = [&](const tcp::endpoint& ep) {
    std::vector<int> fds;
    if (!impl_->taking_over) return fds;
    tcp::endpoint want = ep;
    if (want.port() == 0) {
      for (const InheritedSocket& s : impl_->taking_over->sockets()) {
        if (s.fd >= 0 && s.bound.address() == ep.address()) {
          want = s.bound;
          break;
        }
      }
    }
    for (InheritedSocket& s : impl_->taking_over->sockets()) {
      if (s.fd >= 0 && s.bound == want) {
        fds.push_back(s.fd);
        s.fd = -1;  // owned by an acceptor from here on
      }
    }
    return fds;
  };
  for (const auto& lc : impl_->config->listeners) {
    std::string why;
    const auto ep = Endpoint(lc.listen, &why);
    bool inheriting = false;
    if (impl_->taking_over) {
      for (const InheritedSocket& s : impl_->taking_over->sockets())
        inheriting |= ep && s.bound == *ep;
    }
    if (ep && !inheriting && AlreadyServed(*ep)) {
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
  // TLS: every certificate and key is read and checked before any port opens.
  TlsListeners::Prepared tls;
  if (!impl_->tls->Prepare(listeners, &tls, error)) return false;
  impl_->tls->Commit(std::move(tls));
  for (size_t li = 0; li < listeners.size(); ++li) {
    const auto& lc = listeners[li];
    std::string why;
    for (auto& w : impl_->workers) w->tls.push_back(impl_->tls->current(li));
    auto ep = Endpoint(lc.listen, &why);
    if (!ep) {
      *error = "listener " + lc.name + ": " + why;
      return false;
    }
    // Sockets taken over go to the workers in turn (a worker may get several); workers left
    // without one open their own in the same SO_REUSEPORT group.
    const std::vector<int> fds = taken(*ep);
    impl_->slot_fds.emplace_back();
    const size_t n = impl_->workers.size();
    for (size_t k = 0; k < std::max(n, fds.size()); ++k) {
      Worker& w = *impl_->workers[k % n];
      auto acc = std::make_unique<tcp::acceptor>(w.io);
      if (k < fds.size()) {
        error_code ec;
        acc->assign(ep->protocol(), fds[k], ec);
        if (ec) {
          ::close(fds[k]);
          *error = "listener " + lc.name + ": a socket taken over: " + ec.message();
          return false;
        }
      } else if (!OpenAcceptor(*acc, *ep, true, &why)) {
        *error = "listener " + lc.name + ": " + why;
        return false;
      }
      // With port 0 the first worker's socket picks the port; the others share it.
      if (ep->port() == 0) ep->port(acc->local_endpoint().port());
      impl_->slot_fds.back().push_back(acc->native_handle());
      if (k < n) {
        w.acceptors.push_back(std::move(acc));
      } else {
        w.extra_acceptors.emplace_back(li, std::move(acc));
      }
    }
    if (!fds.empty())
      IG_INFO("listener %s: %zu listening socket(s) taken over", lc.name.c_str(), fds.size());
    IG_INFO("listener %s on %s (%d workers)", lc.name.c_str(), Describe(*ep).c_str(),
            impl_->worker_count);
    impl_->slots.push_back({lc.name, lc.listen, *ep, true});
  }
  if (impl_->config->admin) {
    // A reload asked for on the admin thread runs on the main thread; the admin thread waits
    // (giving up when the server stops meanwhile).
    Impl* impl = impl_.get();
    auto reload = [impl]() -> ReloadOutcome {
      auto done = std::make_shared<std::promise<ReloadOutcome>>();
      std::future<ReloadOutcome> result = done->get_future();
      boost::asio::post(impl->main_io, [impl, done] { done->set_value(impl->Reload()); });
      while (result.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
        if (impl->draining) {
          ReloadOutcome out;
          out.generation = impl->generation;
          out.errors.push_back("the gateway is shutting down");
          return out;
        }
      }
      return result.get();
    };
    impl_->admin = std::make_unique<Admin>(*impl_->registry, impl_->draining, *impl_->health,
                                           std::move(reload));
    impl_->admin->SetToken(impl_->config->admin->token_sha256);
    impl_->admin_bound = impl_->config->admin;
    std::string why;
    const auto admin_ep = Endpoint(impl_->config->admin->listen, &why);
    const std::vector<int> admin_fds = admin_ep ? taken(*admin_ep) : std::vector<int>{};
    for (size_t k = 1; k < admin_fds.size(); ++k) ::close(admin_fds[k]);
    if (!impl_->admin->Bind(impl_->config->admin->listen, &why,
                            admin_fds.empty() ? -1 : admin_fds[0])) {
      *error = "admin: " + why;
      return false;
    }
  }
  return true;
}

ReloadOutcome Server::Reload() { return impl_->Reload(); }

int Server::Run() {
  for (auto& wp : impl_->workers) {
    Worker* w = wp.get();
    for (size_t li = 0; li < w->acceptors.size(); ++li) {
      asio::co_spawn(w->io, AcceptLoop(w, w->acceptors[li].get(), li), asio::detached);
    }
    for (auto& [slot, acc] : w->extra_acceptors) {
      asio::co_spawn(w->io, AcceptLoop(w, acc.get(), slot), asio::detached);
    }
    w->thread = std::thread([w] {
      char name[16];
      std::snprintf(name, sizeof(name), "worker-%d", w->ctx.index);
      SetThreadLogName(name);
      observability::SetThreadShard(w->ctx.index);
      auto guard = asio::make_work_guard(w->io);
      w->io.run();
    });
    // Named before READY=1 (the thread names itself too, but maybe later).
    char comm[16];
    std::snprintf(comm, sizeof(comm), "worker-%d", w->ctx.index);
    pthread_setname_np(w->thread.native_handle(), comm);
  }
  impl_->health->Start();
  if (impl_->admin) impl_->admin->Start();
  Systemd& systemd = impl_->systemd;
  if (impl_->taking_over) {
    systemd.ReadyAsMain(impl_->StatusLine());  // systemd's main process from now on
  } else {
    systemd.Ready(impl_->StatusLine());
  }
  impl_->ScheduleDns();
  if (impl_->taking_over) {
    IG_INFO("hand-over: ready; telling the previous process to drain");
    impl_->taking_over->Drain();
    impl_->taking_over.reset();  // sockets not taken (listeners this config dropped) close
  }
  if (!impl_->options.handover_socket.empty()) {
    Impl* impl = impl_.get();
    impl_->handover = std::make_unique<HandoverServer>(
        impl_->main_io,
        [impl] {
          std::vector<int> fds;
          for (size_t s = 0; s < impl->slot_fds.size(); ++s) {
            if (s < impl->slots.size() && impl->slots[s].open)
              fds.insert(fds.end(), impl->slot_fds[s].begin(), impl->slot_fds[s].end());
          }
          if (impl->admin) fds.push_back(impl->admin->native_handle());  // last
          return fds;
        },
        [impl] {
          // The new process is systemd's main process now: this one drains without a word to
          // systemd (no STOPPING=1, no more watchdog pings) and exits.
          impl->handed_over = true;
          impl->stop = true;
          if (impl->admin) impl->admin->StopAccepting();  // /ready and /metrics: the new one
        });
    std::string why;
    if (!impl_->handover->Listen(impl_->options.handover_socket, &why)) IG_WARN("%s", why.c_str());
  }

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
      if (ec || impl_->handed_over) return;
      systemd.Check(beats);
      watchdog_timer.expires_after(ping);
      watchdog_timer.async_wait(on_watchdog);
    };
    watchdog_timer.expires_after(ping);
    watchdog_timer.async_wait(on_watchdog);
  }
  asio::signal_set& signals = impl_->signals;
  bool& stop = impl_->stop;
  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGUSR1) {
      IG_INFO("SIGUSR1: reopening the access log%s", impl_->access_log ? "" : " (none configured)");
      if (impl_->access_log) impl_->access_log->Reopen();
      signals.async_wait(on_signal);
      return;
    }
    if (sig == SIGUSR2) {
      // Start the binary again (an upgraded file is the one started) to take this one over.
      signals.async_wait(on_signal);
      if (impl_->stop || impl_->draining) {
        IG_WARN("SIGUSR2: draining already; ignored");
        return;
      }
      if (impl_->options.handover_socket.empty() || !impl_->handover) {
        IG_WARN("SIGUSR2: no --handover-socket, so no hand-over to a new process");
        return;
      }
      // One successor at a time: a second would take the sockets over too, and nobody would
      // drain the first.
      if (impl_->successor > 0 && ::waitpid(impl_->successor, nullptr, WNOHANG) == 0) {
        IG_WARN("SIGUSR2: the new process started before (pid %d) is still starting; ignored",
                static_cast<int>(impl_->successor));
        return;
      }
      std::string why;
      const pid_t pid = SpawnSuccessor(impl_->options.binary, impl_->options.argv,
                                       impl_->options.handover_socket, &why);
      impl_->successor = pid;
      if (pid < 0) {
        IG_ERROR("SIGUSR2: %s; still serving", why.c_str());
      } else {
        IG_INFO("hand-over: started a new process (pid %d, %s); serving until it is ready",
                static_cast<int>(pid), impl_->options.binary.c_str());
      }
      return;
    }
    if (sig == SIGHUP) {
      IG_INFO("SIGHUP: reloading %s", impl_->options.config_path.c_str());
      impl_->Reload();  // logs and counts its outcome
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
  impl_->dns_timer.cancel();
  impl_->handover.reset();  // no hand-over while draining
  for (auto& w : impl_->workers) {
    asio::post(w->io, [w = w.get()] {
      w->ctx.draining = true;
      const std::vector<exchange::Drainable*> open(w->ctx.drainables.begin(),
                                                   w->ctx.drainables.end());
      for (exchange::Drainable* d : open) d->BeginDrain();
      for (auto& acc : w->acceptors) {
        error_code ignored;
        if (acc) acc->close(ignored);
      }
      for (auto& [slot, acc] : w->extra_acceptors) {
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
