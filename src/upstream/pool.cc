// Per-worker backend runtimes, idle connection reuse and load balancing.
#include "infergate/upstream/pool.h"

#include <algorithm>
#include <limits>

#include "infergate/core/log.h"
#include "infergate/resilience/panic.h"
#include "infergate/resilience/priority.h"
#include "infergate/upstream/health_controller.h"

namespace infergate::upstream {
namespace {

bool Excluded(std::span<const size_t> exclude, size_t i) {
  return std::find(exclude.begin(), exclude.end(), i) != exclude.end();
}

// Envoy's normalized total availability, in percent: each priority level's share of usable
// backends times the overprovisioning factor, capped at 100, summed over the levels and capped
// at 100. At 100 the lower levels can absorb everything the higher ones lost.
double NormalizedTotalAvailability(const std::vector<BackendRuntime>& backends,
                                   const std::vector<uint32_t>& priorities,
                                   const std::vector<char>& usable,
                                   double overprovisioning_factor) {
  double sum = 0.0;
  for (uint32_t level : priorities) {
    size_t total = 0, up = 0;
    for (size_t i = 0; i < backends.size(); ++i) {
      if (backends[i].config->priority != level) continue;
      ++total;
      up += usable[i];
    }
    sum += std::min(100.0, resilience::HealthyPercent(up, total) * overprovisioning_factor);
  }
  return std::min(100.0, sum);
}

bool Fresh(const LoadReport& r, std::chrono::steady_clock::time_point now, Duration max_age) {
  return r.valid && now - r.at <= max_age;
}

}  // namespace

std::vector<tcp::endpoint> ResolveBackend(const config::HostPort& hp) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(hp.host, ec);
  if (!ec) return {tcp::endpoint(addr, hp.port)};
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
  std::vector<tcp::endpoint> out;
  if (ec) return out;
  for (const auto& r : results) out.push_back(r.endpoint());
  return out;
}

namespace {
resilience::RetryBudgetConfig BudgetConfig(const config::PoolConfig& pool) {
  return {pool.retry_budget.budget_percent, pool.retry_budget.min_retry_concurrency};
}
}  // namespace

std::shared_ptr<resilience::RetryBudget> PoolStateRegistry::BudgetFor(
    const config::PoolConfig& pool) {
  const resilience::RetryBudgetConfig want = BudgetConfig(pool);
  auto it = budgets_.find(pool.name);
  if (it != budgets_.end() && it->second.config == want) return it->second.budget;
  auto budget = std::make_shared<resilience::RetryBudget>(want);
  budgets_[pool.name] = Budget{want, budget};
  return budget;
}

PoolRuntime::PoolRuntime(const config::PoolConfig& config, std::vector<BackendRuntime> backends,
                         observability::Counter* panic_entered,
                         std::shared_ptr<resilience::RetryBudget> budget)
    : config_(&config),
      backends_(std::move(backends)),
      retry_budget_(budget ? std::move(budget)
                           : std::make_shared<resilience::RetryBudget>(BudgetConfig(config))),
      panic_entered_(panic_entered) {
  for (const auto& b : backends_) {
    if (std::find(priorities_.begin(), priorities_.end(), b.config->priority) ==
        priorities_.end()) {
      priorities_.push_back(b.config->priority);
    }
  }
  std::sort(priorities_.begin(), priorities_.end());
  if (config.affinity.source != config::AffinityConfig::Source::kNone) {
    std::vector<resilience::RingHost> hosts;
    for (const auto& b : backends_) hosts.push_back({b.config->name, b.config->weight});
    ring_ = resilience::HashRing(hosts);
  }
}

uint64_t PoolRuntime::EffectiveWeight(size_t i) const {
  const auto& b = backends_[i];
  uint64_t permille = b.shared ? b.shared->weight_permille() : 1000;
  return std::max<uint64_t>(1, b.config->weight * permille);  // thousandths of a weight unit
}

