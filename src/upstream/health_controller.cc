// The control thread: active probes, phi accrual over evidence of life, circuit breakers over the
// workers' outcomes, outlier ejection over consecutive failures, slow start, and the load reports
// scraped from the backends' /metrics; publishes verdicts and reports.
#include "infergate/upstream/health_controller.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "infergate/core/error.h"
#include "infergate/core/log.h"
#include "infergate/core/random.h"
#include "infergate/health/hysteresis.h"
#include "infergate/health/phi_detector.h"
#include "infergate/health/prom_text.h"
#include "infergate/health/stall_guard.h"
#include "infergate/http/h1_codec.h"
#include "infergate/resilience/circuit_breaker.h"
#include "infergate/resilience/outlier_ejection.h"
#include "infergate/resilience/slow_start.h"
#include "infergate/upstream/pool.h"

namespace infergate::upstream {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyTime = std::chrono::steady_clock::time_point;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr auto kTick = std::chrono::milliseconds(10);
constexpr size_t kMaxLoadPageBytes = 1 << 20;  // a backend's /metrics page

resilience::CircuitBreakerConfig BreakerConfig(const config::CircuitBreakerConfig& c) {
  resilience::CircuitBreakerConfig r;
  r.window_type = c.window == config::CircuitBreakerConfig::Window::kCount
                      ? resilience::WindowType::kCount
                      : resilience::WindowType::kTime;
  r.window_size = c.window_size;
  r.failure_rate_threshold = c.failure_rate_threshold;
  r.slow_call_rate_threshold = c.slow_call_rate_threshold;
  r.slow_call_duration = c.slow_call_duration;
  r.minimum_calls = c.minimum_calls;
  r.open_duration = c.open_duration;
  r.max_open_duration = c.max_open_duration;
  r.half_open_permits = c.half_open_permits;
  return r;
}

std::string Iso8601(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A response sink that keeps the status and, when given a string, the body up to a limit.
class StatusSink final : public http::ResponseSink {
 public:
  StatusSink() = default;
  StatusSink(std::string* body, size_t max_body) : body_(body), max_body_(max_body) {}
  void OnHead(const http::H1ResponseHead& head) override { status = head.status; }
  void OnBody(std::string_view data) override {
    if (body_ == nullptr || too_large) return;
    if (data.size() > max_body_ - body_->size()) {
      too_large = true;
      return;
    }
    body_->append(data);
  }
  int status = 0;
  bool too_large = false;

 private:
  std::string* body_ = nullptr;
  size_t max_body_ = 0;
};

// The metrics a load report reads, by format: waiting first, then running, then KV-cache usage
// (vLLM renamed gpu_cache_usage_perc to kv_cache_usage_perc; the newer name wins).
struct LoadMetrics {
  std::vector<std::string_view> names;
  size_t count_running = 0;  // how many of `names` after waiting are running (0 or 1)
  size_t count_kv = 0;       // how many after those are KV-cache names, in order of preference
};

LoadMetrics MetricsFor(const config::LoadReportConfig& lr) {
  switch (lr.format) {
    case config::LoadReportConfig::Format::kVllm:
      return {{"vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc",
               "vllm:gpu_cache_usage_perc"},
              1,
              2};
    case config::LoadReportConfig::Format::kTgi:
      return {{"tgi_queue_size", "tgi_batch_current_size"}, 1, 0};
    case config::LoadReportConfig::Format::kGauge:
      break;
  }
  return {{lr.queue_gauge}, 0, 0};
}

// "12", "0.25": short and JSON-safe for the finite values a report holds.
std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

}  // namespace

BackendRegistry::BackendRegistry(const config::Config& config, int shards,
                                 const BackendRegistry* keep)
    : config_(&config) {
  for (const auto& pool : config.pools) {
    std::vector<std::shared_ptr<BackendState>> row;
    std::vector<std::vector<tcp::endpoint>> addresses;
    for (const auto& backend : pool.backends) {
      std::optional<std::pair<size_t, size_t>> old;
      if (keep) old = keep->Find(pool.name, backend.name);
      row.push_back(old ? keep->states_[old->first][old->second]
                        : std::make_shared<BackendState>(shards));
      if (old && !keep->endpoints_[old->first][old->second].empty()) {
        addresses.push_back(keep->endpoints_[old->first][old->second]);
        continue;
      }
      addresses.push_back(ResolveBackend(backend.address));
      if (addresses.back().empty()) {
        IG_ERROR("pool %s: cannot resolve backend %s; it will be treated as down",
                 pool.name.c_str(), backend.url.c_str());
      }
    }
    states_.push_back(std::move(row));
    endpoints_.push_back(std::move(addresses));
  }
  tls_ = LoadPoolTls(config, &tls_error_);
}

std::optional<std::pair<size_t, size_t>> BackendRegistry::Find(std::string_view pool,
                                                               std::string_view backend) const {
  for (size_t p = 0; p < config_->pools.size(); ++p) {
    if (config_->pools[p].name != pool) continue;
    for (size_t b = 0; b < config_->pools[p].backends.size(); ++b) {
      if (config_->pools[p].backends[b].name == backend) return std::make_pair(p, b);
    }
  }
  return std::nullopt;
}

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

