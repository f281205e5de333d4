// The server's state, shared by server.cc (start, run, drain) and reload.cc (hot reload).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "infergate/exchange/context.h"
#include "infergate/isolation/runtime.h"
#include "infergate/observability/access_log.h"
#include "infergate/observability/metrics.h"
#include "infergate/server/server.h"
#include "infergate/upstream/health_controller.h"
#include "server/accept.h"
#include "server/admin.h"
#include "server/handover.h"
#include "server/systemd.h"
#include "server/tls_listeners.h"

namespace infergate::server {

// A listener's place in the process: workers index their sockets, connection caps and
// sheddable lists by slot. A reload keeps the slot of a listener that keeps its name and listen
// address, appends slots for new ones, and closes (never reuses) the slots of removed ones.
struct ListenerSlot {
  std::string name;
  config::HostPort listen;  // as configured (port 0: the port the first bind chose)
  tcp::endpoint bound;
  bool open = true;
};

struct Server::Impl {
  std::shared_ptr<const config::Config> config;
  ServerOptions options;
  int worker_count = 1;
  std::string startup_error;  // Bind refuses to start with it (shared_state's password)
  std::unique_ptr<observability::Registry> registry;
  isolation::StateRegistry isolation_state;  // bulkheads, thread pools, gates by name
  std::shared_ptr<const exchange::Snapshot> snapshot;
  std::shared_ptr<upstream::BackendRegistry> backends;
  std::unique_ptr<upstream::HealthController> health;
  std::vector<ListenerSlot> slots;
  std::vector<std::unique_ptr<exchange::ListenerRuntime>> listeners;  // by slot; before workers
  std::unique_ptr<observability::AccessLog> access_log;               // outlives the workers
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<bool> draining{false};
  std::unique_ptr<Admin> admin;
  std::unique_ptr<TlsListeners> tls;  // the listeners' certificates, ticket keys, contexts
  Systemd systemd;
  uint64_t generation = 1;
  observability::Counter* reloads_ok = nullptr;
  observability::Counter* reloads_rejected = nullptr;
  observability::Gauge* generation_gauge = nullptr;
  observability::Gauge* last_reload_ok = nullptr;    // 1 when the last reload was accepted
  observability::Gauge* last_reload_time = nullptr;  // Unix seconds of the last accepted one
  // Signals are caught from construction on, before any listener accepts: a SIGTERM that
  // arrives while the server starts still drains instead of killing the process.
  boost::asio::io_context main_io{1};
  boost::asio::signal_set signals{main_io, SIGINT, SIGTERM, SIGHUP};

  // reload.cc
  ReloadOutcome Reload();
  std::string StatusLine() const;  // systemd STATUS=
  void InitReloadMetrics();
  // What a reload changes in the listeners, for Publish.
  struct ListenerChanges {
    std::vector<exchange::ListenerRuntime*> added_runtimes;  // for the new slots, in slot order
    std::vector<std::vector<std::unique_ptr<tcp::acceptor>>> added;  // [worker]: their sockets
    std::vector<size_t> removed;                                     // slots to close
    std::vector<std::shared_ptr<const ListenerTls>> tls;             // by slot, after the change
  };
  // Makes `snapshot` (with its registry) the one new exchanges take on every worker, with the
  // listener changes (null: none), and the server's current ones.
  void Publish(std::shared_ptr<const exchange::Snapshot> snapshot,
               std::shared_ptr<upstream::BackendRegistry> registry, ListenerChanges* listeners);
  std::optional<config::AdminConfig> admin_bound;  // the admin listener's settings in force

  // Hand-over: the listening sockets by slot (their descriptors, owned by the workers'
  // acceptors), what this process took over, and its own hand-over server.
  std::vector<std::vector<int>> slot_fds;
  std::unique_ptr<TakeOver> taking_over;
  std::unique_ptr<HandoverServer> handover;
  bool stop = false;         // leave the main loop and drain
  bool handed_over = false;  // a new process took over: drain quietly
  pid_t successor = -1;      // the process SIGUSR2 started last

  // dns_refresh.cc: host-named backends resolved again every pool's dns_refresh, on main_io.
  void ScheduleDns();
  void RefreshDns();
  void ApplyDns(
      const std::map<std::pair<std::string, std::string>,
                     std::pair<boost::system::error_code, std::vector<tcp::endpoint>>>& answers);
  boost::asio::steady_timer dns_timer{main_io};
  std::map<std::string, std::chrono::steady_clock::time_point> dns_due;  // by pool name
  std::set<std::pair<std::string, std::string>> dns_failing;  // warned once until it answers
  bool dns_in_flight = false;
};

// Each listener's connection cap: max_connections, or by default a share of the descriptors the
// process may open, leaving room for upstream sockets. Raises the soft descriptor limit.
// `log`: say each cap (at start; a reload says nothing unless a cap is over the limit).
std::vector<uint64_t> ListenerCaps(const config::Config& config, int workers, bool log = true);

}  // namespace infergate::server
