// Microbenchmarks of backend selection: upstream::PoolRuntime::Pick over three backends for each
// load-balancing mode (no sockets: only the per-worker pool state).
#include <benchmark/benchmark.h>

#include <span>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/core/random.h"
#include "infergate/upstream/pool.h"

namespace infergate::upstream {
namespace {

config::PoolConfig ThreeBackends(config::LoadBalancing mode) {
  config::PoolConfig pool;
  pool.name = "bench";
  pool.load_balancing = mode;
  const char* names[] = {"10.0.0.11:8000", "10.0.0.12:8000", "10.0.0.13:8000"};
  const uint32_t weights[] = {5, 3, 2};
  for (int i = 0; i < 3; ++i) {
    config::BackendConfig b;
    b.url = std::string("http://") + names[i];
    b.name = names[i];
    b.address = {"10.0.0.1" + std::to_string(i + 1), 8000};
    b.weight = weights[i];
    pool.backends.push_back(b);
  }
  return pool;
}

void RunPick(benchmark::State& state, config::LoadBalancing mode, bool exclude_one) {
  const config::PoolConfig config = ThreeBackends(mode);
  std::vector<BackendRuntime> backends(config.backends.size());
  for (size_t i = 0; i < backends.size(); ++i) {
    backends[i].config = &config.backends[i];
    backends[i].host_header = config.backends[i].name;
    backends[i].in_flight = static_cast<uint32_t>(i * 2);  // uneven load for least_request
  }
  PoolRuntime pool(config, std::move(backends));
  Rng rng(42);
  const size_t excluded[] = {1};
  const std::span<const size_t> exclude =
      exclude_one ? std::span<const size_t>(excluded) : std::span<const size_t>();
  for (auto _ : state) {
    const int picked = pool.Pick(rng, exclude);
    benchmark::DoNotOptimize(picked);
  }
}

void BM_PickRoundRobin(benchmark::State& state) {
  RunPick(state, config::LoadBalancing::kRoundRobin, false);
}
BENCHMARK(BM_PickRoundRobin);

void BM_PickWeightedRoundRobin(benchmark::State& state) {
  RunPick(state, config::LoadBalancing::kWeightedRoundRobin, false);
}
BENCHMARK(BM_PickWeightedRoundRobin);

void BM_PickLeastRequest(benchmark::State& state) {
  RunPick(state, config::LoadBalancing::kLeastRequest, false);
}
BENCHMARK(BM_PickLeastRequest);

// A retry: one backend already tried.
void BM_PickLeastRequestRetry(benchmark::State& state) {
  RunPick(state, config::LoadBalancing::kLeastRequest, true);
}
BENCHMARK(BM_PickLeastRequestRetry);

}  // namespace
}  // namespace infergate::upstream