  static std::string Key(const std::string& pool, const std::string& backend) {
    return pool + '\n' + backend;
  }

  // The trackers and pool trackers for `config`: a backend of `kept` (by pool name and backend
  // name) keeps its tracker, with its phi history, breaker, ejection, probe streaks and slow
  // start; a new one starts as a backend does at startup. Requires mu (or no other thread yet).
  void Build(std::map<std::string, std::shared_ptr<Tracker>> kept,
             const std::vector<PoolTracker>& old_pools = {}) {
    std::vector<std::shared_ptr<Tracker>> next;
    std::vector<PoolTracker> next_pools;
    for (size_t p = 0; p < config->pools.size(); ++p) {
      const auto& pc = config->pools[p];
      PoolTracker pt;
      if (pc.outlier_ejection.enabled) {
        resilience::OutlierEjectionConfig oc;
        oc.consecutive_failures = pc.outlier_ejection.consecutive_failures;
        oc.base_ejection_time = pc.outlier_ejection.base_ejection_time;
        oc.max_ejection_time = pc.outlier_ejection.max_ejection_time;
        oc.max_ejection_percent = pc.outlier_ejection.max_ejection_percent;
        pt.ejector = std::make_unique<resilience::OutlierDetector>(oc, pc.backends.size());
      }
      for (size_t b = 0; b < pc.backends.size(); ++b) {
        std::shared_ptr<Tracker> t;
        auto it = kept.find(Key(pc.name, pc.backends[b].name));
        if (it != kept.end()) {
          t = std::move(it->second);
          kept.erase(it);
          // Its ejection (streak, multiplier, end) moves to its new place in the pool.
          const PoolTracker* old = t->pool < old_pools.size() ? &old_pools[t->pool] : nullptr;
          if (pt.ejector && old && old->ejector && t->backend < old->ejector->hosts()) {
            pt.ejector->Adopt(b, old->ejector->StateOf(t->backend));
          } else if (!pt.ejector) {
            t->state->SetFlag(kEjected, false);
          }
          Configure(*t, p, b, false);
        } else {
          t = std::make_shared<Tracker>(PhiFor(pc), SuspicionFor(pc));
          Configure(*t, p, b, true);
        }
        pt.trackers.push_back(next.size());
        next.push_back(std::move(t));
      }
      next_pools.push_back(std::move(pt));
    }
    for (auto& [key, t] : kept) {  // removed backends: their loops end, their gauge goes to 0
      t->retired = true;
      ++t->epoch;
      if (t->routable) t->available->Add(-1);
      IG_INFO("backend %s: removed by a reload", t->label.c_str());
    }
    trackers = std::move(next);
    pools = std::move(next_pools);
  }

  static health::PhiConfig PhiFor(const config::PoolConfig& pc) {
    health::PhiConfig phi_config = health::PhiConfig::ForProbeInterval(pc.health_check.interval);
    // Seed the window with the probe cadence itself (not the generic 500 ms), so the learned
    // jitter is right from the first probes: a fresh backend probed every 250 ms is convicted
    // after ~0.6 s of silence instead of ~0.8 s, and never before ~0.5 s.
    phi_config.first_heartbeat_estimate =
        std::max<Duration>(pc.health_check.interval, std::chrono::milliseconds(100));
    phi_config.threshold = pc.failure_detector.threshold;
    phi_config.window_size = pc.failure_detector.window_size;
    phi_config.min_std_dev = std::max(phi_config.min_std_dev, pc.failure_detector.min_std_dev);
    phi_config.acceptable_pause = pc.failure_detector.acceptable_pause;
    return phi_config;
  }
  static health::SuspicionConfig SuspicionFor(const config::PoolConfig& pc) {
    health::SuspicionConfig sc;
    sc.threshold = pc.failure_detector.threshold;
    sc.healthy_threshold = pc.health_check.healthy_threshold;
    return sc;
  }

