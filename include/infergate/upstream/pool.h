// Per-worker upstream state: for each pool its backends, their idle keep-alive connections and
// the load balancer. Owned by one worker and used only on its thread (no locks). Backend
// selection happens in one place, PoolRuntime::Pick, which later health, breaker and ejection
// state filter.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/core/random.h"
#include "infergate/observability/metrics.h"
#include "infergate/resilience/hash_ring.h"
#include "infergate/resilience/retry_budget.h"
#include "infergate/upstream/backend_socket.h"
#include "infergate/upstream/backend_state.h"

namespace infergate::upstream {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// The addresses of a backend: a literal IP without a lookup, else a blocking DNS lookup (done
// once at startup). Empty when it cannot be resolved.
std::vector<tcp::endpoint> ResolveBackend(const config::HostPort& address);

// One connection to a backend (TCP, or TLS for an https:// pool) with its read buffer.
class UpstreamConnection {
 public:
  UpstreamConnection(asio::any_io_executor ex, size_t backend) : socket(ex), backend(backend) {}
  BackendSocket socket;
  size_t backend;
  std::vector<char> buf;  // read buffer; [begin, end) unconsumed
  size_t begin = 0;
  size_t end = 0;
  uint32_t requests = 0;  // requests carried so far (0: fresh connection)
};

struct BackendRuntime {
  const config::BackendConfig* config = nullptr;
  BackendState* shared = nullptr;        // the process-wide verdict and outcome counters
  std::vector<tcp::endpoint> endpoints;  // from the registry (resolved once per generation)
  std::string host_header;               // "host:port" sent as Host (no ":443" for https)
  std::shared_ptr<TlsTarget> tls;        // https:// pools: this worker's TLS to the backend
  std::vector<std::unique_ptr<UpstreamConnection>> idle;  // LIFO
  uint32_t in_flight = 0;
  int64_t current_weight = 0;  // smooth weighted round robin state
  uint32_t next_endpoint = 0;  // a name with several addresses: where the next connect starts
};

class BackendRegistry;

// What the pool's backends report about their own load (load_report), for the degradation
// triggers: the least loaded routable backend's numbers.
struct PoolLoad {
  bool fresh = false;               // some routable backend has a report younger than max_age
  double min_waiting = 0;           // fewest requests waiting in a backend's queue
  double min_kv_cache = -1;         // lowest KV-cache usage (0..1); -1 when none reports it
  double min_wait_per_running = 0;  // lowest waiting / max(1, running)
};

// A worker's pool state that outlives one config snapshot, kept by pool name: the retry budget
// (its counts of active requests and retries) while the pool keeps its budget settings.
// Worker-local.
class PoolStateRegistry {
 public:
  std::shared_ptr<resilience::RetryBudget> BudgetFor(const config::PoolConfig& pool);

 private:
  struct Budget {
    resilience::RetryBudgetConfig config;
    std::shared_ptr<resilience::RetryBudget> budget;
  };
  std::map<std::string, Budget, std::less<>> budgets_;
};

class PoolRuntime {
 public:
  // `budget`: the pool's retry budget (null: its own).
  PoolRuntime(const config::PoolConfig& config, std::vector<BackendRuntime> backends,
              observability::Counter* panic_entered = nullptr,
              std::shared_ptr<resilience::RetryBudget> budget = nullptr);

  // Chooses a backend that is not in `exclude` (backends already tried for this request);
  // returns its index, or -1 when none is left. Only backends the health controller lets through
  // are candidates (a half-open one only with a probe permit), unless fewer than the pool's
  // panic_threshold are available: then all but drained ones are. Among candidates the lowest
  // priorities take traffic as their health allows (overprovisioning factor), and weights ramp
  // with slow start. With an affinity key the consistent-hash ring decides, moving only the
  // sessions of unavailable backends.
  // With load_report on, the chosen backend's dispatched count (BackendState::NoteDispatched)
  // moves.
  int Pick(Rng& rng, std::span<const size_t> exclude,
           std::optional<uint64_t> affinity_key = std::nullopt);

