// The health controller's state, shared by its parts: health_controller.cc (the tick: breakers,
// ejection, phi, slow start), health_probes.cc (probes, canaries, warm-ups, load reports),
// health_reconcile.cc (building and reconciling the trackers on a reload) and health_json.cc
// (the admin view). Private to src/upstream.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "infergate/health/hysteresis.h"
#include "infergate/health/phi_detector.h"
#include "infergate/health/shared_suspicion.h"
#include "infergate/health/stall_guard.h"
#include "infergate/resilience/circuit_breaker.h"
#include "infergate/resilience/outlier_ejection.h"
#include "infergate/shared/redis_client.h"
#include "infergate/upstream/health_controller.h"
#include "infergate/upstream/model_catalog.h"
#include "infergate/upstream/pool.h"

namespace infergate::upstream {

using SteadyTime = std::chrono::steady_clock::time_point;
inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

struct HealthController::Impl {
  // Control-thread state of one backend.
  struct Tracker {
    size_t pool = 0;
    size_t backend = 0;
    const config::PoolConfig* pool_config = nullptr;
    const config::BackendConfig* config = nullptr;
    BackendState* state = nullptr;
    // The config the pointers above point into, kept alive with the tracker (a reload replaces
    // it; a removed backend's loops may still run until their next wake-up).
    std::shared_ptr<const config::Config> owner;
    // Bumped by a reload: loops started under an older epoch end at their next wake-up (the
    // reload starts new ones with the new settings). `retired`: the backend left the config.
    uint64_t epoch = 0;
    bool retired = false;
    std::shared_ptr<const std::vector<tcp::endpoint>> endpoints;
    std::shared_ptr<TlsTarget> tls;  // https:// pools: the control thread's TLS to the backend
    std::string probe_request;
    health::PhiAccrualDetector phi;
    health::SuspicionState suspicion;
    std::unique_ptr<resilience::CircuitBreaker> breaker;
    OutcomeTotals seen;
    SteadyTime evidence_seen{};
    uint32_t probe_ok = 0;
    uint32_t probe_fail = 0;
    bool probe_down = false;
    uint32_t canary_ok = 0;    // the canary keeps its own streaks: /health answering between
    uint32_t canary_fail = 0;  // canaries must not reset a wedged engine's failures
    bool canary_down = false;
    bool routable = true;
    bool needs_warmup = false;  // was unroutable: must answer a warm-up before taking traffic
    bool warming = false;
    SteadyTime joined{};     // when it last became routable (slow start)
    std::string last_probe;  // "200", "connect: Connection refused", ...
    observability::Counter* changes = nullptr;
    observability::Gauge* available = nullptr;
    observability::Gauge* in_flight = nullptr;
    // Load reports (load_report): the request, whether scraping is failing, and the gauges (made
    // on the first report, so a backend that never reports has no series).
    std::string load_request;
    bool load_failing = false;
    observability::Counter* load_failures = nullptr;
    observability::Gauge* reported_queue = nullptr;
    observability::Gauge* reported_kv = nullptr;
    int64_t published_queue = 0;
    int64_t published_kv = 0;
    // The model list poll (health_models.cc): whether its loop runs, when it asks next (its
    // timer, while it waits, so a reload that changes models.refresh can wake it), and whether
    // it is failing (warned once until it answers again).
    bool models_loop = false;
    bool models_failing = false;
    SteadyTime models_due{};
    asio::steady_timer* models_timer = nullptr;
    // Other instances' convictions (shared_state.verdicts), and whether this instance last told
    // them it convicts the backend.
    health::SharedSuspicion shared;
    bool convicted = false;
    std::string labels;  // pool="...",backend="..." for metrics
    std::string label;   // "pool/backend" for logs
    Tracker(health::PhiConfig pc, health::SuspicionConfig sc) : phi(pc), suspicion(sc) {}
  };
  struct PoolTracker {
    std::unique_ptr<resilience::OutlierDetector> ejector;
    std::vector<size_t> trackers;  // indexes into Impl::trackers, by backend
  };

  std::shared_ptr<const config::Config> config;
  std::shared_ptr<BackendRegistry> registry;
  observability::Registry& metrics;
  asio::io_context io{1};
  std::thread thread;
  // Changed only under `mu` (a reload, on the control thread); the admin thread reads under it.
  mutable std::mutex mu;
  std::vector<std::shared_ptr<Tracker>> trackers;
  std::vector<PoolTracker> pools;
  health::StallGuard stall_guard;
  observability::Counter* stalls = nullptr;
  observability::Counter* canary_skipped = nullptr;
  double canary_tokens = 1.0;
  SteadyTime canary_refill = std::chrono::steady_clock::now();
  std::atomic<bool> running{false};
  std::shared_ptr<ModelCatalog> models = std::make_shared<ModelCatalog>();
  // shared_state.verdicts (health_shared.cc): set before Start when Redis is configured.
  struct Sharing {
    std::string id;  // this instance on the channel
    std::shared_ptr<shared::RedisClient> publisher;
    std::shared_ptr<shared::RedisClient> subscriber;
  };
  std::unique_ptr<Sharing> sharing;
  health::SharedSuspicionConfig shared_config;

