// The process-wide isolation objects of one config generation: a bulkhead (and thread pool) per
// compartment, an adaptive concurrency gate per pool that asks for one, the tenant table, the
// in-process runners, and their metric handles. Shared by every worker; every member is
// thread-safe. Per-worker degradation state (latches, service-time averages) lives in
// RouteDegradeState, one per route per worker.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/degrade/runner.h"
#include "infergate/isolation/adaptive_limit.h"
#include "infergate/isolation/bulkhead.h"
#include "infergate/isolation/rate_limiter.h"
#include "infergate/isolation/rate_store.h"
#include "infergate/isolation/tenants.h"
#include "infergate/isolation/thread_pool.h"
#include "infergate/observability/metrics.h"

namespace infergate::isolation {

struct CompartmentMetrics {
  observability::Gauge* in_flight = nullptr;
  observability::Gauge* queued = nullptr;
  // [tier][reason]: reason 0 full, 1 queue timeout, 2 evicted by a higher tier.
  std::vector<std::array<observability::Counter*, 3>> rejected;
  observability::Counter* admitted_after_wait = nullptr;
};

struct Compartment {
  const config::CompartmentConfig* config = nullptr;
  // Kept by compartment name in the StateRegistry: shared with other snapshots that keep the
  // compartment (its limits follow the newest snapshot's settings).
  std::shared_ptr<Bulkhead> bulkhead;
  std::shared_ptr<ThreadPool> threads;  // null unless thread_pool.threads > 0
  CompartmentMetrics metrics;
  // Gives a slot back (any thread) and moves the in-flight gauge with it.
  void Release() {
    bulkhead->Release();
    metrics.in_flight->Add(-1);
  }
};

// A slot in a compartment held by one exchange: taken when the bulkhead admitted it (the
// in-flight gauge moves with it), given back when reset, replaced or destroyed. Move-only.
class CompartmentSlot {
 public:
  CompartmentSlot() = default;
  explicit CompartmentSlot(Compartment& c) : c_(&c) { c.metrics.in_flight->Add(1); }
  CompartmentSlot(CompartmentSlot&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  CompartmentSlot& operator=(CompartmentSlot&& o) noexcept {
    if (this != &o) {
      reset();
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  CompartmentSlot(const CompartmentSlot&) = delete;
  CompartmentSlot& operator=(const CompartmentSlot&) = delete;
  ~CompartmentSlot() { reset(); }

  void reset() {
    if (c_) std::exchange(c_, nullptr)->Release();
  }
  explicit operator bool() const { return c_ != nullptr; }
  bool holds(const Compartment& c) const { return c_ == &c; }

 private:
  Compartment* c_ = nullptr;
};

// Isolation state that outlives a config snapshot, kept by identity: a compartment's bulkhead and
// thread pool by compartment name, a pool's adaptive gate by pool name. A snapshot that keeps a
// compartment gets the same bulkhead, so slots in use and the queue carry over and new limits
// apply from then on (Bulkhead::SetOptions). A thread pool whose size changed, and an adaptive
// gate whose settings changed, are new objects (the old ones finish what they hold). Entries
// live as long as a snapshot uses them. Thread-safe.
// A slot under a pool's adaptive concurrency limit held by one exchange: given back with the
// latency sample when the pool answered normally (Release), else without one when reset or
// destroyed. Move-only.
class GateSlot {
 public:
  GateSlot() = default;
  GateSlot(AdaptiveGate& gate, TimePoint start) : gate_(&gate), start_(start) {}
  GateSlot(GateSlot&& o) noexcept : gate_(std::exchange(o.gate_, nullptr)), start_(o.start_) {}
  GateSlot& operator=(GateSlot&& o) noexcept {
    if (this != &o) {
      reset();
      gate_ = std::exchange(o.gate_, nullptr);
      start_ = o.start_;
    }
    return *this;
  }
  GateSlot(const GateSlot&) = delete;
  GateSlot& operator=(const GateSlot&) = delete;
  ~GateSlot() { reset(); }

  // `head_at`: when the pool's response head arrived, for a normal answer; else nullopt.
  void Release(std::optional<TimePoint> head_at) {
    if (!gate_) return;
    std::optional<std::chrono::nanoseconds> rtt;
    if (head_at && *head_at > start_) rtt = *head_at - start_;
    std::exchange(gate_, nullptr)->Release(rtt);
  }
  void reset() { Release(std::nullopt); }
  explicit operator bool() const { return gate_ != nullptr; }

 private:
  AdaptiveGate* gate_ = nullptr;
  TimePoint start_{};
};

class StateRegistry {
 public:
  std::shared_ptr<Bulkhead> BulkheadFor(const std::string& compartment,
                                        const BulkheadOptions& options);
  std::shared_ptr<ThreadPool> ThreadsFor(const std::string& compartment, uint32_t threads,
                                         uint32_t queue);
  std::shared_ptr<AdaptiveGate> GateFor(const std::string& pool, const GradientOptions& options);
  // The rate-limit cells, kept by limit key: this process's, or the store set by UseRates (the
  // Redis-backed one, shared_state.redis). Set before the first snapshot is built.
  RateStore& rates() { return shared_rates_ ? *shared_rates_ : rates_; }
  void UseRates(std::unique_ptr<RateStore> store) { shared_rates_ = std::move(store); }

 private:
  LocalRateStore rates_;
  std::unique_ptr<RateStore> shared_rates_;
  template <typename T, typename Key>
  struct Entry {
    Key key;
    std::weak_ptr<T> object;
  };
  std::mutex mu_;
  std::map<std::string, Entry<Bulkhead, BulkheadOptions>, std::less<>> bulkheads_;
  std::map<std::string, Entry<ThreadPool, std::pair<uint32_t, uint32_t>>, std::less<>> threads_;
  std::map<std::string, Entry<AdaptiveGate, GradientOptions>, std::less<>> gates_;
};

class IsolationRuntime {
 public:
  // `state`: where state that outlives the snapshot is kept; null: this runtime's own.
  IsolationRuntime(const config::Config& config, observability::Registry& registry,
                   StateRegistry* state = nullptr);
  ~IsolationRuntime();
  // Runs the jobs already queued and joins every compartment's threads. Call before the
  // workers' io_contexts are destroyed (runner jobs post to them). Idempotent.
  void StopThreadPools();

  Compartment& compartment(size_t i) { return *compartments_[i]; }
  // Null when the pool has no adaptive_concurrency.
  AdaptiveGate* gate(size_t pool) { return gates_[pool].get(); }
  const TenantTable& tenants() const { return tenants_; }
  RateLimiter& limits() { return *limits_; }
  degrade::Runner& runner(size_t i) { return *runners_[i]; }

  // infergate_degraded_total{route,trigger,fallback}: [route][trigger][fallback index].
  observability::Counter* degraded(size_t route, config::Trigger t, size_t fallback) {
    return degraded_[route][static_cast<size_t>(t)][fallback];
  }
  // infergate_degrade_failed_total{route,trigger}: every fallback failed too.
  observability::Counter* degrade_failed(size_t route, config::Trigger t) {
    return degrade_failed_[route][static_cast<size_t>(t)];
  }
  observability::Counter* limited(size_t pool) { return limited_[pool]; }
  // infergate_tenant_requests_total{tenant}; the last entry counts requests of no known tenant.
  observability::Counter* tenant_requests(std::optional<size_t> tenant) {
    return tenant_requests_[tenant ? *tenant : tenant_requests_.size() - 1];
  }

 private:
  std::vector<std::unique_ptr<Compartment>> compartments_;
  std::vector<std::shared_ptr<AdaptiveGate>> gates_;
  TenantTable tenants_;
  std::unique_ptr<RateLimiter> limits_;
  std::vector<std::unique_ptr<degrade::Runner>> runners_;
  std::vector<std::array<std::vector<observability::Counter*>, config::kTriggerCount>> degraded_;
  std::vector<std::array<observability::Counter*, config::kTriggerCount>> degrade_failed_;
  std::vector<observability::Counter*> limited_;
  std::vector<observability::Counter*> tenant_requests_;
};

}  // namespace infergate::isolation