int PoolRuntime::Pick(Rng& rng, std::span<const size_t> exclude,
                      std::optional<uint64_t> affinity_key) {
  const size_t n = backends_.size();
  if (n == 0) return -1;
  thread_local std::vector<size_t> candidates;
  thread_local std::vector<char> usable;
  usable.assign(n, 0);
  size_t available = 0;
  for (size_t i = 0; i < n; ++i) {
    const BackendState* s = backends_[i].shared;
    uint32_t flags = s ? s->flags() : 0;
    usable[i] = (flags & kUnroutable) == 0;
    available += usable[i];
  }
  bool panic = PanicFor(usable, available);
  if (panic != in_panic_) {
    in_panic_ = panic;
    if (panic) {
      if (panic_entered_) panic_entered_->Inc();
      IG_WARN(
          "pool %s: only %zu of %zu backends available (panic threshold %.0f%%): balancing across "
          "all of them",
          config_->name.c_str(), available, n, config_->panic_threshold);
    } else {
      IG_INFO("pool %s: out of panic mode (%zu of %zu backends available)", config_->name.c_str(),
              available, n);
    }
  }
  if (panic) {
    // Panic overrides the detectors' verdicts (probes, phi, ejection), not an operator's drain
    // and not an open breaker: that is live evidence of failing requests, with its own
    // half-open probing, and a one-backend pool must fail fast while it is open.
    for (size_t i = 0; i < n; ++i) {
      const BackendState* s = backends_[i].shared;
      usable[i] = !(s && (s->flags() & (kDraining | kBreakerOpen)));
    }
  }
  for (size_t attempt = 0; attempt < n; ++attempt) {
    candidates.clear();
    // Priority: P0 keeps all traffic while healthy% x overprovisioning >= 100, then spills down.
    std::optional<uint32_t> level;
    if (priorities_.size() > 1 && !panic) {
      thread_local std::vector<double> healthy;
      healthy.assign(priorities_.size(), 0.0);
      for (size_t p = 0; p < priorities_.size(); ++p) {
        size_t total = 0, up = 0;
        for (size_t i = 0; i < n; ++i) {
          if (backends_[i].config->priority != priorities_[p]) continue;
          ++total;
          up += usable[i];
        }
        healthy[p] = resilience::HealthyPercent(up, total);
      }
      auto load = resilience::ComputePriorityLoad(healthy, config_->overprovisioning_factor);
      double r = rng.NextDouble() * 100.0;
      size_t chosen = load.size() - 1;
      for (size_t p = 0; p < load.size(); ++p) {
        if (r < load[p]) {
          chosen = p;
          break;
        }
        r -= load[p];
      }
      level = priorities_[chosen];
    }
    for (size_t i = 0; i < n; ++i) {
      if (!usable[i] || Excluded(exclude, i)) continue;
      if (level && backends_[i].config->priority != *level) continue;
      candidates.push_back(i);
    }
    if (candidates.empty() && level) {
      // The chosen level has nothing left to try (excluded): any usable backend will do.
      for (size_t i = 0; i < n; ++i) {
        if (usable[i] && !Excluded(exclude, i)) candidates.push_back(i);
      }
    }
    if (candidates.empty()) return -1;
    int chosen = -1;
    if (affinity_key && ring_.host_count() > 0) {
      auto in_candidates = [&](size_t h) {
        return std::find(candidates.begin(), candidates.end(), h) != candidates.end();
      };
      auto h = ring_.Pick(*affinity_key, in_candidates);
      if (h) chosen = static_cast<int>(*h);
    }
    if (chosen < 0) chosen = Balance(rng, candidates);
    if (chosen < 0) return -1;
    BackendState* s = backends_[static_cast<size_t>(chosen)].shared;
    // A half-open breaker admits only its probe permits.
    if (!panic && s && (s->flags() & kHalfOpen) && !s->TryTakePermit()) {
      usable[static_cast<size_t>(chosen)] = 0;
      continue;
    }
    // Only load-reporting pools use the count: spare the other pools a shared write per request.
    if (s && config_->load_report.enabled) s->NoteDispatched();
    return chosen;
  }
  return -1;
}

// Panic: too few available backends to carry the load; spread it over all but drained ones
// rather than crush the survivors. With priority levels, as in Envoy, not while the levels
// together can still carry it (normalized total availability 100%): then the load spills over
// to the lower priorities, which is what they are for, instead of going to dead backends.
bool PoolRuntime::PanicFor(const std::vector<char>& usable, size_t available) const {
  bool panic = resilience::InPanic(available, backends_.size(), config_->panic_threshold);
  if (panic && priorities_.size() > 1 &&
      NormalizedTotalAvailability(backends_, priorities_, usable,
                                  config_->overprovisioning_factor) >= 100.0) {
    panic = false;
  }
  return panic;
}

bool PoolRuntime::HasCandidate(bool allow_panic) const {
  const size_t n = backends_.size();
  if (n == 0) return false;
  thread_local std::vector<char> usable;
  usable.assign(n, 0);
  size_t available = 0;
  for (size_t i = 0; i < n; ++i) {
    const BackendState* s = backends_[i].shared;
    usable[i] = !(s && (s->flags() & kUnroutable));  // half-open ones included
    available += usable[i];
  }
  // A routable backend is a candidate in panic too (it is neither drained nor open).
  if (available > 0) return true;
  if (!allow_panic || !PanicFor(usable, available)) return false;
  for (size_t i = 0; i < n; ++i) {
    const BackendState* s = backends_[i].shared;
    if (!(s && (s->flags() & (kDraining | kBreakerOpen)))) return true;
  }
  return false;
}