  // Points `t` at backend `b` of pool `p` of the current config. A kept tracker (`fresh` false)
  // keeps what it learned; a detector whose settings changed starts over, and a verdict whose
  // detector was turned off is lifted.
  void Configure(Tracker& t, size_t p, size_t b, bool fresh) {
    const auto& pc = config->pools[p];
    const config::PoolConfig* was = fresh ? nullptr : t.pool_config;
    if (fresh) t.state = &registry->state(p, b);
    if (was && (was->failure_detector != pc.failure_detector ||
                was->health_check.interval != pc.health_check.interval ||
                was->health_check.healthy_threshold != pc.health_check.healthy_threshold)) {
      t.phi = health::PhiAccrualDetector(PhiFor(pc));
      t.suspicion = health::SuspicionState(SuspicionFor(pc));
      t.state->SetFlag(kSuspected, false);
      t.evidence_seen = {};
    }
    if (!pc.failure_detector.enabled) {
      t.state->SetFlag(kSuspected, false);
      t.state->SetPhi(0);
    }
    if (!pc.health_check.enabled && t.probe_down) {
      t.probe_down = false;
      t.state->SetFlag(kProbeDown, false);
    }
    if (!pc.health_check.canary.enabled && t.canary_down) {
      t.canary_down = false;
      t.state->SetFlag(kCanaryDown, false);
    }
    if (!pc.circuit_breaker.enabled) {
      t.breaker.reset();
      t.state->SetFlag(kBreakerOpen, false);
      t.state->SetFlag(kHalfOpen, false);
      t.state->SetPermits(0);
    } else if (!t.breaker || !was || was->circuit_breaker != pc.circuit_breaker) {
      t.breaker = std::make_unique<resilience::CircuitBreaker>(BreakerConfig(pc.circuit_breaker),
                                                               ThreadRng().Next());
    }
    if (fresh || !t.endpoints || *t.endpoints != registry->endpoints(p, b))
      t.endpoints = std::make_shared<const std::vector<tcp::endpoint>>(registry->endpoints(p, b));
    t.pool = p;
    t.backend = b;
    t.owner = config;
    t.pool_config = &pc;
    t.config = &pc.backends[b];
    t.tls = pc.tls ? MakeTlsTarget(registry->tls(p), pc, pc.backends[b], &metrics) : nullptr;
    t.probe_request = "GET " + pc.health_check.path + " HTTP/1.1\r\nHost: " + pc.backends[b].name +
                      "\r\nUser-Agent: infergate-health\r\nAccept: */*\r\n\r\n";
    std::string labels = "pool=\"" + observability::Registry::EscapeLabel(pc.name) +
                         "\",backend=\"" +
                         observability::Registry::EscapeLabel(pc.backends[b].name) + "\"";
    if (fresh) {
      t.available = metrics.GetGauge("infergate_backend_available",
                                     "1 while a backend takes new requests, 0 while it is down, "
                                     "suspected, ejected, open or drained.",
                                     labels);
      t.available->Add(1);
      t.in_flight = metrics.GetGauge("infergate_upstream_in_flight",
                                     "Requests in flight per backend.", labels);
    }
    t.load_request.clear();
    if (pc.load_report.enabled) {
      t.load_request = "GET " + pc.load_report.path + " HTTP/1.1\r\nHost: " + pc.backends[b].name +
                       "\r\nUser-Agent: infergate-health\r\nAccept: text/plain\r\n\r\n";
      t.load_failures = metrics.GetCounter(
          "infergate_load_report_failures_total",
          "Load report scrapes of a backend's metrics page that failed (no answer, a non-2xx "
          "status, or no queue metric on the page); the last report is kept until max_age.",
          labels);
    }
    t.labels = labels;
    t.label = pc.name + "/" + pc.backends[b].name;
  }

  // A reload: the new config and registry (whose states are this one's for the backends that
  // stay). On the control thread, between ticks.
  void Reconcile(std::shared_ptr<const config::Config> c, std::shared_ptr<BackendRegistry> r) {
    std::lock_guard lock(mu);
    std::map<std::string, std::shared_ptr<Tracker>> kept;
    for (auto& t : trackers) kept.emplace(Key(t->pool_config->name, t->config->name), t);
    std::vector<PoolTracker> old_pools = std::move(pools);
    config = std::move(c);
    registry = std::move(r);
    Build(std::move(kept), old_pools);
    if (!running) return;
    for (auto& t : trackers) {
      ++t->epoch;
      StartLoops(t);
    }
  }

  void StartLoops(const std::shared_ptr<Tracker>& t) {
    const auto& pc = *t->pool_config;
    if (pc.health_check.enabled) asio::co_spawn(io, ProbeLoop(t, t->epoch), asio::detached);
    if (pc.health_check.canary.enabled) asio::co_spawn(io, CanaryLoop(t, t->epoch), asio::detached);
    if (pc.load_report.enabled) asio::co_spawn(io, LoadReportLoop(t, t->epoch), asio::detached);
  }

  void Count(Tracker& t, const char* change) {
    std::string labels = "pool=\"" + observability::Registry::EscapeLabel(t.pool_config->name) +
                         "\",backend=\"" + observability::Registry::EscapeLabel(t.config->name) +
                         "\",change=\"" + change + "\"";
    metrics
        .GetCounter("infergate_backend_state_changes_total",
                    "Backend state changes: probe_down/probe_up, canary_down/canary_up, "
                    "suspected/recovered, breaker_*, ejected/unejected, drained/undrained.",
                    labels)
        ->Inc();
  }

  // ---- the tick: aggregate, evaluate, publish

  asio::awaitable<void> TickLoop() {
    asio::steady_timer timer(io);
    while (running) {
      Tick(std::chrono::steady_clock::now());
      timer.expires_after(kTick);
      co_await timer.async_wait(kNoThrow);
    }
  }

