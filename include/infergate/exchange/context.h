// What a worker's connections share: the config snapshot they started with (config + compiled
// routes + pre-resolved metric handles), the worker's upstream pools, and the worker's flags.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <ctime>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/core/error.h"
#include "infergate/exchange/connection_limits.h"
#include "infergate/exchange/genai_metrics.h"
#include "infergate/exchange/timers.h"
#include "infergate/exchange/upstream_stream.h"
#include "infergate/isolation/latch.h"
#include "infergate/isolation/runtime.h"
#include "infergate/observability/metrics.h"
#include "infergate/routing/route_table.h"
#include "infergate/upstream/model_catalog.h"
#include "infergate/upstream/pool.h"

namespace infergate::observability {
class AccessLog;
}

namespace infergate::exchange {

inline constexpr size_t kErrorKindCount = static_cast<size_t>(ErrorKind::kInternal) + 1;

struct RouteMetrics {
  // [protocol][0] no status sent (aborted), [protocol][1..5] 1xx..5xx
  observability::Counter* responses[http::kProtocolCount][6] = {};
  observability::Counter* retries = nullptr;
  observability::Histogram* duration = nullptr;    // whole exchange
  observability::Histogram* first_byte = nullptr;  // until the backend's response head
};

struct BackendMetrics {
  observability::Counter* attempts = nullptr;
  observability::Counter* failures = nullptr;  // backend faults only
  observability::Gauge* in_flight = nullptr;
};

// Series handles resolved once per config snapshot, so recording never looks anything up.
struct ProxyMetrics {
  std::vector<RouteMetrics> routes;
  RouteMetrics unrouted;
  std::vector<std::vector<BackendMetrics>> backends;  // [pool][backend]
  observability::Counter* errors[kErrorKindCount] = {};
  observability::Gauge* open_connections = nullptr;
  observability::Counter* accepted_connections = nullptr;
  observability::Gauge* active_requests = nullptr;
  observability::Counter* retry_budget_exhausted = nullptr;
  // Client connections by the protocol they turned out to speak.
  observability::Counter* protocol_connections[http::kProtocolCount] = {};
  observability::Gauge* protocol_open[http::kProtocolCount] = {};
  // HTTP/2: streams opened, resets by cause, connections closed by a flood defence.
  observability::Counter* h2_streams = nullptr;
  observability::Counter* h2_resets[5] = {};  // by H2ResetCause
  observability::Counter* h2_floods[7] = {};  // by h2::Flood
  std::unique_ptr<GenAiMetrics> genai;        // token and latency metrics of GenAI endpoints
};

// Why an HTTP/2 stream was reset, for infergate_h2_resets_total{cause}.
enum class H2ResetCause : uint8_t { kClient, kUpstreamBroken, kSendTimeout, kProtocol, kRefused };
ProxyMetrics BuildProxyMetrics(observability::Registry& registry, const config::Config& config);

// Immutable per config generation; shared by all workers.
struct Snapshot {
  // `state`: the process's isolation state kept by identity across snapshots (null: its own).
  Snapshot(std::shared_ptr<const config::Config> c, observability::Registry& registry,
           isolation::StateRegistry* state = nullptr)
      : config(c),
        routes(c),
        metrics(BuildProxyMetrics(registry, *c)),
        isolation(std::make_shared<isolation::IsolationRuntime>(*c, registry, state)) {
    for (const config::ListenerConfig& l : c->listeners) listener_slots.push_back(&l);
  }
  // The settings of the listener in process-wide slot `slot` (WorkerContext::listeners): slots
  // outlive snapshots (a reload keeps a listener's slot, appends new ones, and leaves a removed
  // one unmapped here). Only asked for slots this snapshot serves.
  const config::ListenerConfig& listener(size_t slot) const { return *listener_slots[slot]; }
  bool serves(size_t slot) const {
    return slot < listener_slots.size() && listener_slots[slot] != nullptr;
  }
  std::vector<const config::ListenerConfig*> listener_slots;  // by slot; null: not served
  std::shared_ptr<const config::Config> config;
  routing::RouteTable routes;
  ProxyMetrics metrics;
  std::shared_ptr<isolation::IsolationRuntime>
      isolation;  // thread-safe; mutable through a const Snapshot
  // The backends' shared state and addresses for this config (the server's; null in tests):
  // views of an older snapshot keep theirs alive until their last exchange ends.
  std::shared_ptr<upstream::BackendRegistry> backends;
  // What the backends report on GET /v1/models, kept by the server across snapshots (null in
  // tests and when nothing polls: the gateway's /v1/models then lists the routes' names only).
  std::shared_ptr<const upstream::ModelCatalog> models;
  uint64_t generation = 1;                 // 1 at startup, +1 per accepted reload
  int64_t loaded_at = std::time(nullptr);  // Unix seconds: the `created` of configured models
};

// One worker's degradation state for one route: hysteresis per condition trigger and a running
// average of the primary pool's service time (for the predicted wait). Worker-local.
struct RouteDegradeState {
  explicit RouteDegradeState(const config::RouteConfig& route)
      : no_backend(route.degrade.recover_after),
        saturation(route.degrade.recover_after),
        predicted_wait(route.degrade.recover_after) {}
  isolation::ConditionLatch no_backend;
  isolation::ConditionLatch saturation;
  isolation::ConditionLatch predicted_wait;
  double service_seconds = 0;  // EWMA of the primary's successful exchange durations
  TimePoint last_warn{};       // the last "degraded" warning (rate-limited)
};

// One worker's side of one config snapshot: the snapshot, the worker's upstream pools for it,
// and its per-route degradation state. An exchange holds the view it started with to its end,
// so a worker can install a newer snapshot while older exchanges finish on theirs.
struct WorkerView {
  std::shared_ptr<const Snapshot> snapshot;
  std::unique_ptr<upstream::UpstreamSet> upstreams;
  // Per route of `snapshot`, from the worker's registry keyed by route name: a route that keeps
  // its name in a newer snapshot keeps its latches and service-time average.
  std::vector<std::shared_ptr<RouteDegradeState>> degrade;
};

// A client connection that can end gracefully when its worker drains (HTTP/2: GOAWAY now, so the
// client stops opening streams; HTTP/1.1 closes after its current response instead).
class Drainable {
 public:
  virtual ~Drainable() = default;
  virtual void BeginDrain() = 0;
  virtual size_t listener_slot() const = 0;  // its listener (a reload may remove just that one)
};

// Per-exchange state that a transport keeps on a per-worker free list, so that an idle client
// connection holds none of it (the HTTP/1.1 transport's h1::BusyPool). Typed by the transport.
struct TransportSpares {
  virtual ~TransportSpares() = default;
};

// One per worker thread; used only on that thread.
struct WorkerContext {
  boost::asio::io_context* io = nullptr;
  int index = 0;                                 // 1..N
  std::shared_ptr<const Snapshot> snapshot;      // the current one (view->snapshot)
  std::shared_ptr<WorkerView> view;              // what a new exchange takes
  std::unique_ptr<UpstreamConnector> connector;  // the upstream transport (HTTP/1.1)
  Timers* timers = &SteadyTimers();              // time for exchanges and client timers
  // State that outlives one snapshot, keyed by identity (route name).
  std::map<std::string, std::shared_ptr<RouteDegradeState>, std::less<>> route_states;
  upstream::PoolStateRegistry pool_states;  // retry budgets, by pool name
  // Per listener slot (process-wide, stable across reloads; config order at startup): the
  // process-wide cap and metrics, and this worker's connections that may be closed to make room
  // (a deque: a reload appends slots while connections are linked into the earlier ones).
  std::vector<ListenerRuntime*> listeners;
  std::deque<SheddableLists> sheddable;
  bool draining = false;  // set on shutdown: finish the current response, then close
  // Whether connections of `slot` should finish their current response and close: shutdown, or
  // a reload removed their listener.
  bool Closing(size_t slot) const {
    return draining || listeners[slot]->closed.load(std::memory_order_relaxed);
  }
  std::unordered_set<Drainable*> drainables;  // told when draining starts
  // Written by the worker only; read by the main thread while draining.
  std::atomic<uint64_t> active_connections{0};
  std::atomic<uint64_t> active_requests{0};
  // The process's access log (thread-safe); null without access_log in the config.
  observability::AccessLog* access_log = nullptr;
  // The HTTP/1.1 transport's spare per-exchange state (h1::BusyPool; created on first use). Last,
  // so destroyed first; the owner resets it before the io_context goes (its timers use it).
  std::unique_ptr<TransportSpares> h1_spares;
};

// Makes `snapshot` the one new exchanges on this worker take: builds the worker's upstream pools
// for it (`backends` and `metrics` may be null in tests), moving the idle keep-alive connections
// of backends that stay from the current view, and resolves each route's degradation state by
// name. Exchanges already running keep the view they started with.
void InstallSnapshot(WorkerContext& ctx, std::shared_ptr<const Snapshot> snapshot,
                     boost::asio::any_io_executor ex, upstream::BackendRegistry* backends,
                     observability::Registry* metrics);

}  // namespace infergate::exchange
