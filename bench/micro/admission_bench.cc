// Microbenchmarks of admission on the request path: the bulkhead's slot (uncontended, shared by
// 2 and 4 threads, and the queued hand-over while saturated), the adaptive gate, tenant
// identification by bearer key among 1,000 tenants, and the degradation latch.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "infergate/config/config.h"
#include "infergate/core/clock.h"
#include "infergate/isolation/adaptive_limit.h"
#include "infergate/isolation/bulkhead.h"
#include "infergate/isolation/latch.h"
#include "infergate/isolation/tenants.h"

namespace infergate::isolation {
namespace {
using namespace std::chrono_literals;

BulkheadOptions SlotOptions() {
  BulkheadOptions o;
  o.max_concurrent = 64;
  o.max_queue = 64;
  o.tier_reserve_percent = {0, 20, 50};
  return o;
}

// TryAcquire + Release with nobody waiting: the compare-and-swap fast path, one thread.
void BM_BulkheadAcquireRelease(benchmark::State& state) {
  Bulkhead b(SlotOptions(), SteadyClock::Instance());
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.TryAcquire(1));
    b.Release();
  }
}
BENCHMARK(BM_BulkheadAcquireRelease);

// The same with one bulkhead shared by every thread (the workers of one compartment): the cost
// of the contended in-flight counter.
void BM_BulkheadAcquireReleaseShared(benchmark::State& state) {
  static std::unique_ptr<Bulkhead> shared;
  if (state.thread_index() == 0) {
    shared = std::make_unique<Bulkhead>(SlotOptions(), SteadyClock::Instance());
  }
  uint64_t refused = 0;
  for (auto _ : state) {
    if (shared->TryAcquire(1)) {
      shared->Release();
    } else {
      ++refused;  // never with 64 slots and at most 4 threads
    }
  }
  // A counter here would change the CSV columns mid-run (run.sh reads them): report as an error.
  if (refused > 0) state.SkipWithError("a slot was refused; the figure would be wrong");
}
BENCHMARK(BM_BulkheadAcquireReleaseShared)->Threads(2)->Threads(4);

// Saturated: every slot taken, one request queues and the slot is handed to it by Release()
// (mutex, queue insert and erase, the callback).
void BM_BulkheadQueueHandOver(benchmark::State& state) {
  BulkheadOptions o = SlotOptions();
  o.max_concurrent = 1;
  Bulkhead b(o, SteadyClock::Instance());
  b.TryAcquire(0);
  uint64_t admitted = 0;
  for (auto _ : state) {
    b.Enqueue(0, [&admitted](bool ok, Rejection) { admitted += ok ? 1 : 0; });
    b.Release();  // hands the slot to the waiter, which keeps it for the next round
  }
  benchmark::DoNotOptimize(admitted);
}
BENCHMARK(BM_BulkheadQueueHandOver);

// The adaptive gate's TryAcquire + Release with a latency sample (reads the steady clock; folds a
// window every 250 ms).
void BM_AdaptiveGateAcquireRelease(benchmark::State& state) {
  AdaptiveGate gate(GradientOptions{}, SteadyClock::Instance());
  for (auto _ : state) {
    benchmark::DoNotOptimize(gate.TryAcquire());
    gate.Release(20ms);
  }
  benchmark::DoNotOptimize(gate.limit());
}
BENCHMARK(BM_AdaptiveGateAcquireRelease);

// Identify by a 40-character bearer key among 1,000 tenants: SHA-256 of the key, hex, one hash
// map lookup.
void BM_TenantIdentify(benchmark::State& state) {
  config::Config config;
  std::string last_key;
  for (int i = 0; i < 1000; ++i) {
    char key[41];
    std::snprintf(key, sizeof(key), "sk-infergate-%027d", i);  // 40 characters
    config::TenantConfig t;
    t.name = "tenant-" + std::to_string(i);
    t.api_key_sha256 = {Sha256Hex(key)};
    config.tenants.push_back(std::move(t));
    last_key = key;
  }
  const TenantTable table(config);
  const std::string authorization = "Bearer " + last_key;
  for (auto _ : state) {
    TenantLookup r = table.Identify(authorization, "");
    benchmark::DoNotOptimize(r);
  }
  if (!table.Identify(authorization, "").tenant) state.SkipWithError("key not found");
}
BENCHMARK(BM_TenantIdentify);

// The latch fed one observation per request, 1 ms apart: the condition recurs every 64
// observations and recover_after is 16 ms, so every path runs (latch, hold, release, clear).
void BM_LatchObserve(benchmark::State& state) {
  ConditionLatch latch(16ms);
  TimePoint now{};
  uint64_t i = 0;
  uint64_t latched = 0;
  for (auto _ : state) {
    now += 1ms;
    latched += latch.Observe((++i & 63) == 0, now) ? 1 : 0;
  }
  benchmark::DoNotOptimize(latched);
}
BENCHMARK(BM_LatchObserve);

}  // namespace
}  // namespace infergate::isolation