  void Tick(SteadyTime now) {
    if (auto stall = stall_guard.Tick(now)) {
      for (auto& t : trackers) t->phi.ForgivePause(stall->start, stall->end);
      stalls->Inc();
      IG_WARN("the gateway itself stalled for %.0f ms; no backend is convicted for that span",
              std::chrono::duration<double, std::milli>(stall->length()).count());
    }
    const bool may_convict = stall_guard.MayConvict(now);
    for (auto& tp : trackers) {
      Tracker& t = *tp;
      const auto& pc = *t.pool_config;
      // Evidence of life from the workers (response heads, streamed chunks).
      SteadyTime ev = t.state->LastEvidence();
      if (ev > t.evidence_seen) {
        t.evidence_seen = ev;
        t.phi.Evidence(ev);
      }
      // Outcomes since the last tick feed the breaker.
      OutcomeTotals totals = t.state->Totals();
      resilience::OutcomeCounts delta{totals.success - t.seen.success,
                                      totals.failure - t.seen.failure, totals.slow - t.seen.slow,
                                      totals.ignored - t.seen.ignored};
      t.seen = totals;
      if (t.breaker) {
        if (delta.success || delta.failure || delta.slow || delta.ignored)
          t.breaker->OnResults(now, delta);
        auto bs = t.breaker->state(now);
        bool was_half_open = t.state->flags() & kHalfOpen;
        if (bs == resilience::BreakerState::kHalfOpen && !was_half_open) {
          t.state->SetPermits(static_cast<int32_t>(
              t.breaker->AcquirePermits(now, pc.circuit_breaker.half_open_permits)));
        }
        t.state->SetFlag(kBreakerOpen, bs == resilience::BreakerState::kOpen);
        t.state->SetFlag(kHalfOpen, bs == resilience::BreakerState::kHalfOpen);
        if (bs != resilience::BreakerState::kHalfOpen) t.state->SetPermits(0);
        while (auto tr = t.breaker->TakeTransition()) {
          IG_WARN("backend %s: circuit breaker %s -> %s (%s)", t.label.c_str(),
                  std::string(resilience::ToString(tr->from)).c_str(),
                  std::string(resilience::ToString(tr->to)).c_str(),
                  std::string(resilience::ToString(tr->reason)).c_str());
          Count(t, tr->to == resilience::BreakerState::kOpen       ? "breaker_open"
                   : tr->to == resilience::BreakerState::kHalfOpen ? "breaker_half_open"
                                                                   : "breaker_closed");
        }
      }
      // Consecutive gateway failures across all workers feed outlier ejection.
      auto& pt = pools[t.pool];
      if (pt.ejector) {
        uint32_t streak = t.state->consecutive_failures();
        if (streak >= pc.outlier_ejection.consecutive_failures) {
          pt.ejector->OnConsecutiveFailures(now, t.backend, streak);
          t.state->ResetConsecutive();
        }
      }
      // Phi: suspicion only when the gateway itself was not stalled.
      if (pc.failure_detector.enabled && t.phi.HasHeartbeat()) {
        double phi = t.phi.Phi(now);
        t.state->SetPhi(phi);
        if (auto tr = t.suspicion.Evaluate(phi, may_convict)) {
          Suspicion(t, *tr);
        }
      }
    }
    for (size_t p = 0; p < pools.size(); ++p) {
      auto& pt = pools[p];
      if (!pt.ejector) continue;
      pt.ejector->Tick(now);
      for (const auto& e : pt.ejector->TakeEvents()) {
        Tracker& t = *trackers[pt.trackers[e.host]];
        bool ejected = e.kind == resilience::EjectionEvent::Kind::kEjected;
        if (e.kind == resilience::EjectionEvent::Kind::kSuppressed) {
          IG_WARN("backend %s: would be ejected, but max_ejection_percent is reached",
                  t.label.c_str());
          continue;
        }
        t.state->SetFlag(kEjected, ejected);
        t.state->SetEjections(pt.ejector->TimesEjected(e.host, now));
        IG_WARN("backend %s: %s", t.label.c_str(),
                ejected ? "ejected after consecutive failures" : "ejection ended");
        Count(t, ejected ? "ejected" : "unejected");
      }
    }
    // Warm-up gate, then publish availability and slow start.
    for (auto& tp : trackers) {
      Tracker& t = *tp;
      if (t.pool_config->slow_start.warmup.enabled) {
        const bool others_ok = (t.state->flags() & (kUnroutable & ~kWarmingUp)) == 0;
        if (!others_ok && t.routable) t.needs_warmup = true;
        if (others_ok && t.needs_warmup && !t.warming) {
          t.warming = true;
          t.state->SetFlag(kWarmingUp, true);
          IG_WARN("backend %s: back, sending a warm-up request before it takes traffic",
                  t.label.c_str());
          Count(t, "warming_up");
          asio::co_spawn(io, WarmupLoop(tp), asio::detached);
        }
      }
      bool routable = t.state->routable();
      if (routable != t.routable) {
        t.routable = routable;
        t.available->Add(routable ? 1 : -1);
        if (routable) t.joined = now;
      }
      const auto& ss = t.pool_config->slow_start;
      if (ss.window > Duration::zero()) {
        resilience::SlowStartConfig sc;
        sc.window = ss.window;
        sc.aggression = ss.aggression;
        sc.min_weight_percent = ss.min_weight_percent;
        if (!routable) {
          // Out of rotation, its weight waits at the floor: flags clear off this thread's tick
          // (a probe, an undrain), and until the next tick starts the ramp it must not take
          // traffic at the full weight it had before it left.
          t.state->SetWeightPermille(resilience::SlowStartPermille(sc, now, now));
        } else if (t.joined != SteadyTime{}) {
          t.state->SetWeightPermille(resilience::SlowStartPermille(sc, t.joined, now));
        }
      }
    }
  }

