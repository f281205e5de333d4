// GradientLimit and AdaptiveGate: growth while busy at stable latency, shrinking when latency
// rises above the tolerance, the floor, no growth while idle, recovery, the baseline EWMA, and
// the gate's windows under a ManualClock.
#include "infergate/isolation/adaptive_limit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "infergate/core/clock.h"

namespace infergate::isolation {
namespace {
using namespace std::chrono_literals;

GradientOptions Opts(uint32_t initial, uint32_t min, uint32_t max) {
  GradientOptions o;
  o.initial_limit = initial;
  o.min_limit = min;
  o.max_limit = max;
  return o;
}

TEST(GradientLimit, StableLatencyGrowsTowardMaxWhileBusy) {
  GradientLimit g(Opts(20, 2, 200));
  uint32_t last = g.limit();
  EXPECT_EQ(last, 20u);
  for (int i = 0; i < 300; ++i) {
    const uint32_t now = g.Update(10ms, g.limit());  // every slot used
    EXPECT_GE(now, last) << i;
    last = now;
  }
  EXPECT_EQ(g.limit(), 200u);
  EXPECT_EQ(g.baseline(), std::chrono::nanoseconds(10ms));
}

TEST(GradientLimit, GrowthIsTheSmoothedSquareRoot) {
  GradientLimit g(Opts(100, 2, 1000));
  // target = 100 x 1 + sqrt(100) = 110; limit = 0.8 x 100 + 0.2 x 110 = 102.
  EXPECT_EQ(g.Update(10ms, 100), 102u);
}

TEST(GradientLimit, IdleDoesNotGrow) {
  GradientLimit g(Opts(100, 2, 1000));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(g.Update(10ms, 49), 100u) << i;  // under half
  EXPECT_EQ(g.Update(10ms, 50), 102u);  // half the limit used: grows
}

TEST(GradientLimit, LatencyWithinToleranceDoesNotShrink) {
  GradientLimit g(Opts(100, 2, 1000));
  g.Update(10ms, 0);
  for (int i = 0; i < 20; ++i) EXPECT_GE(g.Update(14ms, 100), 100u) << i;  // 1.4x < 1.5x
}

TEST(GradientLimit, DoubledLatencyShrinksEveryWindow) {
  GradientLimit g(Opts(100, 2, 1000));
  for (int i = 0; i < 10; ++i) g.Update(10ms, 0);  // baseline, idle: the limit holds
  ASSERT_EQ(g.limit(), 100u);
  uint32_t last = g.limit();
  for (int i = 0; i < 10; ++i) {
    const uint32_t now = g.Update(20ms, last);  // busy, at 2x the baseline
    EXPECT_LT(now, last) << i;
    last = now;
  }
  EXPECT_LT(last, 80u);
}

TEST(GradientLimit, LatencyFarAboveToleranceHalvesTheLimitWithinAFewWindows) {
  GradientLimit g(Opts(100, 2, 1000));
  for (int i = 0; i < 10; ++i) g.Update(10ms, 0);
  // 4x the baseline: the gradient is at its floor (0.5), so each window moves the limit 20% of
  // the way to limit / 2 + sqrt(limit).
  std::vector<uint32_t> seen;
  for (int i = 0; i < 8; ++i) seen.push_back(g.Update(40ms, g.limit()));
  EXPECT_EQ(seen[0], 92u);  // 0.8 x 100 + 0.2 x (50 + 10)
  EXPECT_LE(seen[7], 55u);
  EXPECT_GE(seen[7], 40u);  // never faster than the 0.5 floor allows
}

TEST(GradientLimit, NeverBelowMin) {
  GradientLimit g(Opts(100, 40, 1000));
  g.Update(10ms, 0);
  // 10x the baseline for 30 windows: the gradient stays at its floor (the baseline creeps up by
  // 2/601 of the gap per window), so the limit would fall to ~10 unclamped.
  for (int i = 0; i < 30; ++i) EXPECT_GE(g.Update(100ms, g.limit()), 40u);
  EXPECT_EQ(g.limit(), 40u);
}

TEST(GradientLimit, RecoversWhenLatencyReturnsToBaseline) {
  GradientLimit g(Opts(100, 2, 1000));
  for (int i = 0; i < 10; ++i) g.Update(10ms, 0);
  for (int i = 0; i < 10; ++i) g.Update(40ms, g.limit());
  const uint32_t low = g.limit();
  ASSERT_LT(low, 50u);
  for (int i = 0; i < 100; ++i) g.Update(10ms, g.limit());
  EXPECT_GE(g.limit(), 100u);
}

TEST(GradientLimit, BaselineIsAnEwmaThatCatchesUpDownward) {
  GradientOptions o = Opts(10, 2, 100);
  o.long_window = 3;  // alpha = 0.5
  GradientLimit g(o);
  EXPECT_EQ(g.baseline(), 0ns);
  g.Update(10ms, 0);
  EXPECT_EQ(g.baseline(), std::chrono::nanoseconds(10ms));  // the first sample sets it
  g.Update(20ms, 0);
  EXPECT_EQ(g.baseline(), std::chrono::nanoseconds(15ms));
  g.Update(12ms, 0);  // within tolerance below: the EWMA
  EXPECT_EQ(g.baseline(), std::chrono::nanoseconds(13500us));

  GradientOptions slow = Opts(10, 2, 100);  // alpha = 2 / 601
  GradientLimit h(slow);
  h.Update(40ms, 0);
  h.Update(10ms, 0);  // 10 x 1.5 < 40: a quarter of the way at once
  EXPECT_EQ(h.baseline(), std::chrono::nanoseconds(32500us));
}

TEST(GradientLimit, IgnoresEmptySamplesAndClampsOptions) {
  GradientLimit g(Opts(5000, 2, 100));
  EXPECT_EQ(g.limit(), 100u);  // initial clamped to max
  EXPECT_EQ(g.Update(0ns, 100), 100u);
  EXPECT_EQ(g.baseline(), 0ns);
  GradientLimit h(Opts(0, 0, 0));
  EXPECT_EQ(h.limit(), 1u);
}

GradientOptions GateOpts(uint32_t initial) {
  GradientOptions o = Opts(initial, 2, 1000);
  o.sample_window = 100ms;
  return o;
}

TEST(AdaptiveGate, AdmitsUpToTheLimit) {
  ManualClock clock;
  AdaptiveGate gate(GateOpts(4), clock);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(gate.TryAcquire());
  EXPECT_FALSE(gate.TryAcquire());
  EXPECT_EQ(gate.in_flight(), 4u);
  gate.Release(std::nullopt);
  EXPECT_EQ(gate.in_flight(), 3u);
  EXPECT_TRUE(gate.TryAcquire());
  EXPECT_EQ(gate.limit(), 4u);
}

// One busy window: `n` requests in flight together, each with latency `rtt`, then the clock moves
// to the window's end.
void BusyWindow(AdaptiveGate& gate, ManualClock& clock, uint32_t n, std::chrono::nanoseconds rtt) {
  for (uint32_t i = 0; i < n; ++i) ASSERT_TRUE(gate.TryAcquire());
  for (uint32_t i = 0; i < n; ++i) gate.Release(rtt);
  clock.Advance(100ms);
}

TEST(AdaptiveGate, FoldsAWindowOnlyWhenItEnds) {
  ManualClock clock;
  AdaptiveGate gate(GateOpts(100), clock);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(gate.TryAcquire());
  for (int i = 0; i < 99; ++i) gate.Release(10ms);
  clock.Advance(99ms);
  gate.Release(10ms);
  EXPECT_EQ(gate.limit(), 100u);  // 99 ms: the window is still open
  clock.Advance(1ms);
  ASSERT_TRUE(gate.TryAcquire());
  gate.Release(10ms);  // 100 ms: folded, busy at stable latency
  EXPECT_EQ(gate.limit(), 102u);
}

TEST(AdaptiveGate, SamplelessWindowsTeachNothing) {
  ManualClock clock;
  AdaptiveGate gate(GateOpts(10), clock);
  for (int w = 0; w < 5; ++w) {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(gate.TryAcquire());
    for (int i = 0; i < 10; ++i) gate.Release(std::nullopt);
    clock.Advance(100ms);
  }
  EXPECT_EQ(gate.limit(), 10u);
}

TEST(AdaptiveGate, GrowsWhileBusyAndShrinksWhenLatencyRises) {
  ManualClock clock;
  AdaptiveGate gate(GateOpts(20), clock);
  for (int w = 0; w < 20; ++w) BusyWindow(gate, clock, gate.limit(), 10ms);
  const uint32_t grown = gate.limit();
  EXPECT_GT(grown, 25u);
  for (int w = 0; w < 10; ++w) BusyWindow(gate, clock, gate.limit(), 50ms);
  EXPECT_LT(gate.limit(), grown * 6 / 10);
  EXPECT_GE(gate.limit(), 2u);
}

TEST(AdaptiveGate, IdleWindowsDoNotGrowTheLimit) {
  ManualClock clock;
  AdaptiveGate gate(GateOpts(20), clock);
  for (int w = 0; w < 20; ++w) BusyWindow(gate, clock, 3, 10ms);  // peak 3 of 20
  EXPECT_EQ(gate.limit(), 20u);
}

TEST(AdaptiveGate, ConcurrentAcquireReleaseStaysWithinTheLimitAndDrains) {
  ManualClock clock;
  GradientOptions o = GateOpts(8);
  o.max_limit = 16;
  AdaptiveGate gate(o, clock);
  std::atomic<bool> overflow{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        if (!gate.TryAcquire()) continue;
        if (gate.in_flight() > 16) overflow = true;
        if ((i & 63) == 0) clock.Advance(10ms);
        gate.Release((i + t) % 5 == 0 ? std::nullopt
                                      : std::optional<std::chrono::nanoseconds>(10ms));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(overflow.load());
  EXPECT_EQ(gate.in_flight(), 0u);
  EXPECT_GE(gate.limit(), 2u);
  EXPECT_LE(gate.limit(), 16u);
}

}  // namespace
}  // namespace infergate::isolation
