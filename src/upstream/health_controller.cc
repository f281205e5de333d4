// The control thread: active probes, phi accrual over evidence of life, circuit breakers over the
// workers' outcomes, outlier ejection over consecutive failures, slow start, and the load reports
// scraped from the backends' /metrics; publishes verdicts and reports.
#include "infergate/upstream/health_controller.h"
#include "upstream/health_impl.h"

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

using boost::system::error_code;
constexpr auto kTick = std::chrono::milliseconds(10);

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

BackendRegistry::BackendRegistry(const BackendRegistry& from, Addresses addresses)
    : config_(from.config_),
      states_(from.states_),
      endpoints_(std::move(addresses)),
      tls_(from.tls_),
      tls_error_(from.tls_error_) {}

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

void HealthController::Impl::Count(Tracker& t, const char* change) {
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

asio::awaitable<void> HealthController::Impl::TickLoop() {
  asio::steady_timer timer(io);
  while (running) {
    Tick(std::chrono::steady_clock::now());
    timer.expires_after(kTick);
    co_await timer.async_wait(kNoThrow);
  }
}

void HealthController::Impl::Tick(SteadyTime now) {
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
    if (delta.failure > 0) t.shared.OnOwnFault();
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
    ShareVerdict(t, now);
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

void HealthController::Impl::Suspicion(Tracker& t, const health::Transition& tr) {
  bool suspected = tr.to == health::Availability::kSuspected;
  t.state->SetFlag(kSuspected, suspected);
  IG_WARN("backend %s: %s (%s)", t.label.c_str(), suspected ? "suspected" : "no longer suspected",
          tr.reason.c_str());
  Count(t, suspected ? "suspected" : "recovered");
}

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
  if (impl_->sharing) {
    std::promise<void> closed;
    asio::post(impl_->io, [&] {
      impl_->sharing->publisher->Close();
      impl_->sharing->subscriber->Close();
      closed.set_value();
    });
    closed.get_future().wait();
  }
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

std::shared_ptr<const ModelCatalog> HealthController::models() const { return impl_->models; }

}  // namespace infergate::upstream
