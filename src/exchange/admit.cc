// Phase: admit. Tenant identification, the tenant's and the route's compartments (waiting in
// their queues when they have one), and the pool's adaptive concurrency gate. Slots are
// isolation::CompartmentSlot objects that give themselves back.
#include <boost/asio/post.hpp>

#include <cstdio>

#include "infergate/core/log.h"
#include "infergate/exchange/exchange.h"

namespace infergate::exchange {
namespace asio = boost::asio;

PhaseResult Exchange::Identify() {
  const config::Config& cfg = *snapshot_->config;
  isolation::IsolationRuntime& iso = *snapshot_->isolation;
  if (identified_) return std::nullopt;
  identified_ = true;
  const bool require_key = server_->listener().require_api_key;
  tenant_.reset();
  key_sha256_ = nullptr;
  if (!cfg.tenants.empty()) {
    std::string_view by_header;
    if (!require_key && !cfg.tenant_identification.header.empty())
      by_header = req_->Get(cfg.tenant_identification.header);
    isolation::TenantLookup found =
        iso.tenants().Identify(req_->Get("authorization"), by_header, server_->peer_names());
    tenant_ = found.tenant;
    key_sha256_ = found.key_sha256;
    iso.tenant_requests(tenant_)->Inc();
  }
  if (require_key && !tenant_) {
    extra_name_ = "www-authenticate";
    extra_value_ = "Bearer";
    return Error{ErrorKind::kUnauthorized,
                 req_->Get("authorization").empty()
                     ? "Missing API key: send Authorization: Bearer YOUR_KEY."
                     : "Incorrect API key provided."};
  }
  return std::nullopt;
}

asio::awaitable<PhaseResult> Exchange::Admit(const config::RouteConfig& route) {
  const config::Config& cfg = *snapshot_->config;
  isolation::IsolationRuntime& iso = *snapshot_->isolation;
  PhaseResult identified = Identify();
  if (identified) co_return identified;
  std::optional<size_t> compartments[2];
  if (tenant_) {
    tier_ = cfg.tenants[*tenant_].tier;
    compartments[0] = cfg.tenants[*tenant_].compartment;
  }
  if (route.compartment && route.compartment != compartments[0])
    compartments[1] = route.compartment;
  isolation::CompartmentSlot* slots[2] = {&tenant_slot_, &route_slot_};
  for (size_t ci = 0; ci < 2; ++ci) {
    const std::optional<size_t>& c = compartments[ci];
    if (!c) continue;
    isolation::Compartment& comp = iso.compartment(*c);
    // The route's queue is not joined when the wait it predicts is over the route's budget.
    double wait_budget = 0;
    if (c == route.compartment && route.degrade.has(config::Trigger::kPredictedWait))
      wait_budget = std::chrono::duration<double>(route.degrade.max_predicted_wait).count();
    AdmitResult r = co_await AdmitTo(comp, *slots[ci], wait_budget);
    if (r == AdmitResult::kAdmitted) continue;
    if (r == AdmitResult::kAborted) co_return Error{abort_.value_or(ErrorKind::kClientAbort), ""};
    if (r == AdmitResult::kPredictedWait) {
      predicted_wait_ = true;
      char buf[160];
      std::snprintf(buf, sizeof(buf),
                    "the predicted wait in compartment %s's queue is %.1fs (budget %s)",
                    comp.config->name.c_str(), predicted_queue_wait_,
                    FormatDuration(route.degrade.max_predicted_wait).c_str());
      co_return Error{ErrorKind::kCompartmentFull, buf};
    }
    full_degrades_ = comp.config->on_full == config::CompartmentConfig::OnFull::kDegrade;
    thread_local TimePoint last_shed{};
    if (DueForWarning(last_shed)) {
      IG_WARN("compartment %s is full: %s tier %s requests (in flight %u, queued %u)",
              comp.config->name.c_str(), full_degrades_ ? "degrading" : "shedding",
              cfg.tiers[tier_].name.c_str(), comp.bulkhead->in_flight(), comp.bulkhead->queued());
    }
    const auto secs = std::chrono::ceil<std::chrono::seconds>(comp.config->retry_after).count();
    extra_name_ = "retry-after";
    extra_value_ = std::to_string(secs);
    std::string who = "compartment " + comp.config->name;
    if (cfg.tiers.size() > 1) who += " (tier " + cfg.tiers[tier_].name + ")";
    switch (r) {
      case AdmitResult::kTimeout:
        co_return Error{
            ErrorKind::kCompartmentFull,
            who + " stayed full for " + FormatDuration(comp.config->max_wait) + "; retry later"};
      case AdmitResult::kEvicted:
        co_return Error{ErrorKind::kCompartmentFull,
                        who +
                            " is full and its queue was needed for higher-priority requests; "
                            "retry later"};
      default:
        co_return Error{ErrorKind::kCompartmentFull,
                        who + " is full (" + std::to_string(comp.config->max_concurrent) +
                            " concurrent requests" +
                            (comp.config->max_queue > 0 ? " and a full queue" : "") +
                            "); retry later"};
    }
  }
  co_return std::nullopt;
}

// A slot in one compartment: at once, or after waiting in its queue (up to max_wait). With a
// `wait_budget` (seconds), a request does not queue when the requests ahead of it x the route's
// recent service time / the slots predict a longer wait (kPredictedWait).
asio::awaitable<Exchange::AdmitResult> Exchange::AdmitTo(isolation::Compartment& comp,
                                                         isolation::CompartmentSlot& slot,
                                                         double wait_budget) {
  isolation::Bulkhead& b = *comp.bulkhead;
  if (b.TryAcquire(tier_)) {
    slot = isolation::CompartmentSlot(comp);
    co_return AdmitResult::kAdmitted;
  }
  if (wait_budget > 0 && comp.config->max_queue > 0) {
    const double service = view_->degrade[route_index_]->service_seconds;
    predicted_queue_wait_ = (b.queued_ahead(tier_) + 1) * service / comp.config->max_concurrent;
    if (predicted_queue_wait_ > wait_budget) co_return AdmitResult::kPredictedWait;
  }
  struct WaitState {
    bool done = false;
    bool admitted = false;
    isolation::Rejection why = isolation::Rejection::kNone;
    Wake* wake = nullptr;  // null once the exchange stopped waiting
  };
  auto state = std::make_shared<WaitState>();
  state->wake = &wake_;
  auto ex = env_.executor;
  // The bulkhead decides on any thread; the decision is posted to this exchange's executor.
  std::optional<uint64_t> ticket =
      b.Enqueue(tier_, [state, ex](bool admitted, isolation::Rejection why) {
        asio::post(ex, [state, admitted, why] {
          state->done = true;
          state->admitted = admitted;
          state->why = why;
          if (state->wake) state->wake->Fire();
        });
      });
  auto& rejected = comp.metrics.rejected[tier_];
  if (!ticket) {
    rejected[0]->Inc();
    co_return AdmitResult::kFull;
  }
  comp.metrics.queued->Add(1);
  const TimePoint deadline = env_.timers->Now() + comp.config->max_wait;
  bool outcome_pending = false;  // the bulkhead decided; its callback is on its way
  std::optional<AdmitResult> gave_up;
  while (!state->done) {
    if (!outcome_pending) wake_alarm_->ArmAt(deadline, [this] { wake_.Fire(); });
    co_await wake_.Wait();
    wake_alarm_->Disarm();
    if (state->done || outcome_pending) continue;
    if (abort_) {
      gave_up = AdmitResult::kAborted;
    } else if (env_.timers->Now() >= deadline) {
      b.Expire();
      gave_up = AdmitResult::kTimeout;
    } else {
      continue;
    }
    if (b.Cancel(*ticket)) break;
    outcome_pending = true;
    gave_up.reset();
  }
  state->wake = nullptr;
  comp.metrics.queued->Add(-1);
  if (gave_up) {
    if (*gave_up == AdmitResult::kTimeout) rejected[1]->Inc();
    co_return *gave_up;
  }
  if (state->admitted) {
    slot = isolation::CompartmentSlot(comp);
    if (abort_) co_return AdmitResult::kAborted;  // released with the exchange
    comp.metrics.admitted_after_wait->Inc();
    co_return AdmitResult::kAdmitted;
  }
  if (state->why == isolation::Rejection::kEvicted) {
    rejected[2]->Inc();
    co_return AdmitResult::kEvicted;
  }
  rejected[1]->Inc();
  co_return AdmitResult::kTimeout;
}

// A slot under the pool's adaptive concurrency limit; true when the pool has none.
bool Exchange::TakeGate(size_t pool_index) {
  isolation::AdaptiveGate* gate = snapshot_->isolation->gate(pool_index);
  if (!gate) return true;
  if (!gate->TryAcquire()) {
    snapshot_->isolation->limited(pool_index)->Inc();
    thread_local TimePoint last_log{};
    if (DueForWarning(last_log)) {
      IG_WARN(
          "pool %s is at its adaptive concurrency limit (%u in flight): refusing requests over it",
          snapshot_->config->pools[pool_index].name.c_str(), gate->limit());
    }
    return false;
  }
  gate_ = isolation::GateSlot(*gate, env_.timers->Now());
  return true;
}

}  // namespace infergate::exchange
