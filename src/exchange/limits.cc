// Phase: admit, its rate limits. From the request head, before its body is received: the API
// key's and the tenant's request counts, and the route's when the head alone decides the route
// (a refused request costs no body bytes). After routing: the route's request count (when the
// route needed the body) and the model's, then every token limit on an estimate read from the
// body (README "Rate limits"). When the exchange ends, the token takes are corrected to the real
// usage. Every answer carries the x-ratelimit-* headers of the tightest limit checked.
#include <cstdio>

#include "infergate/core/log.h"
#include "infergate/exchange/exchange.h"
#include "infergate/routing/body_model.h"

namespace infergate::exchange {
namespace {

using isolation::LimitKind;
using isolation::LimitScope;

// Output tokens assumed for a request that gives no max_tokens (nor max_completion_tokens,
// max_output_tokens); corrected to the real count when the answer ends.
constexpr uint64_t kDefaultOutputEstimate = 256;

std::string Describe(const isolation::RateRefusal& r) {
  const isolation::ScopeLimits& s = *r.scope;
  std::string who;
  switch (s.scope) {
    case LimitScope::kKey:
      who = "this API key (tenant " + s.name + ")";
      break;
    case LimitScope::kTenant:
      who = "tenant " + s.name;
      break;
    case LimitScope::kRoute:
      who = "route " + s.name;
      break;
    case LimitScope::kModel:
      who = "model " + s.name;
      break;
  }
  const char* what = r.kind == LimitKind::kRequests ? "requests"
                     : r.kind == LimitKind::kTokens ? "tokens"
                                                    : "output tokens";
  return "Rate limit reached for " + who + " on " + what + " per minute: limit " +
         std::to_string(r.limit) + ". Please try again in " +
         std::to_string(isolation::RetryAfterSeconds(r.retry_after)) + "s.";
}

// Routing on the head alone: asking for the body's model means the head does not decide.
class HeadOnlyModel final : public routing::ModelSource {
 public:
  Expected<std::optional<std::string_view>, Error> Model() override {
    asked = true;
    return MakeUnexpected(Error{ErrorKind::kInternal, "routing needs the body"});
  }
  bool asked = false;
};

}  // namespace

PhaseResult Exchange::Refuse(const isolation::RateRefusal& r) {
  extra_name_ = "retry-after";
  extra_value_ = std::to_string(isolation::RetryAfterSeconds(r.retry_after));
  return Error{ErrorKind::kRateLimited, Describe(r)};
}

void Exchange::NoteShadow(const std::optional<isolation::RateRefusal>& shadow) {
  if (!shadow) return;
  thread_local TimePoint last{};
  if (!DueForWarning(last)) return;
  IG_WARN("rid=%s: shadow rate limit exceeded, request let through: %s", request_id_.c_str(),
          Describe(*shadow).c_str());
}

PhaseResult Exchange::LimitHead() {
  isolation::RateLimiter& limits = snapshot_->isolation->limits();
  limits_on_ = true;
  rate_.Reset();
  scopes_ = {};
  prompt_estimate_ = 0;
  tokens_checked_ = route_taken_ = false;
  if (PhaseResult failed = Identify()) return failed;
  if (tenant_) {
    scopes_[static_cast<size_t>(LimitScope::kTenant)] = limits.tenant(*tenant_);
    if (key_sha256_ != nullptr)
      scopes_[static_cast<size_t>(LimitScope::kKey)] = limits.key(*key_sha256_);
  }
  std::optional<isolation::RateRefusal> shadow;
  auto refused = rate_.Take(scopes_, LimitKind::kRequests, 1, env_.timers->Now(),
                            limits.metrics(tenant_), &shadow);
  NoteShadow(shadow);
  RateHeadersChanged();
  if (refused) return Refuse(*refused);
  return std::nullopt;
}

PhaseResult Exchange::LimitRouteHead() {
  isolation::RateLimiter& limits = snapshot_->isolation->limits();
  if (!limits.after_routing()) return std::nullopt;
  const http::Request& req = *req_;
  HeadOnlyModel probe;
  auto found = snapshot_->routes.Find({req.method, req.path, req.authority, req.headers}, probe);
  if (probe.asked || !found || !*found) return std::nullopt;  // Route decides, after the body
  head_route_ = **found;  // the first match, whatever the body says: Route takes it as found
  const isolation::ScopeLimits* route = limits.route((*found)->route_index);
  if (!route || !route->cell(LimitKind::kRequests)) return std::nullopt;
  scopes_[static_cast<size_t>(LimitScope::kRoute)] = route;
  route_taken_ = true;
  const isolation::ScopeLimits* now[] = {route};
  std::optional<isolation::RateRefusal> shadow;
  auto refused = rate_.Take(now, LimitKind::kRequests, 1, env_.timers->Now(),
                            limits.metrics(tenant_), &shadow);
  NoteShadow(shadow);
  RateHeadersChanged();
  if (!refused) return std::nullopt;
  rec_.route = static_cast<int>((*found)->route_index);  // counted as the route's answer
  return Refuse(*refused);
}

PhaseResult Exchange::LimitRouted(routing::BodyModel& model) {
  isolation::RateLimiter& limits = snapshot_->isolation->limits();
  isolation::TenantLimitMetrics& metrics = limits.metrics(tenant_);
  const TimePoint now = env_.timers->Now();
  std::optional<isolation::RateRefusal> shadow;
  if (limits.after_routing()) {
    if (!route_taken_)
      scopes_[static_cast<size_t>(LimitScope::kRoute)] = limits.route(route_index_);
    if (limits.has_models()) {
      model.Model();  // model limits name the model the client sent
      if (const routing::BodyFields* f = model.fields(); f && f->model)
        scopes_[static_cast<size_t>(LimitScope::kModel)] = limits.model(*f->model);
    }
    const isolation::ScopeLimits* later[] = {
        route_taken_ ? nullptr : scopes_[static_cast<size_t>(LimitScope::kRoute)],
        scopes_[static_cast<size_t>(LimitScope::kModel)]};
    if (auto refused = rate_.Take(later, LimitKind::kRequests, 1, now, metrics, &shadow)) {
      RateHeadersChanged();
      return Refuse(*refused);
    }
  }
  bool tokens = false;
  for (const isolation::ScopeLimits* s : scopes_) {
    if (s && (s->cell(LimitKind::kTokens) || s->cell(LimitKind::kOutputTokens))) tokens = true;
  }
  if (tokens) {
    tokens_checked_ = true;
    model.Model();
    const routing::BodyFields* f = model.fields();
    const uint64_t prompt = f ? f->prompt_bytes : req_->body->size();
    const uint64_t output = f && f->max_tokens ? *f->max_tokens : kDefaultOutputEstimate;
    prompt_estimate_ = (prompt + 3) / 4;
    for (LimitKind k : {LimitKind::kTokens, LimitKind::kOutputTokens}) {
      const uint64_t cost = k == LimitKind::kTokens ? prompt_estimate_ + output : output;
      if (auto refused = rate_.Take(scopes_, k, cost, now, metrics, &shadow)) {
        RateHeadersChanged();
        return Refuse(*refused);
      }
    }
  }
  NoteShadow(shadow);
  RateHeadersChanged();
  metrics.admitted->Inc();
  return std::nullopt;
}

void Exchange::SettleLimits() {
  const TimePoint now = env_.timers->Now();
  std::optional<uint64_t> total, output;
  if (rec_.input_tokens || rec_.output_tokens) {
    output = rec_.output_tokens.value_or(rate_.estimated(LimitKind::kOutputTokens));
    total = rec_.input_tokens.value_or(prompt_estimate_) + *output;
  } else if (rec_.head_at == SteadyTime{}) {
    total = output = 0;  // nothing answered: no tokens were spent
  }
  rate_.Settle(total, output, now);
  if (!tokens_checked_) return;  // no token limit applied: nothing was charged
  const uint64_t charged = total.value_or(rate_.estimated(LimitKind::kTokens));
  if (charged > 0) snapshot_->isolation->limits().metrics(tenant_).tokens_charged->Inc(charged);
}

// Called after each take; the values are formatted once, when an answer's head takes them (the
// head check's values were formatted and then thrown away by the routed check's: about 1,000
// instructions a request).
void Exchange::RateHeadersChanged() { rate_headers_due_ = true; }

void Exchange::AddRateHeaders(std::vector<HeaderField>& headers) {
  if (rate_headers_due_) {
    rate_headers_due_ = false;
    rate_header_count_ = 0;
    auto add = [this](const isolation::RateHeaderState& h, size_t first) {
      if (!h.set) return;
      rate_values_[first] = std::to_string(h.limit);
      rate_values_[first + 1] = std::to_string(h.remaining);
      rate_values_[first + 2] = isolation::FormatResetDuration(h.reset);
      rate_header_count_ |= first == 0 ? 1u : 2u;
    };
    add(rate_.requests(), 0);
    add(rate_.tokens(), 3);
  }
  static constexpr std::string_view kNames[] = {
      "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
      "x-ratelimit-limit-tokens",   "x-ratelimit-remaining-tokens",   "x-ratelimit-reset-tokens"};
  for (size_t i = 0; i < 6; ++i) {
    if ((rate_header_count_ >> (i / 3)) & 1u) headers.push_back({kNames[i], rate_values_[i]});
  }
}

}  // namespace infergate::exchange