PoolLoad PoolRuntime::Load(std::chrono::steady_clock::time_point now) const {
  PoolLoad out;
  for (const BackendRuntime& b : backends_) {
    const BackendState* s = b.shared;
    if (s == nullptr || !s->routable()) continue;
    LoadReport r = s->load();
    if (!Fresh(r, now, config_->load_report.max_age)) continue;
    double per_running = r.waiting / std::max(1.0, r.running);
    if (!out.fresh) {
      out.fresh = true;
      out.min_waiting = r.waiting;
      out.min_wait_per_running = per_running;
    } else {
      out.min_waiting = std::min(out.min_waiting, r.waiting);
      out.min_wait_per_running = std::min(out.min_wait_per_running, per_running);
    }
    if (r.kv_cache >= 0) {
      out.min_kv_cache = out.min_kv_cache < 0 ? r.kv_cache : std::min(out.min_kv_cache, r.kv_cache);
    }
  }
  return out;
}

int PoolRuntime::Balance(Rng& rng, std::span<const size_t> candidates) {
  const size_t m = candidates.size();
  if (m == 1) return static_cast<int>(candidates[0]);
  switch (config_->load_balancing) {
    case config::LoadBalancing::kRoundRobin:
      return static_cast<int>(candidates[(rr_next_++) % m]);
    case config::LoadBalancing::kWeightedRoundRobin: {
      // Smooth weighted round robin: every candidate gains its weight, the richest is chosen and
      // pays the total. Spreads picks evenly within each cycle.
      int64_t total = 0;
      int best = -1;
      for (size_t i : candidates) {
        auto& b = backends_[i];
        int64_t w = static_cast<int64_t>(EffectiveWeight(i));
        b.current_weight += w;
        total += w;
        if (best < 0 || b.current_weight > backends_[static_cast<size_t>(best)].current_weight) {
          best = static_cast<int>(i);
        }
      }
      backends_[static_cast<size_t>(best)].current_weight -= total;
      return best;
    }
    case config::LoadBalancing::kLeastRequest:
      return LeastRequest(rng, candidates);
    case config::LoadBalancing::kLeastQueue: {
      int chosen = LeastQueue(rng, candidates);
      return chosen >= 0 ? chosen : LeastRequest(rng, candidates);
    }
  }
  return -1;
}

// Power of two choices on in-flight requests per unit of (slow-start) weight. Two candidates or
// more.
int PoolRuntime::LeastRequest(Rng& rng, std::span<const size_t> candidates) {
  const size_t m = candidates.size();
  size_t x = rng.Below(m);
  size_t y = rng.Below(m - 1);
  if (y >= x) ++y;
  const size_t a = candidates[x], b = candidates[y];
  uint64_t la = static_cast<uint64_t>(backends_[a].in_flight + 1) * EffectiveWeight(b);
  uint64_t lb = static_cast<uint64_t>(backends_[b].in_flight + 1) * EffectiveWeight(a);
  if (la == lb) return static_cast<int>(EffectiveWeight(a) >= EffectiveWeight(b) ? a : b);
  return static_cast<int>(la < lb ? a : b);
}

// The backends' own queues rather than this worker's in-flight count: waiting + running as last
// reported, plus every request any worker sent since (the report cannot show those yet). Every
// candidate is scanned (pools are small); equal scores are broken uniformly at random (reservoir
// sampling). A candidate without a fresh report (its /metrics failing, or not scraped yet) counts
// as an average one: neither starved nor flooded. -1 when no candidate has a fresh report.
int PoolRuntime::LeastQueue(Rng& rng, std::span<const size_t> candidates) {
  const auto now = std::chrono::steady_clock::now();
  const Duration max_age = config_->load_report.max_age;
  thread_local std::vector<double> scores;
  scores.assign(candidates.size(), -1);
  double sum = 0;
  size_t fresh = 0;
  for (size_t k = 0; k < candidates.size(); ++k) {
    const BackendState* s = backends_[candidates[k]].shared;
    if (s == nullptr) continue;
    LoadReport r = s->load();
    if (!Fresh(r, now, max_age)) continue;
    scores[k] = r.waiting + r.running + static_cast<double>(s->dispatched_since_report());
    sum += scores[k];
    ++fresh;
  }
  if (fresh == 0) return -1;
  const double average = sum / static_cast<double>(fresh);
  double best = std::numeric_limits<double>::infinity();
  int chosen = -1;
  uint64_t ties = 0;
  for (size_t k = 0; k < candidates.size(); ++k) {
    const double score = scores[k] < 0 ? average : scores[k];
    if (score < best) {
      best = score;
      chosen = static_cast<int>(candidates[k]);
      ties = 1;
    } else if (score == best && rng.Below(++ties) == 0) {
      chosen = static_cast<int>(candidates[k]);
    }
  }
  return chosen;
}