  Impl(std::shared_ptr<const config::Config> c, std::shared_ptr<BackendRegistry> r,
       observability::Registry& m)
      : config(std::move(c)), registry(std::move(r)), metrics(m) {
    canary_skipped = metrics.GetCounter(
        "infergate_canary_skipped_total",
        "Canary requests not sent because the gateway-wide canary_budget was spent.");
    stalls = metrics.GetCounter(
        "infergate_gateway_stalls_total",
        "Times the gateway itself stalled long enough that no backend was convicted for the span.");
    Build({});
  }

  static std::string Key(const std::string& pool, const std::string& backend);

  // The trackers and pool trackers for `config`: a backend of `kept` (by pool name and backend
  // name) keeps its tracker, with its phi history, breaker, ejection, probe streaks and slow
  // start; a new one starts as a backend does at startup. Requires mu (or no other thread yet).
  void Build(std::map<std::string, std::shared_ptr<Tracker>> kept,
             const std::vector<PoolTracker>& old_pools = {});

  static health::PhiConfig PhiFor(const config::PoolConfig& pc);
  static health::SuspicionConfig SuspicionFor(const config::PoolConfig& pc);

  // Points `t` at backend `b` of pool `p` of the current config. A kept tracker (`fresh` false)
  // keeps what it learned; a detector whose settings changed starts over, and a verdict whose
  // detector was turned off is lifted.
  void Configure(Tracker& t, size_t p, size_t b, bool fresh);

  // A reload: the new config and registry (whose states are this one's for the backends that
  // stay). On the control thread, between ticks.
  void Reconcile(std::shared_ptr<const config::Config> c, std::shared_ptr<BackendRegistry> r);

  void StartLoops(const std::shared_ptr<Tracker>& t);

  void Count(Tracker& t, const char* change);

  // ---- the tick: aggregate, evaluate, publish

  asio::awaitable<void> TickLoop();

  void Tick(SteadyTime now);

  void Suspicion(Tracker& t, const health::Transition& tr);

  // ---- active probes

  asio::awaitable<void> ProbeLoop(std::shared_ptr<Tracker> t, uint64_t epoch);

  // One GET of the health path within the timeout, on a kept-alive connection when possible.
  asio::awaitable<bool> ProbeOnce(Tracker& t, std::unique_ptr<BackendSocket>& socket,
                                  std::string* detail);

  // A one-token completion (canary or warm-up) on a connection of its own; true on a 2xx.
  asio::awaitable<bool> InferenceProbe(Tracker& t, config::InferenceProbeConfig probe,
                                       std::string* detail);

  // Sends `request` and reads the whole response within `timeout`. Returns the status (0 when
  // none arrived, with the reason in *detail); keeps `socket` open when it may be reused. With
  // `body`, the response body is kept there (a body over kMaxLoadPageBytes fails the request).
  asio::awaitable<int> Send(Tracker& t, const std::string& request, Duration timeout,
                            std::unique_ptr<BackendSocket>& socket, std::string* detail,
                            std::string* body = nullptr);

  // ---- load reports

  // GET the backend's metrics page every interval on a connection of its own.
  asio::awaitable<void> LoadReportLoop(std::shared_ptr<Tracker> t, uint64_t epoch);

  // Publishes the page's report; a failed scrape or a page without the queue metric keeps the
  // previous report (it ages out after max_age) and is counted.
  void OnLoadPage(Tracker& t, int status, std::string_view page, const std::string& detail,
                  SteadyTime at);

  // Gauges hold integers: the queue as a count, the KV-cache usage in percent.
  void PublishLoad(Tracker& t, double waiting, double kv);

  // Canary requests share one gateway-wide token bucket (canary_budget per second).
  bool TakeCanaryToken(SteadyTime now);

  asio::awaitable<void> CanaryLoop(std::shared_ptr<Tracker> t, uint64_t epoch);

  // A backend back from an outage takes traffic only once a short completion answers.
  asio::awaitable<void> WarmupLoop(std::shared_ptr<Tracker> t);

  void OnCanary(Tracker& t, bool ok, const std::string& detail);

  void OnProbe(Tracker& t, bool ok, const std::string& detail);

  // ---- shared verdicts (health_shared.cc)

  // Tick: tells the other instances when this one starts or stops convicting `t`, and lifts a
  // shared suspicion whose hold ran out.
  void ShareVerdict(Tracker& t, SteadyTime now);
  // A message from the channel.
  void OnSharedMessage(std::string_view message);
  void CountShared(const char* event);
  asio::awaitable<void> PublishVerdict(std::string message);

  // ---- model lists (health_models.cc)

  // Starts the backend's model list poll when models.refresh asks for one and it is not running.
  void StartModelsLoop(const std::shared_ptr<Tracker>& t);
  // A reload: forgets removed backends' lists; a changed models.refresh asks again at once.
  void ReconcileModels(const config::ModelsConfig& before);
  // GET /v1/models every models.refresh while the config wants it, into `models`.
  asio::awaitable<void> ModelsLoop(std::shared_ptr<Tracker> t);
  void OnModelList(Tracker& t, int status, std::string_view body, const std::string& detail);

  // "load": the last report, or null (no load_report, or nothing read yet).
  static void AppendLoadJson(std::string& out, const Tracker& t, SteadyTime now);

  std::string Json() const;
};

}  // namespace infergate::upstream