  void Suspicion(Tracker& t, const health::Transition& tr) {
    bool suspected = tr.to == health::Availability::kSuspected;
    t.state->SetFlag(kSuspected, suspected);
    IG_WARN("backend %s: %s (%s)", t.label.c_str(), suspected ? "suspected" : "no longer suspected",
            tr.reason.c_str());
    Count(t, suspected ? "suspected" : "recovered");
  }

  // ---- active probes

  asio::awaitable<void> ProbeLoop(std::shared_ptr<Tracker> t, uint64_t epoch) {
    asio::steady_timer timer(io);
    std::unique_ptr<BackendSocket> socket;
    while (running && t->epoch == epoch) {
      auto started = std::chrono::steady_clock::now();
      std::string detail;
      bool ok = co_await ProbeOnce(*t, socket, &detail);
      if (!running || t->epoch != epoch) break;
      OnProbe(*t, ok, detail);
      timer.expires_at(started + t->pool_config->health_check.interval);
      co_await timer.async_wait(kNoThrow);
    }
  }

  // One GET of the health path within the timeout, on a kept-alive connection when possible.
  asio::awaitable<bool> ProbeOnce(Tracker& t, std::unique_ptr<BackendSocket>& socket,
                                  std::string* detail) {
    const config::HealthCheckConfig hc = t.pool_config->health_check;  // a reload may replace it
    int status = co_await Send(t, t.probe_request, hc.timeout, socket, detail);
    co_return status >= hc.expected_status_min&& status <= hc.expected_status_max;
  }

