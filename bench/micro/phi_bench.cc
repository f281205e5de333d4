// Microbenchmarks of the per-backend health state: PhiAccrualDetector Heartbeat / Evidence / Phi
// and a StallGuard tick (pure state, no clock reads: TimePoints are synthesised).
#include <benchmark/benchmark.h>

#include <chrono>

#include "infergate/health/hysteresis.h"
#include "infergate/health/phi_detector.h"
#include "infergate/health/stall_guard.h"

namespace infergate::health {
namespace {
using namespace std::chrono_literals;

// A full window (steady state: every heartbeat evicts one interval).
PhiAccrualDetector WarmDetector(PhiConfig config, TimePoint& now) {
  PhiAccrualDetector d(config);
  for (size_t i = 0; i < config.window_size + 10; ++i) {
    d.Heartbeat(now);
    now += 200ms + std::chrono::microseconds(i % 17);
  }
  return d;
}

void BM_Heartbeat(benchmark::State& state) {
  PhiConfig config;
  config.window_size = static_cast<size_t>(state.range(0));
  TimePoint now{};
  PhiAccrualDetector d = WarmDetector(config, now);
  int64_t i = 0;
  for (auto _ : state) {
    now += 200ms + std::chrono::microseconds(++i % 17);
    d.Heartbeat(now);
  }
  benchmark::DoNotOptimize(d.Mean());
}
BENCHMARK(BM_Heartbeat)->Arg(100)->Arg(1000);

// Evidence bursts: mostly coalesced (only "last seen" moves).
void BM_EvidenceBurst(benchmark::State& state) {
  PhiConfig config;
  TimePoint now{};
  PhiAccrualDetector d = WarmDetector(config, now);
  for (auto _ : state) {
    now += 50us;
    benchmark::DoNotOptimize(d.Evidence(now));
  }
}
BENCHMARK(BM_EvidenceBurst);

void BM_Phi(benchmark::State& state) {
  PhiConfig config;
  TimePoint now{};
  PhiAccrualDetector d = WarmDetector(config, now);
  int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.Phi(now + std::chrono::milliseconds(++i % 600)));
  }
}
BENCHMARK(BM_Phi);

void BM_PhiFormula(benchmark::State& state) {
  double t = 0;
  for (auto _ : state) {
    t = t > 1000 ? 0 : t + 0.37;
    benchmark::DoNotOptimize(Phi(t, 200.0, 50.0));
  }
}
BENCHMARK(BM_PhiFormula);

// One checking-loop iteration for one backend: guard tick, phi, suspicion update.
void BM_CheckIteration(benchmark::State& state) {
  PhiConfig config;
  TimePoint now{};
  PhiAccrualDetector d = WarmDetector(config, now);
  StallGuard guard;
  SuspicionState suspicion;
  for (auto _ : state) {
    now += 10ms;
    if (auto stall = guard.Tick(now)) d.ForgivePause(stall->start, stall->end);
    benchmark::DoNotOptimize(suspicion.Evaluate(d.Phi(now), guard.MayConvict(now)));
    if (d.LastSeen() + 190ms < now) d.Evidence(now);
  }
}
BENCHMARK(BM_CheckIteration);

}  // namespace
}  // namespace infergate::health
