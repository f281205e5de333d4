// Builds the limits of one config generation from the RateStore, and one exchange's takes.
#include "infergate/isolation/rate_limiter.h"

#include "isolation/metric_label.h"

namespace infergate::isolation {
namespace {

using observability::Registry;

using detail::Label;

// "tenant/acme/requests": the cell's key in the store.
ScopeLimits Build(RateStore& store, LimitScope scope, std::string_view id, std::string name,
                  const config::LimitsConfig& limits) {
  ScopeLimits s;
  s.scope = scope;
  s.name = std::move(name);
  s.shadow = limits.shadow;
  const uint64_t amounts[kLimitKinds] = {limits.requests_per_minute, limits.tokens_per_minute,
                                         limits.output_tokens_per_minute};
  for (size_t k = 0; k < kLimitKinds; ++k) {
    if (amounts[k] == 0) continue;
    std::string key = std::string(LimitScopeName(scope)) + "/" + std::string(id) + "/" +
                      std::string(LimitKindName(static_cast<LimitKind>(k)));
    s.cells[k] = store.Cell(key, Rate{amounts[k], std::chrono::minutes(1)});
  }
  return s;
}

}  // namespace

std::string_view LimitKindName(LimitKind k) {
  switch (k) {
    case LimitKind::kRequests:
      return "requests";
    case LimitKind::kTokens:
      return "tokens";
    case LimitKind::kOutputTokens:
      return "output_tokens";
  }
  return "requests";
}

std::string_view LimitScopeName(LimitScope s) {
  switch (s) {
    case LimitScope::kKey:
      return "key";
    case LimitScope::kTenant:
      return "tenant";
    case LimitScope::kRoute:
      return "route";
    case LimitScope::kModel:
      return "model";
  }
  return "tenant";
}

RateLimiter::RateLimiter(const config::Config& config, RateStore& store, Registry& reg) {
  auto note = [this](const config::LimitsConfig& l) {
    empty_ = false;
    if (l.tokens_per_minute != 0 || l.output_tokens_per_minute != 0) counts_tokens_ = true;
  };
  tenants_.resize(config.tenants.size());
  for (size_t i = 0; i < config.tenants.size(); ++i) {
    const config::TenantConfig& t = config.tenants[i];
    if (t.limits) {
      tenants_[i] = Build(store, LimitScope::kTenant, t.name, t.name, *t.limits);
      note(*t.limits);
    }
    for (const config::ApiKeyLimits& k : t.key_limits) {
      keys_.emplace(k.sha256, Build(store, LimitScope::kKey, k.sha256, t.name, k.limits));
      note(k.limits);
    }
  }
  routes_.resize(config.routes.size());
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const config::RouteConfig& r = config.routes[i];
    if (!r.limits) continue;
    routes_[i] = Build(store, LimitScope::kRoute, r.name, r.name, *r.limits);
    note(*r.limits);
    after_routing_ = true;
  }
  for (const config::ModelLimitsConfig& m : config.model_limits) {
    models_.emplace(m.model, Build(store, LimitScope::kModel, m.model, m.model, m.limits));
    note(m.limits);
    after_routing_ = true;
  }
  if (empty_) return;
  auto series = [&reg](const std::string& tenant) {
    TenantLimitMetrics m;
    const std::string base = Label("tenant", tenant);
    m.admitted = reg.GetCounter("infergate_rate_limit_admitted_total",
                                "Requests every rate limit admitted, by tenant.", base);
    m.tokens_charged = reg.GetCounter(
        "infergate_rate_limit_tokens_charged_total",
        "Tokens (input + output) charged to rate limits, by tenant, after the real usage.", base);
    for (size_t k = 0; k < kLimitKinds; ++k) {
      for (size_t s = 0; s < kLimitScopes; ++s) {
        const std::string labels = base + "," +
                                   Label("limit", LimitKindName(static_cast<LimitKind>(k))) + "," +
                                   Label("scope", LimitScopeName(static_cast<LimitScope>(s)));
        m.refused[k][s] = reg.GetCounter("infergate_rate_limit_refused_total",
                                         "Requests refused (429) by a rate limit, by tenant, "
                                         "limit (requests, tokens, output_tokens) and scope.",
                                         labels);
        m.shadow_refused[k][s] = reg.GetCounter(
            "infergate_rate_limit_shadow_refused_total",
            "Requests a shadow rate limit would have refused (and let through), by tenant, "
            "limit and scope.",
            labels);
      }
    }
    return m;
  };
  for (const config::TenantConfig& t : config.tenants) metrics_.push_back(series(t.name));
  metrics_.push_back(series(""));
}

const ScopeLimits* RateLimiter::key(std::string_view sha256) const {
  if (keys_.empty()) return nullptr;
  auto it = keys_.find(sha256);
  return it == keys_.end() ? nullptr : &it->second;
}

const ScopeLimits* RateLimiter::model(std::string_view name) const {
  if (models_.empty()) return nullptr;
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second;
}

void RateTicket::Reset() {
  count_ = 0;
  estimated_ = {};
  headers_ = {};
}

void RateTicket::Note(LimitKind kind, const RateCell& cell, const RateDecision& d) {
  RateHeaderState& h = headers_[kind == LimitKind::kRequests ? 0 : 1];
  if (h.set && h.remaining <= d.remaining) return;
  h.set = true;
  h.limit = cell.rate().amount;
  h.remaining = d.admitted ? d.remaining : 0;
  h.reset = d.reset;
}

std::optional<RateRefusal> RateTicket::Take(std::span<const ScopeLimits* const> scopes,
                                            LimitKind kind, uint64_t cost, TimePoint now,
                                            TenantLimitMetrics& metrics,
                                            std::optional<RateRefusal>* shadow) {
  const size_t k = static_cast<size_t>(kind);
  estimated_[k] = cost;
  for (const ScopeLimits* s : scopes) {
    if (s == nullptr) continue;
    RateCell* cell = s->cell(kind);
    if (cell == nullptr) continue;
    RateDecision d = cell->Take(cost, now);
    Note(kind, *cell, d);
    const size_t si = static_cast<size_t>(s->scope);
    if (d.admitted) {
      if (count_ < taken_.size()) taken_[count_++] = Taken{cell, kind, cost};
      continue;
    }
    RateRefusal refusal{kind, s, cell->rate().amount, d.retry_after};
    if (s->shadow) {
      if (metrics.shadow_refused[k][si]) metrics.shadow_refused[k][si]->Inc();
      if (shadow != nullptr && !*shadow) *shadow = refusal;
      continue;
    }
    if (metrics.refused[k][si]) metrics.refused[k][si]->Inc();
    GiveBack(now);
    return refusal;
  }
  return std::nullopt;
}

void RateTicket::Settle(std::optional<uint64_t> tokens, std::optional<uint64_t> output_tokens,
                        TimePoint now) {
  for (size_t i = 0; i < count_; ++i) {
    const Taken& t = taken_[i];
    std::optional<uint64_t> real;
    if (t.kind == LimitKind::kTokens) real = tokens;
    if (t.kind == LimitKind::kOutputTokens) real = output_tokens;
    if (!real) continue;
    t.cell->Adjust(static_cast<int64_t>(*real) - static_cast<int64_t>(t.cost), now);
  }
  count_ = 0;
}

void RateTicket::GiveBack(TimePoint now) {
  for (size_t i = 0; i < count_; ++i) {
    taken_[i].cell->Adjust(-static_cast<int64_t>(taken_[i].cost), now);
  }
  count_ = 0;
}

}  // namespace infergate::isolation