  // A one-token completion (canary or warm-up) on a connection of its own; true on a 2xx.
  asio::awaitable<bool> InferenceProbe(Tracker& t, config::InferenceProbeConfig probe,
                                       std::string* detail) {
    std::string body = R"({"model":")";
    AppendJsonEscaped(body, probe.model);
    body += R"(","messages":[{"role":"user","content":"ping"}],"max_tokens":1,"stream":false})";
    std::string request =
        "POST " + probe.path + " HTTP/1.1\r\nHost: " + t.config->name +
        "\r\nUser-Agent: infergate-health\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    std::unique_ptr<BackendSocket> socket;
    int status = co_await Send(t, request, probe.timeout, socket, detail);
    co_return status >= 200 && status <= 299;
  }

  // Sends `request` and reads the whole response within `timeout`. Returns the status (0 when
  // none arrived, with the reason in *detail); keeps `socket` open when it may be reused. With
  // `body`, the response body is kept there (a body over kMaxLoadPageBytes fails the request).
  asio::awaitable<int> Send(Tracker& t, const std::string& request, Duration timeout,
                            std::unique_ptr<BackendSocket>& socket, std::string* detail,
                            std::string* body = nullptr) {
    asio::steady_timer deadline(io);
    bool timed_out = false;
    deadline.expires_after(timeout);
    deadline.async_wait([&](const error_code& ec) {
      if (ec) return;
      timed_out = true;
      if (socket) socket->Close();
    });
    int status = 0;
    // Held for the whole exchange: a reload may give the tracker new ones meanwhile.
    const std::shared_ptr<const std::vector<tcp::endpoint>> endpoints = t.endpoints;
    const std::shared_ptr<TlsTarget> tls = t.tls;
    do {
      if (!socket || !socket->is_open()) {
        socket = std::make_unique<BackendSocket>(io.get_executor());
        if (endpoints->empty()) {
          *detail = "cannot resolve " + t.config->address.host;
          break;
        }
        std::optional<ConnectFailure> failed = co_await socket->Connect(*endpoints, tls);
        if (failed) {
          *detail = timed_out     ? "connect timeout"
                    : failed->tls ? "tls: " + failed->reason
                                  : "connect: " + failed->reason;
          break;
        }
      }
      auto [wec, wn] = co_await socket->AsyncWrite(asio::buffer(request), kNoThrow);
      if (wec) {
        *detail = timed_out ? "timeout" : "write: " + wec.message();
        break;
      }
      http::ResponseDecoder decoder;
      decoder.Start(false);
      if (body) body->clear();
      StatusSink sink(body, kMaxLoadPageBytes);
      std::vector<char> buf(body ? 16384 : 4096);
      bool done = false;
      bool reusable = false;
      while (!done) {
        auto [rec, n] = co_await socket->AsyncReadSome(asio::buffer(buf), kNoThrow);
        if (n > 0) {
          size_t used = 0;
          auto st = decoder.Feed(std::string_view(buf.data(), n), &used, sink);
          if (!st) {
            *detail = st.error().message;
            break;
          }
          if (*st == http::ResponseDecoder::Status::kComplete) {
            done = true;
            reusable = decoder.reusable() && used == n;
          }
          continue;
        }
        *detail = timed_out                 ? "timeout"
                  : rec == asio::error::eof ? "closed before answering"
                                            : "read: " + rec.message();
        break;
      }
      if (!done) break;
      if (sink.too_large) {
        *detail = "response body over " + std::to_string(kMaxLoadPageBytes) + " bytes";
        break;
      }
      status = sink.status;
      *detail = std::to_string(sink.status);
      if (!reusable) socket.reset();
    } while (false);
    deadline.cancel();
    if (status == 0 && socket) socket.reset();
    co_return status;
  }

  // ---- load reports

  // GET the backend's metrics page every interval on a connection of its own.
  asio::awaitable<void> LoadReportLoop(std::shared_ptr<Tracker> t, uint64_t epoch) {
    asio::steady_timer timer(io);
    // Spread the first scrapes over one interval so backends are not all asked at once.
    timer.expires_after(std::chrono::duration_cast<Duration>(t->pool_config->load_report.interval *
                                                             ThreadRng().NextDouble()));
    co_await timer.async_wait(kNoThrow);
    std::unique_ptr<BackendSocket> socket;
    std::string page;
    while (running && t->epoch == epoch) {
      const config::LoadReportConfig lr = t->pool_config->load_report;
      auto started = std::chrono::steady_clock::now();
      std::string detail;
      int status = co_await Send(*t, t->load_request, lr.timeout, socket, &detail, &page);
      if (!running || t->epoch != epoch) break;
      OnLoadPage(*t, status, page, detail, std::chrono::steady_clock::now());
      timer.expires_at(started + lr.interval);
      co_await timer.async_wait(kNoThrow);
    }
  }

  // Publishes the page's report; a failed scrape or a page without the queue metric keeps the
  // previous report (it ages out after max_age) and is counted.
  void OnLoadPage(Tracker& t, int status, std::string_view page, const std::string& detail,
                  SteadyTime at) {
    const LoadMetrics wanted = MetricsFor(t.pool_config->load_report);
    std::string failure;
    std::vector<std::optional<double>> found;
    if (status == 0) {
      failure = detail;
    } else if (status < 200 || status > 299) {
      failure = "status " + std::to_string(status);
    } else {
      found = health::SumPromSamples(page, wanted.names);
      if (!found[0]) failure = "no " + std::string(wanted.names[0]) + " on the page";
    }
    if (!failure.empty()) {
      t.load_failures->Inc();
      if (!t.load_failing) {
        t.load_failing = true;
        IG_WARN(
            "backend %s: cannot read its load report from %s (%s); the last report stays in "
            "use until it is older than max_age",
            t.label.c_str(), t.pool_config->load_report.path.c_str(), failure.c_str());
      }
      return;
    }
    if (t.load_failing) {
      t.load_failing = false;
      IG_INFO("backend %s: load reports read again", t.label.c_str());
    }
    double waiting = std::max(0.0, *found[0]);
    double running = wanted.count_running > 0 ? std::max(0.0, found[1].value_or(0.0)) : 0.0;
    double kv = -1;
    for (size_t i = 0; i < wanted.count_kv; ++i) {
      const std::optional<double>& v = found[1 + wanted.count_running + i];
      if (v && *v >= 0) {
        kv = *v;
        break;
      }
    }
    t.state->SetLoad(waiting, running, kv, at);
    PublishLoad(t, waiting, kv);
  }

  // Gauges hold integers: the queue as a count, the KV-cache usage in percent.
  void PublishLoad(Tracker& t, double waiting, double kv) {
    if (t.reported_queue == nullptr) {
      t.reported_queue = metrics.GetGauge(
          "infergate_backend_reported_queue",
          "Requests waiting in a backend's queue, as it last reported on its metrics page.",
          t.labels);
    }
    int64_t queue = std::llround(std::min(waiting, 1e15));
    t.reported_queue->Add(queue - t.published_queue);
    t.published_queue = queue;
    if (kv < 0) return;  // unknown: the last known value stays
    if (t.reported_kv == nullptr) {
      t.reported_kv = metrics.GetGauge(
          "infergate_backend_reported_kv_cache",
          "KV-cache usage a backend last reported on its metrics page, in percent (0-100).",
          t.labels);
    }
    int64_t percent = std::llround(std::min(kv, 1e6) * 100.0);
    t.reported_kv->Add(percent - t.published_kv);
    t.published_kv = percent;
  }

  // Canary requests share one gateway-wide token bucket (canary_budget per second).
  bool TakeCanaryToken(SteadyTime now) {
    const double rate = config->canary_budget;
    const double burst = std::max(1.0, rate);
    canary_tokens = std::min(
        burst, canary_tokens + rate * std::chrono::duration<double>(now - canary_refill).count());
    canary_refill = now;
    if (canary_tokens < 1.0) return false;
    canary_tokens -= 1.0;
    return true;
  }

  asio::awaitable<void> CanaryLoop(std::shared_ptr<Tracker> t, uint64_t epoch) {
    asio::steady_timer timer(io);
    // Spread the first canaries over one interval so backends are not all asked at once.
    timer.expires_after(std::chrono::duration_cast<Duration>(
        t->pool_config->health_check.canary.interval * ThreadRng().NextDouble()));
    co_await timer.async_wait(kNoThrow);
    while (running && t->epoch == epoch) {
      const config::InferenceProbeConfig canary = t->pool_config->health_check.canary;
      auto started = std::chrono::steady_clock::now();
      if (!(t->state->flags() & kDraining) && TakeCanaryToken(started)) {
        std::string detail;
        bool ok = co_await InferenceProbe(*t, canary, &detail);
        if (!running || t->epoch != epoch) break;
        OnCanary(*t, ok, detail);
      } else {
        canary_skipped->Inc();
      }
      timer.expires_at(started + canary.interval);
      co_await timer.async_wait(kNoThrow);
    }
  }

  // A backend back from an outage takes traffic only once a short completion answers.
  asio::awaitable<void> WarmupLoop(std::shared_ptr<Tracker> t) {
    asio::steady_timer timer(io);
    while (running && !t->retired) {
      std::string detail;
      bool ok = co_await InferenceProbe(*t, t->pool_config->slow_start.warmup, &detail);
      if (!running || t->retired) break;
      if (ok ||
          !t->pool_config->slow_start.warmup.enabled) {  // answered, or a reload turned it off
        if (ok)
          IG_WARN("backend %s: warm-up request answered; taking traffic again", t->label.c_str());
        break;
      }
      IG_WARN("backend %s: warm-up request failed (%s); trying again", t->label.c_str(),
              detail.c_str());
      timer.expires_after(
          std::max<Duration>(t->pool_config->health_check.interval, std::chrono::seconds(1)));
      co_await timer.async_wait(kNoThrow);
    }
    t->warming = false;
    t->needs_warmup = false;
    t->state->SetFlag(kWarmingUp, false);
  }

  void OnCanary(Tracker& t, bool ok, const std::string& detail) {
    const auto& hc = t.pool_config->health_check;
    t.last_probe = "canary: " + detail;
    if (ok) {
      t.phi.Evidence(std::chrono::steady_clock::now());
      ++t.canary_ok;
      t.canary_fail = 0;
      if (t.canary_down && t.canary_ok >= hc.healthy_threshold) {
        t.canary_down = false;
        t.state->SetFlag(kCanaryDown, false);
        IG_WARN("backend %s: inference canaries pass again", t.label.c_str());
        Count(t, "canary_up");
      }
      return;
    }
    ++t.canary_fail;
    t.canary_ok = 0;
    if (!t.canary_down && t.canary_fail >= hc.unhealthy_threshold) {
      t.canary_down = true;
      t.state->SetFlag(kCanaryDown, true);
      IG_WARN(
          "backend %s: marked down after %u failed inference canaries (last: %s), though /health "
          "may answer",
          t.label.c_str(), t.canary_fail, detail.c_str());
      Count(t, "canary_down");
    }
  }

  void OnProbe(Tracker& t, bool ok, const std::string& detail) {
    const auto& hc = t.pool_config->health_check;
    auto now = std::chrono::steady_clock::now();
    t.last_probe = detail;
    double phi = t.phi.HasHeartbeat() ? t.phi.Phi(now) : 0.0;
    if (ok) {
      t.phi.Evidence(now);
      phi = t.phi.Phi(now);
      ++t.probe_ok;
      t.probe_fail = 0;
      if (t.probe_down && t.probe_ok >= hc.healthy_threshold) {
        t.probe_down = false;
        t.state->SetFlag(kProbeDown, false);
        IG_WARN("backend %s: health checks pass again (%u in a row)", t.label.c_str(), t.probe_ok);
        Count(t, "probe_up");
      }
    } else {
      ++t.probe_fail;
      t.probe_ok = 0;
      if (!t.probe_down && t.probe_fail >= hc.unhealthy_threshold) {
        t.probe_down = true;
        t.state->SetFlag(kProbeDown, true);
        IG_WARN("backend %s: marked down after %u failed health checks (last: %s)", t.label.c_str(),
                t.probe_fail, detail.c_str());
        Count(t, "probe_down");
      }
    }
    if (t.pool_config->failure_detector.enabled) {
      if (auto tr = t.suspicion.ProbeResult(ok, phi)) Suspicion(t, *tr);
    }
  }

  // "load": the last report, or null (no load_report, or nothing read yet).
  static void AppendLoadJson(std::string& out, const Tracker& t, SteadyTime now) {
    const auto& lr = t.pool_config->load_report;
    LoadReport r = t.state->load();
    if (!lr.enabled || !r.valid) {
      out += ",\"load\":null";
      return;
    }
    auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - r.at);
    out += ",\"load\":{\"waiting\":" + JsonNumber(r.waiting);
    out += ",\"running\":" + JsonNumber(r.running);
    out += ",\"kv_cache\":" + (r.kv_cache >= 0 ? JsonNumber(r.kv_cache) : std::string("null"));
    out += ",\"age_ms\":" + std::to_string(std::max<int64_t>(0, age.count()));
    out += ",\"fresh\":";
    out += now - r.at <= lr.max_age ? "true" : "false";
    out += ",\"dispatched_since_report\":" + std::to_string(t.state->dispatched_since_report());
    out += ",\"failures\":" + std::to_string(t.load_failures ? t.load_failures->Value() : 0);
    out += "}";
  }

  std::string Json() const {
    std::lock_guard lock(mu);
    const SteadyTime now = std::chrono::steady_clock::now();
    std::string out = "{\"backends\":[";
    bool first = true;
    for (const auto& tp : trackers) {
      const Tracker& t = *tp;
      const BackendState& s = *t.state;
      uint32_t flags = s.flags();
      if (!first) out += ",";
      first = false;
      out += "{\"pool\":\"";
      AppendJsonEscaped(out, t.pool_config->name);
      out += "\",\"backend\":\"";
      AppendJsonEscaped(out, t.config->name);
      out += "\",\"url\":\"";
      AppendJsonEscaped(out, t.config->url);
      out += "\",\"priority\":" + std::to_string(t.config->priority) +
             ",\"weight\":" + std::to_string(t.config->weight);
      out += ",\"state\":\"";
      out += (flags & kUnroutable) ? "unavailable"
             : (flags & kHalfOpen) ? "half_open"
                                   : "available";
      out += "\",\"reasons\":[";
      bool rf = true;
      auto reason = [&](uint32_t bit, const char* name) {
        if (!(flags & bit)) return;
        if (!rf) out += ",";
        rf = false;
        out += "\"";
        out += name;
        out += "\"";
      };
      reason(kProbeDown, "health_check");
      reason(kSuspected, "phi");
      reason(kEjected, "ejected");
      reason(kBreakerOpen, "breaker_open");
      reason(kDraining, "draining");
      reason(kWarmingUp, "warming_up");
      reason(kCanaryDown, "canary");
      char phi[32];
      std::snprintf(phi, sizeof(phi), "%.3f", s.phi());
      out += "],\"phi\":";
      out += phi;
      out += ",\"breaker\":\"";
      out += (flags & kBreakerOpen) ? "open" : (flags & kHalfOpen) ? "half_open" : "closed";
      out += "\",\"ejections\":" + std::to_string(s.ejections());
      out += ",\"consecutive_failures\":" + std::to_string(s.consecutive_failures());
      out += ",\"in_flight\":" + std::to_string(std::max<int64_t>(0, t.in_flight->Value()));
      out += ",\"weight_percent\":" + std::to_string(s.weight_permille() / 10.0).substr(0, 5);
      int err = s.last_error();
      if (err != BackendState::kNoError) {
        out += ",\"last_error\":\"";
        out += err >= 0 ? std::string(DescribeError(static_cast<ErrorKind>(err)).name)
                        : "status_" + std::to_string(-err);
        out += "\",\"last_error_at\":\"" + Iso8601(s.last_error_at()) + "\"";
      } else {
        out += ",\"last_error\":null,\"last_error_at\":null";
      }
      AppendLoadJson(out, t, now);
      out += "}";
    }
    out += "]}";
    return out;
  }
};

