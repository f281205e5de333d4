// The health controller's trackers: built at start, reconciled by identity on a reload.
#include "upstream/health_impl.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "infergate/core/error.h"
#include "infergate/core/log.h"
#include "infergate/core/random.h"
#include "infergate/resilience/slow_start.h"

namespace infergate::upstream {
namespace {

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

}  // namespace

std::string HealthController::Impl::Key(const std::string& pool, const std::string& backend) {
  return pool + '\n' + backend;
}

void HealthController::Impl::Build(std::map<std::string, std::shared_ptr<Tracker>> kept,
                                   const std::vector<PoolTracker>& old_pools) {
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
        t->shared.Reconfigure(shared_config);
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

health::PhiConfig HealthController::Impl::PhiFor(const config::PoolConfig& pc) {
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

health::SuspicionConfig HealthController::Impl::SuspicionFor(const config::PoolConfig& pc) {
  health::SuspicionConfig sc;
  sc.threshold = pc.failure_detector.threshold;
  sc.healthy_threshold = pc.health_check.healthy_threshold;
  return sc;
}

void HealthController::Impl::Configure(Tracker& t, size_t p, size_t b, bool fresh) {
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
  std::string labels = "pool=\"" + observability::Registry::EscapeLabel(pc.name) + "\",backend=\"" +
                       observability::Registry::EscapeLabel(pc.backends[b].name) + "\"";
  if (fresh) {
    t.available = metrics.GetGauge("infergate_backend_available",
                                   "1 while a backend takes new requests, 0 while it is down, "
                                   "suspected, ejected, open or drained.",
                                   labels);
    t.available->Add(1);
    t.in_flight =
        metrics.GetGauge("infergate_upstream_in_flight", "Requests in flight per backend.", labels);
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

void HealthController::Impl::Reconcile(std::shared_ptr<const config::Config> c,
                                       std::shared_ptr<BackendRegistry> r) {
  std::lock_guard lock(mu);
  std::map<std::string, std::shared_ptr<Tracker>> kept;
  // What each kept tracker's loops run with now: they go on (with their connections) when that
  // is unchanged, and restart with the new settings otherwise.
  struct Before {
    const config::PoolConfig* pool;
    std::shared_ptr<const std::vector<tcp::endpoint>> endpoints;
  };
  std::map<const Tracker*, Before> before;
  for (auto& t : trackers) {
    kept.emplace(Key(t->pool_config->name, t->config->name), t);
    before[t.get()] = {t->pool_config, t->endpoints};
  }
  const std::shared_ptr<const config::Config> old_config = config;  // `before` points into it
  std::vector<PoolTracker> old_pools = std::move(pools);
  config = std::move(c);
  registry = std::move(r);
  Build(std::move(kept), old_pools);
  ReconcileModels(old_config->models);
  if (!running) return;
  for (auto& t : trackers) {
    StartModelsLoop(t);
    auto it = before.find(t.get());
    const bool same =
        it != before.end() && it->second.pool->health_check == t->pool_config->health_check &&
        it->second.pool->load_report == t->pool_config->load_report &&
        it->second.pool->tls == t->pool_config->tls && *it->second.endpoints == *t->endpoints;
    if (same) continue;
    ++t->epoch;
    StartLoops(t);
  }
}

void HealthController::Impl::StartLoops(const std::shared_ptr<Tracker>& t) {
  const auto& pc = *t->pool_config;
  if (pc.health_check.enabled) asio::co_spawn(io, ProbeLoop(t, t->epoch), asio::detached);
  if (pc.health_check.canary.enabled) asio::co_spawn(io, CanaryLoop(t, t->epoch), asio::detached);
  if (pc.load_report.enabled) asio::co_spawn(io, LoadReportLoop(t, t->epoch), asio::detached);
  StartModelsLoop(t);
}

}  // namespace infergate::upstream
