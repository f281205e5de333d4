// Request and token rate limits of one config generation: the cells of every limits block
// (tenant, API key, route, model) from a RateStore, their metric series, and RateTicket, one
// exchange's takes, given back when a later limit refuses and corrected by the real token
// count when the exchange ends. Shared by every worker; thread-safe (the cells are).
#pragma once

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/isolation/rate_store.h"
#include "infergate/observability/metrics.h"

namespace infergate::isolation {

enum class LimitKind : uint8_t { kRequests, kTokens, kOutputTokens };
inline constexpr size_t kLimitKinds = 3;
enum class LimitScope : uint8_t { kKey, kTenant, kRoute, kModel };
inline constexpr size_t kLimitScopes = 4;
std::string_view LimitKindName(LimitKind k);    // requests, tokens, output_tokens
std::string_view LimitScopeName(LimitScope s);  // key, tenant, route, model

// The cells of one limits block.
struct ScopeLimits {
  LimitScope scope = LimitScope::kTenant;
  std::string name;  // the tenant, route or model; for a key, its tenant's name
  bool shadow = false;
  std::array<std::shared_ptr<RateCell>, kLimitKinds> cells;  // null: no limit of that kind
  RateCell* cell(LimitKind k) const { return cells[static_cast<size_t>(k)].get(); }
};

// One tenant's series ("" for requests of no known tenant).
struct TenantLimitMetrics {
  observability::Counter* admitted = nullptr;
  // [kind][scope]
  std::array<std::array<observability::Counter*, kLimitScopes>, kLimitKinds> refused{};
  std::array<std::array<observability::Counter*, kLimitScopes>, kLimitKinds> shadow_refused{};
  observability::Counter* tokens_charged = nullptr;
};

class RateLimiter {
 public:
  RateLimiter(const config::Config& config, RateStore& store, observability::Registry& registry);
  bool empty() const { return empty_; }
  // Whether limits are set on routes or models (checked after routing).
  bool after_routing() const { return after_routing_; }
  bool counts_tokens() const { return counts_tokens_; }
  const ScopeLimits* tenant(size_t i) const { return Present(tenants_[i]); }
  const ScopeLimits* key(std::string_view sha256) const;
  const ScopeLimits* route(size_t i) const { return Present(routes_[i]); }
  const ScopeLimits* model(std::string_view name) const;
  bool has_models() const { return !models_.empty(); }
  TenantLimitMetrics& metrics(std::optional<size_t> tenant) {
    return metrics_[tenant ? *tenant : metrics_.size() - 1];
  }

 private:
  static const ScopeLimits* Present(const ScopeLimits& s) { return s.name.empty() ? nullptr : &s; }
  bool empty_ = true;
  bool after_routing_ = false;
  bool counts_tokens_ = false;
  std::vector<ScopeLimits> tenants_;                        // by tenant index; name "" = none
  std::vector<ScopeLimits> routes_;                         // by route index
  std::map<std::string, ScopeLimits, std::less<>> keys_;    // by hex SHA-256
  std::map<std::string, ScopeLimits, std::less<>> models_;  // by model name
  std::vector<TenantLimitMetrics> metrics_;                 // by tenant index, then ""
};

// A limit that refused (or would have, in shadow mode).
struct RateRefusal {
  LimitKind kind = LimitKind::kRequests;
  const ScopeLimits* scope = nullptr;
  uint64_t limit = 0;
  Duration retry_after{};
};

// The limit with the least room left among those a request was checked against, per header
// family (requests; tokens, where output_tokens counts as tokens).
struct RateHeaderState {
  bool set = false;
  uint64_t limit = 0;
  uint64_t remaining = 0;
  Duration reset{};
};

// One exchange's takes. Worker-local (one exchange at a time); the cells it points at live as
// long as the snapshot the exchange holds.
class RateTicket {
 public:
  void Reset();
  // Takes `cost` of `kind` from each scope that limits it. An enforcing scope that refuses
  // ends it: everything this ticket took so far is given back and the refusal returned. A shadow
  // scope that would refuse is counted in `shadow` (and takes nothing); the request goes on.
  std::optional<RateRefusal> Take(std::span<const ScopeLimits* const> scopes, LimitKind kind,
                                  uint64_t cost, TimePoint now, TenantLimitMetrics& metrics,
                                  std::optional<RateRefusal>* shadow = nullptr);
  // The exchange ended: each token take is corrected to the real count (`tokens`: input +
  // output; `output_tokens`), requests stay counted. With nullopt the estimates stand.
  void Settle(std::optional<uint64_t> tokens, std::optional<uint64_t> output_tokens, TimePoint now);
  // Gives back everything taken (a request that was refused after all).
  void GiveBack(TimePoint now);
  const RateHeaderState& requests() const { return headers_[0]; }
  const RateHeaderState& tokens() const { return headers_[1]; }
  uint64_t estimated(LimitKind k) const { return estimated_[static_cast<size_t>(k)]; }

 private:
  struct Taken {
    RateCell* cell = nullptr;
    LimitKind kind = LimitKind::kRequests;
    uint64_t cost = 0;
  };
  void Note(LimitKind kind, const RateCell& cell, const RateDecision& d);
  // At most one take per kind and scope: sized by the enums, not by config or traffic.
  std::array<Taken, kLimitKinds * kLimitScopes> taken_{};
  size_t count_ = 0;
  std::array<uint64_t, kLimitKinds> estimated_{};
  std::array<RateHeaderState, 2> headers_{};
};

}  // namespace infergate::isolation