HealthController::HealthController(std::shared_ptr<const config::Config> config,
                                   std::shared_ptr<BackendRegistry> registry,
                                   observability::Registry& metrics)
    : impl_(new Impl(std::move(config), std::move(registry), metrics)) {}

HealthController::~HealthController() { Stop(); }

void HealthController::Start() {
  impl_->running = true;
  asio::co_spawn(impl_->io, impl_->TickLoop(), asio::detached);
  for (auto& t : impl_->trackers) impl_->StartLoops(t);
  impl_->thread = std::thread([this] {
    SetThreadLogName("health");
    impl_->io.run();
  });
}

void HealthController::Stop() {
  if (!impl_->running.exchange(false)) return;
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void HealthController::Reconcile(std::shared_ptr<const config::Config> config,
                                 std::shared_ptr<BackendRegistry> registry) {
  if (!impl_->running) {
    impl_->Reconcile(std::move(config), std::move(registry));
    return;
  }
  std::promise<void> done;
  asio::post(impl_->io, [&] {
    impl_->Reconcile(std::move(config), std::move(registry));
    done.set_value();
  });
  done.get_future().wait();
}

bool HealthController::Drain(std::string_view pool, std::string_view backend, bool drain) {
  std::lock_guard lock(impl_->mu);
  for (auto& t : impl_->trackers) {
    if (t->pool_config->name != pool || t->config->name != backend) continue;
    BackendState& s = *t->state;
    const bool was = s.flags() & kDraining;
    s.SetFlag(kDraining, drain);
    if (was != drain) {
      IG_WARN("backend %s: %s by an operator", t->label.c_str(), drain ? "drained" : "undrained");
      impl_->Count(*t, drain ? "drained" : "undrained");
    }
    return true;
  }
  return false;
}

std::string HealthController::BackendsJson() const { return impl_->Json(); }

}  // namespace infergate::upstream
