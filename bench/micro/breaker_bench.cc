// Microbenchmarks of the failure-containment pieces on the request path (issue 4): the circuit
// breaker's per-call admission and result recording (count and time windows), its batched
// update from the health controller, the outcome classification every attempt goes through, and
// the per-backend shared state a worker writes once per attempt and reads once per pick.
// Pure state: TimePoints are synthesised, no clock reads.
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "infergate/core/error.h"
#include "infergate/observability/metrics.h"
#include "infergate/resilience/circuit_breaker.h"
#include "infergate/resilience/outcome.h"
#include "infergate/upstream/backend_state.h"

namespace infergate::resilience {
namespace {
using namespace std::chrono_literals;

CircuitBreakerConfig Config(WindowType type) {
  CircuitBreakerConfig c;  // the pool defaults: 50 calls (or 50 s), 50%, at least 20 calls
  c.window_type = type;
  return c;
}

// Closed breaker, steady traffic: one result per call, 1 in 8 a failure (12.5%, below the 50%
// threshold, so the breaker stays closed and every call walks the full trip check).
void BM_BreakerOnResult(benchmark::State& state) {
  const auto type = state.range(0) == 0 ? WindowType::kCount : WindowType::kTime;
  CircuitBreaker b(Config(type), 42);
  TimePoint now{};
  uint64_t i = 0;
  for (auto _ : state) {
    now += 1ms;  // 1,000 calls a second: a time window holds 50,000 calls
    b.OnResult(now, (++i & 7) == 0 ? CallResult::kFailure : CallResult::kSuccess, 20ms);
  }
  benchmark::DoNotOptimize(b.window(now).calls);
  state.SetLabel(type == WindowType::kCount ? "count window" : "time window");
}
BENCHMARK(BM_BreakerOnResult)->Arg(0)->Arg(1);

// Admission of a call and its result with the permit (epoch check), as a worker would do it.
void BM_BreakerAcquireAndResult(benchmark::State& state) {
  CircuitBreaker b(Config(WindowType::kCount), 42);
  TimePoint now{};
  uint64_t i = 0;
  for (auto _ : state) {
    now += 1ms;
    BreakerPermit p = b.TryAcquire(now);
    b.OnResult(now, (++i & 7) == 0 ? CallResult::kFailure : CallResult::kSuccess, 20ms, p);
  }
  benchmark::DoNotOptimize(b.epoch());
}
BENCHMARK(BM_BreakerAcquireAndResult);

// TryAcquire alone: closed (granted) and open (refused until the open period ends).
void BM_BreakerTryAcquire(benchmark::State& state) {
  const bool open = state.range(0) == 1;
  CircuitBreaker b(Config(WindowType::kCount), 42);
  TimePoint now{};
  if (open) {
    for (int i = 0; i < 50; ++i) b.OnResult(now += 1ms, CallResult::kFailure, 1ms);
  }
  for (auto _ : state) {
    now += 1ns;  // stays well inside the 5 s open period
    benchmark::DoNotOptimize(b.TryAcquire(now));
  }
  state.SetLabel(open ? "open: refused" : "closed: granted");
}
BENCHMARK(BM_BreakerTryAcquire)->Arg(0)->Arg(1);

// The health controller's update: one batch of summed per-worker counters every 10 ms.
// Arg = calls in the batch (10 ms at 1k, 10k and 100k calls a second), 5% failures.
void BM_BreakerOnResultsBatch(benchmark::State& state) {
  const auto calls = static_cast<uint64_t>(state.range(0));
  const auto type = state.range(1) == 0 ? WindowType::kCount : WindowType::kTime;
  CircuitBreaker b(Config(type), 42);
  TimePoint now{};
  OutcomeCounts counts;
  counts.failure = calls / 20;
  counts.success = calls - counts.failure;
  for (auto _ : state) {
    now += 10ms;
    b.OnResults(now, counts);
  }
  benchmark::DoNotOptimize(b.window(now).calls);
  state.SetLabel(type == WindowType::kCount ? "count window" : "time window");
}
BENCHMARK(BM_BreakerOnResultsBatch)
    ->Args({10, 0})
    ->Args({100, 0})
    ->Args({1000, 0})
    ->Args({10, 1})
    ->Args({1000, 1});

// Classification of every attempt's outcome: a mix of statuses and error kinds.
void BM_ClassifyForBreaker(benchmark::State& state) {
  struct Case {
    std::optional<ErrorKind> error;
    int status;
  };
  static const std::array<Case, 8> cases = {{
      {std::nullopt, 200},
      {std::nullopt, 200},
      {std::nullopt, 400},
      {std::nullopt, 429},
      {std::nullopt, 503},
      {ErrorKind::kConnectFailed, 0},
      {ErrorKind::kClientAbort, 0},
      {ErrorKind::kFirstByteTimeout, 0},
  }};
  size_t i = 0;
  for (auto _ : state) {
    const Case& c = cases[i++ & 7];
    benchmark::DoNotOptimize(ClassifyForBreaker(c.error, c.status));
  }
}
BENCHMARK(BM_ClassifyForBreaker);

}  // namespace
}  // namespace infergate::resilience

namespace infergate::upstream {
namespace {

// A worker's per-attempt write (its own cache line) and per-pick verdict read. With 2 threads
// both record into their own shard of one backend while reading the shared flags word.
void BM_BackendStateRecordSuccessAndRead(benchmark::State& state) {
  static std::unique_ptr<BackendState> shared;
  // Thread 0 sets up; the timed loops of all threads start together, after every setup.
  if (state.thread_index() == 0) shared = std::make_unique<BackendState>(state.threads() + 1);
  observability::SetThreadShard(state.thread_index() + 1);
  uint64_t routable = 0;
  for (auto _ : state) {
    shared->RecordSuccess(false);
    routable += (shared->flags() & kUnroutable) == 0;
  }
  benchmark::DoNotOptimize(routable);
  observability::SetThreadShard(0);
}
BENCHMARK(BM_BackendStateRecordSuccessAndRead)->Threads(1)->Threads(2);

// The verdict read alone (what every pick pays per candidate backend).
void BM_BackendStateRoutable(benchmark::State& state) {
  BackendState s(2);
  for (auto _ : state) benchmark::DoNotOptimize(s.routable());
}
BENCHMARK(BM_BackendStateRoutable);

// A failure after a success: the consecutive-failure counter is written, then reset.
void BM_BackendStateFailureThenSuccess(benchmark::State& state) {
  BackendState s(2);
  observability::SetThreadShard(1);
  for (auto _ : state) {
    s.RecordFailure(false);
    s.RecordSuccess(false);
  }
  benchmark::DoNotOptimize(s.consecutive_failures());
  observability::SetThreadShard(0);
}
BENCHMARK(BM_BackendStateFailureThenSuccess);

}  // namespace
}  // namespace infergate::upstream