std::unique_ptr<UpstreamConnection> PoolRuntime::TakeIdle(size_t backend) {
  auto& idle = backends_[backend].idle;
  if (idle.empty()) return nullptr;
  auto conn = std::move(idle.back());
  idle.pop_back();
  return conn;
}

void PoolRuntime::ReturnIdle(std::unique_ptr<UpstreamConnection> conn) {
  // A newer generation took over: the connection goes to its pool (when the backend stayed).
  if (successor_) {
    successor_(*this, conn);
    return;
  }
  auto& idle = backends_[conn->backend].idle;
  if (idle.size() >= config_->max_idle_connections) return;  // closed by the destructor
  conn->begin = conn->end = 0;
  idle.push_back(std::move(conn));
}

UpstreamSet::UpstreamSet(const config::Config& config, asio::any_io_executor,
                         BackendRegistry* registry, observability::Registry* metrics,
                         PoolStateRegistry* pool_states, UpstreamSet* previous) {
  pools_.reserve(config.pools.size());
  for (const auto& pc : config.pools) {
    std::vector<BackendRuntime> backends;
    for (const auto& bc : pc.backends) {
      BackendRuntime b;
      b.config = &bc;
      if (registry) {
        b.shared = &registry->state(pools_.size(), backends.size());
        b.endpoints = registry->endpoints(pools_.size(), backends.size());
      } else {
        b.endpoints = ResolveBackend(bc.address);
      }
      b.host_header = bc.address.host.find(':') != std::string::npos
                          ? "[" + bc.address.host + "]:" + std::to_string(bc.address.port)
                          : bc.address.host + ":" + std::to_string(bc.address.port);
      if (bc.https && bc.address.port == 443) b.host_header.resize(b.host_header.size() - 4);
      if (pc.tls) {
        b.tls = MakeTlsTarget(registry ? registry->tls(pools_.size()) : nullptr, pc, bc, metrics);
      }
      backends.push_back(std::move(b));
    }
    observability::Counter* panic = nullptr;
    if (metrics) {
      panic = metrics->GetCounter(
          "infergate_panic_mode_total",
          "Times a pool entered panic mode (too few backends available: balancing across all).",
          "pool=\"" + observability::Registry::EscapeLabel(pc.name) + "\"");
    }
    pools_.emplace_back(pc, std::move(backends), panic,
                        pool_states ? pool_states->BudgetFor(pc) : nullptr);
  }
  if (previous) previous->HandIdleTo(*this);
}

void UpstreamSet::HandIdleTo(UpstreamSet& next) {
  for (PoolRuntime& from : pools_) {
    for (BackendRuntime& ob : from.backends()) {
      while (!ob.idle.empty()) {
        std::unique_ptr<UpstreamConnection> conn = std::move(ob.idle.back());
        ob.idle.pop_back();
        next.Adopt(from, conn);  // closed (by its destructor) when not adopted
      }
    }
  }
}

bool UpstreamSet::Adopt(const PoolRuntime& from, std::unique_ptr<UpstreamConnection>& conn) {
  const BackendRuntime& ob = from.backend(conn->backend);
  for (PoolRuntime& to : pools_) {
    if (to.config().name != from.config().name) continue;
    // Connections verified under other TLS settings are not reused.
    const auto& old_tls = from.config().tls;
    const auto& new_tls = to.config().tls;
    if (old_tls.has_value() != new_tls.has_value() || (old_tls && !(*old_tls == *new_tls)))
      return false;
    for (size_t b = 0; b < to.backends().size(); ++b) {
      BackendRuntime& nb = to.backend(b);
      if (nb.config->name != ob.config->name || nb.endpoints != ob.endpoints) continue;
      if (nb.idle.size() >= to.config().max_idle_connections) return false;
      conn->backend = b;
      conn->begin = conn->end = 0;
      nb.idle.push_back(std::move(conn));
      return true;
    }
    return false;
  }
  return false;
}

}  // namespace infergate::upstream
