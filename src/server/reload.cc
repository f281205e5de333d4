// Hot reload: read and check the whole config (with every file it names) off the event loops,
// then publish it to the workers with the state kept by identity. Until the publish step nothing
// in use is touched, so a rejected reload changes nothing.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <unordered_set>

#include "infergate/core/log.h"
#include "server/server_impl.h"

namespace infergate::server {
namespace {

using boost::system::error_code;

// What one worker does to take a new generation, posted to its event loop.
struct WorkerUpdate {
  std::shared_ptr<const exchange::Snapshot> snapshot;
  std::vector<exchange::ListenerRuntime*> added_runtimes;  // for the new slots, in slot order
  std::vector<std::unique_ptr<tcp::acceptor>> added;       // this worker's sockets for them
  std::vector<size_t> removed;                             // slots to close
  std::vector<std::shared_ptr<const ListenerTls>> tls;     // by slot; empty: unchanged
};

void Apply(Worker* w, WorkerUpdate& u, upstream::BackendRegistry* backends,
           observability::Registry* metrics) {
  exchange::WorkerContext& ctx = w->ctx;
  const size_t first_new = ctx.listeners.size();
  for (exchange::ListenerRuntime* lr : u.added_runtimes) {
    ctx.listeners.push_back(lr);
    ctx.sheddable.emplace_back();
  }
  for (auto& acc : u.added) w->acceptors.push_back(std::move(acc));
  if (!u.tls.empty()) w->tls = std::move(u.tls);
  exchange::InstallSnapshot(ctx, u.snapshot, w->io.get_executor(), backends, metrics);
  for (size_t slot = first_new; slot < w->acceptors.size(); ++slot) {
    asio::co_spawn(w->io, AcceptLoop(w, w->acceptors[slot].get(), slot), asio::detached);
  }
  for (size_t slot : u.removed) {
    error_code ignored;
    if (w->acceptors[slot]) w->acceptors[slot]->close(ignored);
    for (auto& [s, acc] : w->extra_acceptors) {
      if (s == slot) acc->close(ignored);
    }
    ctx.sheddable[slot].ShedIdle();
    std::vector<exchange::Drainable*> open;
    for (exchange::Drainable* d : ctx.drainables) {
      if (d->listener_slot() == slot) open.push_back(d);
    }
    for (exchange::Drainable* d : open) d->BeginDrain();
  }
}

bool SameAddress(const config::HostPort& a, const config::HostPort& b) {
  return a.host == b.host && a.port == b.port;
}

}  // namespace

void Server::Impl::InitReloadMetrics() {
  constexpr const char* kReloads =
      "Configuration reloads (SIGHUP, POST /admin/reload) by result: rejected ones changed nothing";
  reloads_ok = registry->GetCounter("infergate_config_reloads_total", kReloads, "result=\"ok\"");
  reloads_rejected =
      registry->GetCounter("infergate_config_reloads_total", kReloads, "result=\"rejected\"");
  generation_gauge = registry->GetGauge(
      "infergate_config_generation",
      "The configuration generation serving new requests: 1 at start, +1 per accepted reload.");
  generation_gauge->Add(1);
  last_reload_ok = registry->GetGauge("infergate_config_last_reload_successful",
                                      "1 when the last reload was accepted (or none was tried).");
  last_reload_ok->Add(1);
  last_reload_time = registry->GetGauge(
      "infergate_config_last_reload_success_timestamp_seconds",
      "When the configuration serving now was loaded (start or accepted reload), in Unix seconds.");
  last_reload_time->Add(std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

std::string Server::Impl::StatusLine() const {
  size_t up = 0, total = 0;
  for (size_t p = 0; p < backends->pools(); ++p) {
    for (size_t b = 0; b < backends->backends(p); ++b) {
      ++total;
      up += backends->state(p, b).routable();
    }
  }
  return "generation " + std::to_string(generation) + ", " +
         std::to_string(config->listeners.size()) + " listener(s), " +
         std::to_string(worker_count) + " worker(s), backends " + std::to_string(up) + "/" +
         std::to_string(total) + " available";
}

void Server::Impl::Publish(std::shared_ptr<const exchange::Snapshot> next,
                           std::shared_ptr<upstream::BackendRegistry> registry_next,
                           ListenerChanges* changes) {
  // Returns once every worker has taken it (so a reload's answer, and the log line after it,
  // mean new requests get the new config); a worker that does not within 5s is logged.
  struct Done {
    std::mutex mu;
    std::condition_variable cv;
    size_t left;
  };
  auto done = std::make_shared<Done>();
  done->left = workers.size();
  for (size_t w = 0; w < workers.size(); ++w) {
    auto u = std::make_shared<WorkerUpdate>();
    u->snapshot = next;
    if (changes) {
      u->added_runtimes = changes->added_runtimes;
      u->added = std::move(changes->added[w]);
      u->removed = changes->removed;
      u->tls = changes->tls;
    }
    Worker* worker = workers[w].get();
    upstream::BackendRegistry* b = registry_next.get();
    observability::Registry* m = registry.get();
    boost::asio::post(worker->io, [worker, u, b, m, done] {
      Apply(worker, *u, b, m);
      std::lock_guard lock(done->mu);
      if (--done->left == 0) done->cv.notify_all();
    });
  }
  std::unique_lock lock(done->mu);
  if (!done->cv.wait_for(lock, std::chrono::seconds(5), [&] { return done->left == 0; })) {
    IG_WARN(
        "%zu worker(s) did not take the new configuration within 5s (a wedged event loop?); "
        "they will when they run again",
        done->left);
  }
  backends = std::move(registry_next);
  snapshot = std::move(next);
}

ReloadOutcome Server::Impl::Reload() {
  systemd.Reloading();
  ReloadOutcome out;
  out.generation = generation;
  auto reject = [&]() -> ReloadOutcome {
    reloads_rejected->Inc();
    last_reload_ok->Add(-last_reload_ok->Value());
    for (const std::string& e : out.errors) IG_ERROR("reload rejected: %s", e.c_str());
    IG_ERROR("reload of %s rejected (%zu error%s): generation %llu keeps serving, unchanged",
             options.config_path.c_str(), out.errors.size(), out.errors.size() == 1 ? "" : "s",
             static_cast<unsigned long long>(generation));
    systemd.Ready(StatusLine() + "; last reload rejected");
    return out;
  };
  if (draining) {
    out.errors.push_back("the gateway is shutting down");
    return reject();
  }

  // ---- read and check everything; nothing in use changes here.
  config::LoadResult loaded = config::LoadConfigFile(options.config_path);
  if (!loaded) {
    for (const auto& e : loaded.error()) out.errors.push_back(e.ToString());
    return reject();
  }
  std::shared_ptr<const config::Config> next = *loaded;
  out.warnings = next->warnings;
  // Settings a running process cannot change: kept, and said so.
  if (options.workers <= 0 && next->workers != config->workers) {
    out.warnings.push_back("workers: changing it needs a restart (still " +
                           std::to_string(worker_count) + " workers)");
  }
  const bool admin_moved =
      next->admin.has_value() != config->admin.has_value() ||
      (next->admin && !SameAddress(next->admin->listen, config->admin->listen));
  if (admin_moved) {
    out.warnings.push_back(
        "admin.listen: moving, adding or removing the admin listener needs a restart (it stays "
        "as it is)");
  }
  const auto& al_now = config->access_log;
  const auto& al_next = next->access_log;
  if (al_now.has_value() != al_next.has_value() ||
      (al_now && (al_now->path != al_next->path || al_now->format != al_next->format ||
                  al_now->buffer_lines != al_next->buffer_lines))) {
    out.warnings.push_back("access_log: changing it needs a restart (it stays as it is)");
  }
  if (!(next->shared_state == config->shared_state)) {
    out.warnings.push_back(
        "shared_state: changing it needs a restart (Redis, local_share and verdicts stay as they "
        "are)");
  }
  auto next_backends =
      std::make_shared<upstream::BackendRegistry>(*next, worker_count + 1, backends.get());
  if (!next_backends->tls_error().empty()) out.errors.push_back(next_backends->tls_error());
  TlsListeners::Prepared next_tls;
  std::string tls_error;
  if (!tls->Prepare(next->listeners, &next_tls, &tls_error)) out.errors.push_back(tls_error);

  // Listeners: a listener that keeps its name and listen address keeps its slot (and sockets);
  // others get new slots, bound now on every worker, before anything is published.
  std::vector<size_t> slot_of(next->listeners.size());
  std::vector<std::vector<std::unique_ptr<tcp::acceptor>>> added(workers.size());
  std::vector<ListenerSlot> added_slots;
  std::unordered_set<size_t> kept;
  for (size_t i = 0; i < next->listeners.size() && out.errors.empty(); ++i) {
    const config::ListenerConfig& lc = next->listeners[i];
    bool found = false;
    for (size_t s = 0; s < slots.size(); ++s) {
      if (slots[s].open && slots[s].name == lc.name && SameAddress(slots[s].listen, lc.listen)) {
        slot_of[i] = s;
        kept.insert(s);
        found = true;
        break;
      }
    }
    if (found) continue;
    std::string why;
    std::optional<tcp::endpoint> ep = Endpoint(lc.listen, &why);
    bool ours = false;  // an address this process serves (a listener renamed or moved onto it)
    for (const ListenerSlot& s : slots) ours |= s.open && ep && s.bound == *ep;
    if (ep && !ours && AlreadyServed(*ep)) {
      why = Describe(*ep) + " is already served by another process";
      ep.reset();
    }
    for (size_t w = 0; ep && w < workers.size(); ++w) {
      auto acc = std::make_unique<tcp::acceptor>(workers[w]->io);
      if (!OpenAcceptor(*acc, *ep, true, &why)) {
        ep.reset();
        break;
      }
      if (ep->port() == 0) ep->port(acc->local_endpoint().port());
      added[w].push_back(std::move(acc));
    }
    if (!ep) {
      out.errors.push_back("listener " + lc.name + ": " + why);
      break;
    }
    slot_of[i] = slots.size() + added_slots.size();
    added_slots.push_back({lc.name, lc.listen, *ep, true});
  }
  if (!out.errors.empty()) return reject();  // the sockets opened above close with `added`

  // ---- publish: from here on nothing fails.
  auto snapshot_next = std::make_shared<exchange::Snapshot>(next, *registry, &isolation_state);
  snapshot_next->backends = next_backends;
  snapshot_next->models = health->models();
  snapshot_next->generation = generation + 1;
  const size_t slot_count = slots.size() + added_slots.size();
  snapshot_next->listener_slots.assign(slot_count, nullptr);
  for (size_t i = 0; i < next->listeners.size(); ++i)
    snapshot_next->listener_slots[slot_of[i]] = &next->listeners[i];

  tls->Commit(std::move(next_tls));
  health->Reconcile(next, next_backends);
  const std::vector<uint64_t> caps = ListenerCaps(*next, worker_count, false);
  std::vector<size_t> removed;
  for (size_t s = 0; s < slots.size(); ++s) {
    if (!slots[s].open || kept.count(s)) continue;
    slots[s].open = false;
    listeners[s]->closed = true;
    removed.push_back(s);
    IG_INFO("listener %s on %s removed: its connections finish their requests and close",
            slots[s].name.c_str(), Describe(slots[s].bound).c_str());
  }
  std::vector<exchange::ListenerRuntime*> added_runtimes;
  for (size_t i = 0; i < next->listeners.size(); ++i) {
    const size_t s = slot_of[i];
    if (s < slots.size()) {
      listeners[s]->slots.set_max(caps[i]);
      continue;
    }
    listeners.push_back(
        std::make_unique<exchange::ListenerRuntime>(caps[i], *registry, next->listeners[i].name));
    added_runtimes.push_back(listeners.back().get());
  }
  for (size_t w = 0; w < added.size(); ++w) {
    for (size_t k = 0; k < added[w].size(); ++k) {
      const size_t slot = slots.size() + k;
      if (slot_fds.size() <= slot) slot_fds.resize(slot + 1);
      slot_fds[slot].push_back(added[w][k]->native_handle());
    }
  }
  for (size_t s : removed) {
    if (s < slot_fds.size()) slot_fds[s].clear();
  }
  for (ListenerSlot& s : added_slots) {
    IG_INFO("listener %s on %s added (%d workers)", s.name.c_str(), Describe(s.bound).c_str(),
            worker_count);
    slots.push_back(std::move(s));
  }
  ListenerChanges changes;
  changes.added_runtimes = std::move(added_runtimes);
  changes.added = std::move(added);
  changes.removed = std::move(removed);
  changes.tls.resize(slot_count);
  for (size_t i = 0; i < next->listeners.size(); ++i) changes.tls[slot_of[i]] = tls->current(i);
  Publish(snapshot_next, next_backends, &changes);
  if (admin && next->admin && !admin_moved) {
    admin->SetToken(next->admin->token_sha256);
    admin_bound = next->admin;
  }
  config = next;
  ++generation;
  out.ok = true;
  out.generation = generation;
  reloads_ok->Inc();
  generation_gauge->Add(1);
  last_reload_ok->Add(1 - last_reload_ok->Value());
  last_reload_time->Add(std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() -
                        last_reload_time->Value());
  for (const std::string& w : out.warnings) IG_WARN("reload: %s", w.c_str());
  IG_INFO("reloaded %s: generation %llu (%zu listener(s), %zu pool(s), %zu route(s))",
          options.config_path.c_str(), static_cast<unsigned long long>(generation),
          config->listeners.size(), config->pools.size(), config->routes.size());
  ScheduleDns();  // the new pools' dns_refresh
  systemd.Ready(StatusLine());
  return out;
}

}  // namespace infergate::server