  // Whether Pick could return a backend now (nothing excluded), without side effects: no permit
  // taken, no counter moved, panic mode not entered. True when a backend is routable (a half-open
  // one included), or when the pool would be in panic and a backend is neither drained nor
  // behind an open breaker. With `allow_panic` false, only a routable backend counts: a route
  // with fallbacks degrades rather than send traffic to backends that are all known bad.
  bool HasCandidate(bool allow_panic = true) const;
  // The routable backends' fresh load reports (younger than load_report.max_age at `now`).
  PoolLoad Load(std::chrono::steady_clock::time_point now) const;

  // This worker's retry budget for the pool.
  resilience::RetryBudget& retry_budget() { return *retry_budget_; }
  bool in_panic() const { return in_panic_; }

  // An idle connection to `backend`, or null.
  std::unique_ptr<UpstreamConnection> TakeIdle(size_t backend);
  // Keeps `conn` for reuse when the pool has room; otherwise it is closed. After Retire, hands
  // it to the successor instead.
  void ReturnIdle(std::unique_ptr<UpstreamConnection> conn);
  // A newer config generation took over on this worker: connections given back from now on
  // (by exchanges that started on this one) go to `successor`, which adopts them or lets them
  // close.
  using Successor =
      std::function<void(const PoolRuntime& from, std::unique_ptr<UpstreamConnection>& conn)>;
  void Retire(Successor successor) { successor_ = std::move(successor); }

  const config::PoolConfig& config() const { return *config_; }
  std::vector<BackendRuntime>& backends() { return backends_; }
  BackendRuntime& backend(size_t i) { return backends_[i]; }
  const BackendRuntime& backend(size_t i) const { return backends_[i]; }

 private:
  int Balance(Rng& rng, std::span<const size_t> candidates);
  int LeastRequest(Rng& rng, std::span<const size_t> candidates);
  // least_queue: the fewest waiting + running + dispatched since the report among candidates with
  // a fresh report; -1 when none has one.
  int LeastQueue(Rng& rng, std::span<const size_t> candidates);
  uint64_t EffectiveWeight(size_t i) const;
  // Whether the pool is in panic with these usable backends (`available` of them).
  bool PanicFor(const std::vector<char>& usable, size_t available) const;

  const config::PoolConfig* config_;
  std::vector<BackendRuntime> backends_;
  std::vector<uint32_t> priorities_;  // distinct priority levels, ascending
  resilience::HashRing ring_;
  std::shared_ptr<resilience::RetryBudget> retry_budget_;
  uint64_t rr_next_ = 0;
  bool in_panic_ = false;
  observability::Counter* panic_entered_ = nullptr;  // may be null (tests)
  Successor successor_;
};

// All pools of one config snapshot, for one worker.
class UpstreamSet {
 public:
  // Backends' addresses come from `registry` (resolved there once for every worker); without
  // one they are resolved here. Unresolvable backends have no endpoints (every connect fails).
  // `pool_states`: the worker's state kept by pool name across snapshots (null: none kept).
  // `previous`: the worker's set for the snapshot before (a reload); its idle keep-alive
  // connections move to the backends that stay (same pool and backend name, same addresses, same
  // TLS settings).
  UpstreamSet(const config::Config& config, asio::any_io_executor ex,
              BackendRegistry* registry = nullptr, observability::Registry* metrics = nullptr,
              PoolStateRegistry* pool_states = nullptr, UpstreamSet* previous = nullptr);
  PoolRuntime& pool(size_t i) { return pools_[i]; }
  size_t size() const { return pools_.size(); }
  // Takes a connection of an older generation's pool `from` as an idle one, when that pool and
  // backend are here (same names, addresses and TLS settings) with room; false otherwise (the
  // caller's `conn` is left to close).
  bool Adopt(const PoolRuntime& from, std::unique_ptr<UpstreamConnection>& conn);

 private:
  void HandIdleTo(UpstreamSet& next);
  std::vector<PoolRuntime> pools_;
};

}  // namespace infergate::upstream
