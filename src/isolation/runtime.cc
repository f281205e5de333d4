// Builds the process-wide isolation objects and their metric series from the config.
#include "infergate/isolation/runtime.h"

#include "infergate/core/clock.h"
#include "infergate/runner/gguf_runner.h"

#include "isolation/metric_label.h"

namespace infergate::isolation {
namespace {

using observability::Registry;

using detail::Label;

BulkheadOptions BulkheadOptionsFor(const config::Config& config,
                                   const config::CompartmentConfig& c) {
  BulkheadOptions o;
  o.max_concurrent = c.max_concurrent;
  o.max_queue = c.max_queue;
  o.max_wait = c.max_wait;
  for (const auto& tier : config.tiers) o.tier_reserve_percent.push_back(tier.reserve_percent);
  return o;
}

GradientOptions GradientOptionsFor(const config::AdaptiveConcurrencyConfig& a) {
  GradientOptions o;
  o.initial_limit = a.initial_limit;
  o.min_limit = a.min_limit;
  o.max_limit = a.max_limit;
  o.tolerance = a.tolerance;
  o.smoothing = a.smoothing;
  o.sample_window = a.sample_window;
  o.long_window = a.long_window;
  return o;
}

}  // namespace

std::shared_ptr<Bulkhead> StateRegistry::BulkheadFor(const std::string& compartment,
                                                     const BulkheadOptions& options) {
  std::lock_guard lock(mu_);
  auto& e = bulkheads_[compartment];
  auto live = e.object.lock();
  if (live) {
    // A compartment that stays keeps its holders and its queue; new limits apply from now on.
    if (!(e.key == options)) {
      live->SetOptions(options);
      e.key = options;
    }
    return live;
  }
  live = std::make_shared<Bulkhead>(options, SteadyClock::Instance());
  e = {options, live};
  return live;
}

std::shared_ptr<ThreadPool> StateRegistry::ThreadsFor(const std::string& compartment,
                                                      uint32_t threads, uint32_t queue) {
  std::lock_guard lock(mu_);
  auto& e = threads_[compartment];
  auto live = e.object.lock();
  if (live && e.key == std::make_pair(threads, queue)) return live;
  live = std::make_shared<ThreadPool>(compartment, threads, queue);
  e = {{threads, queue}, live};
  return live;
}

std::shared_ptr<AdaptiveGate> StateRegistry::GateFor(const std::string& pool,
                                                     const GradientOptions& options) {
  std::lock_guard lock(mu_);
  auto& e = gates_[pool];
  auto live = e.object.lock();
  if (live && e.key == options) return live;
  live = std::make_shared<AdaptiveGate>(options, SteadyClock::Instance());
  e = {options, live};
  return live;
}

IsolationRuntime::IsolationRuntime(const config::Config& config, Registry& reg,
                                   StateRegistry* state)
    : tenants_(config) {
  static constexpr const char* kReasons[] = {"full", "queue_timeout", "evicted"};
  StateRegistry own;
  if (!state) state = &own;  // nothing shared: the objects live in this runtime only
  for (const auto& c : config.compartments) {
    auto comp = std::make_unique<Compartment>();
    comp->config = &c;
    comp->bulkhead = state->BulkheadFor(c.name, BulkheadOptionsFor(config, c));
    if (c.thread_pool.threads > 0)
      comp->threads = state->ThreadsFor(c.name, c.thread_pool.threads, c.thread_pool.queue);
    std::string base = Label("compartment", c.name);
    comp->metrics.in_flight = reg.GetGauge("infergate_compartment_in_flight",
                                           "Requests holding a slot of each compartment.", base);
    comp->metrics.queued = reg.GetGauge("infergate_compartment_queued",
                                        "Requests waiting for a slot of each compartment.", base);
    comp->metrics.admitted_after_wait =
        reg.GetCounter("infergate_compartment_admitted_after_wait_total",
                       "Requests that got a slot after waiting in the compartment's queue.", base);
    for (const auto& tier : config.tiers) {
      std::array<observability::Counter*, 3> by_reason{};
      for (int r = 0; r < 3; ++r) {
        by_reason[r] = reg.GetCounter(
            "infergate_compartment_rejected_total",
            "Requests a compartment turned away, by priority tier and reason (full, "
            "queue_timeout, evicted by a higher tier).",
            base + "," + Label("tier", tier.name) + "," + Label("reason", kReasons[r]));
      }
      comp->metrics.rejected.push_back(by_reason);
    }
    compartments_.push_back(std::move(comp));
  }
  for (const auto& pool : config.pools) {
    if (pool.adaptive_concurrency.enabled) {
      gates_.push_back(state->GateFor(pool.name, GradientOptionsFor(pool.adaptive_concurrency)));
    } else {
      gates_.push_back(nullptr);
    }
    limited_.push_back(reg.GetCounter("infergate_concurrency_limited_total",
                                      "Requests refused by a pool's adaptive concurrency limit.",
                                      Label("pool", pool.name)));
  }
  for (const auto& r : config.runners) runners_.push_back(runner::MakeRunner(r, &reg));
  limits_ = std::make_unique<RateLimiter>(config, state->rates(), reg);
  for (const auto& route : config.routes) {
    auto& per_trigger = degraded_.emplace_back();
    auto& failed = degrade_failed_.emplace_back();
    for (size_t t = 0; t < config::kTriggerCount; ++t) {
      std::string trigger = Label("trigger", config::TriggerName(static_cast<config::Trigger>(t)));
      std::string base = Label("route", route.name) + "," + trigger;
      failed[t] = nullptr;
      if (!route.degrade.has(static_cast<config::Trigger>(t))) continue;
      for (const auto& f : route.fallbacks) {
        per_trigger[t].push_back(
            reg.GetCounter("infergate_degraded_total",
                           "Requests answered by a fallback, by route, trigger and fallback.",
                           base + "," + Label("fallback", f.name)));
      }
      failed[t] = reg.GetCounter(
          "infergate_degrade_failed_total",
          "Degraded requests for which every fallback failed too (the client got a 503).", base);
    }
  }
  for (const auto& t : config.tenants) {
    tenant_requests_.push_back(reg.GetCounter("infergate_tenant_requests_total",
                                              "Requests by tenant (\"\": no known tenant).",
                                              Label("tenant", t.name)));
  }
  tenant_requests_.push_back(reg.GetCounter("infergate_tenant_requests_total",
                                            "Requests by tenant (\"\": no known tenant).",
                                            Label("tenant", "")));
}

// Thread pools stop when the last snapshot that uses them goes (ThreadPool's destructor).
IsolationRuntime::~IsolationRuntime() = default;

void IsolationRuntime::StopThreadPools() {
  for (auto& c : compartments_) {
    if (c->threads) c->threads->Stop();
  }
}

}  // namespace infergate::isolation
