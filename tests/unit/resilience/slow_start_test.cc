// Slow start: the Envoy weight curve with its floor and aggression.
#include "infergate/resilience/slow_start.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "infergate/core/clock.h"

namespace infergate::resilience {
namespace {
using namespace std::chrono_literals;

const TimePoint kJoined = TimePoint{} + 1h;

TEST(SlowStart, LinearRampWithFloor) {
  const SlowStartConfig c;  // 30 s, aggression 1, 10%
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(c, kJoined, kJoined - 5s), 0.1);
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(c, kJoined, kJoined), 0.1);
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(c, kJoined, kJoined + 1s), 0.1);  // 1/30 < 10%
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(c, kJoined, kJoined + 3s), 0.1);
  EXPECT_NEAR(SlowStartMultiplier(c, kJoined, kJoined + 6s), 0.2, 1e-12);
  EXPECT_NEAR(SlowStartMultiplier(c, kJoined, kJoined + 15s), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(c, kJoined, kJoined + 30s), 1.0);
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(c, kJoined, kJoined + 1h), 1.0);
  EXPECT_TRUE(InSlowStart(c, kJoined, kJoined + 29s));
  EXPECT_FALSE(InSlowStart(c, kJoined, kJoined + 30s));
  EXPECT_EQ(SlowStartPermille(c, kJoined, kJoined + 15s), 500u);
  EXPECT_EQ(SlowStartPermille(c, kJoined, kJoined), 100u);
}

TEST(SlowStart, AggressionBendsTheCurve) {
  SlowStartConfig c;
  c.aggression = 2.0;  // sqrt: faster early
  EXPECT_NEAR(SlowStartMultiplier(c, kJoined, kJoined + 7500ms), 0.5, 1e-12);
  c.aggression = 0.5;  // square: slower early
  EXPECT_NEAR(SlowStartMultiplier(c, kJoined, kJoined + 15s), 0.25, 1e-12);
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(c, kJoined, kJoined + 5s), 0.1);  // 1/36 < floor
}

TEST(SlowStart, MonotonicWithinBounds) {
  for (const double aggression : {0.3, 1.0, 1.7, 4.0}) {
    SlowStartConfig c;
    c.aggression = aggression;
    double previous = 0.0;
    for (int ms = -1000; ms <= 31000; ms += 50) {
      const double m = SlowStartMultiplier(c, kJoined, kJoined + std::chrono::milliseconds(ms));
      EXPECT_GE(m, 0.1);
      EXPECT_LE(m, 1.0);
      EXPECT_GE(m, previous);
      previous = m;
    }
    EXPECT_DOUBLE_EQ(previous, 1.0);
  }
}

TEST(SlowStart, DegenerateConfigs) {
  SlowStartConfig off;
  off.window = 0s;
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(off, kJoined, kJoined), 1.0);
  EXPECT_FALSE(InSlowStart(off, kJoined, kJoined));
  SlowStartConfig weird;
  weird.aggression = -1;
  weird.min_weight_percent = 250;
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(weird, kJoined, kJoined + 1s), 1.0);
  weird.min_weight_percent = std::nan("");
  EXPECT_NEAR(SlowStartMultiplier(weird, kJoined, kJoined + 15s), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(SlowStartMultiplier(weird, kJoined, kJoined), 0.0);
}

// The weight a returning backend publishes, read at every 10 ms tick of the health controller
// from the moment it is routable again (as src/upstream/health_controller.cc computes it).
struct Ramp {
  unsigned first = 0;                    // permille at the tick it came back
  std::optional<Duration> first_full;    // when it first reached 1000
  std::optional<Duration> first_in_mid;  // when it first read in (300, 900) permille
  std::optional<Duration> last_in_mid;
  bool monotonic = true;
};

Ramp Observe(const SlowStartConfig& c, Duration horizon) {
  ManualClock clock(kJoined);
  Ramp r;
  r.first = SlowStartPermille(c, kJoined, clock.Now());
  unsigned previous = 0;
  for (; clock.Now() - kJoined <= horizon; clock.Advance(10ms)) {
    const Duration since = clock.Now() - kJoined;
    const unsigned w = SlowStartPermille(c, kJoined, clock.Now());
    r.monotonic = r.monotonic && w >= previous;
    previous = w;
    if (w > 300 && w < 900) {
      if (!r.first_in_mid) r.first_in_mid = since;
      r.last_in_mid = since;
    }
    if (w >= 1000 && !r.first_full) r.first_full = since;
  }
  return r;
}

// tests/integration/failure_containment_test.cc, scenario 2 (slow_start: {window: 2s}): a
// backend that comes back starts at the 10% floor and reaches full weight exactly when the 2 s
// window ends, passing through intermediate weights for over a second on the way (the
// integration test checks that it sees one and that it reaches 100%).
TEST(SlowStart, TwoSecondWindowRampsFromTheFloorToFullWeightOverTheWindow) {
  SlowStartConfig c;
  c.window = 2s;
  const Ramp r = Observe(c, 5s);
  EXPECT_EQ(r.first, 100u);
  EXPECT_TRUE(r.monotonic);
  ASSERT_TRUE(r.first_full);
  EXPECT_EQ(*r.first_full, Duration(2s));
  EXPECT_EQ(SlowStartPermille(c, kJoined, kJoined + 1990ms), 995u);
  ASSERT_TRUE(r.first_in_mid && r.last_in_mid);
  EXPECT_EQ(*r.first_in_mid, Duration(610ms));
  EXPECT_EQ(*r.last_in_mid, Duration(1790ms));
}

// Scenario 7 (slow_start: {window: 3s, min_weight_percent: 10}, weighted round robin against one
// peer at full weight): in the first 0.5 s the returning backend's weight is at most 1/6, a share
// of at most 1/7 of the requests; from 3 s on it is full, an even share.
TEST(SlowStart, ThreeSecondWindowKeepsTheFirstHalfSecondUnderOneSixth) {
  SlowStartConfig c;
  c.window = 3s;
  c.min_weight_percent = 10;
  const Ramp r = Observe(c, 5s);
  EXPECT_EQ(r.first, 100u);
  EXPECT_TRUE(r.monotonic);
  for (Duration t = 0ms; t <= 300ms; t += 10ms) {
    EXPECT_EQ(SlowStartPermille(c, kJoined, kJoined + t), 100u) << t.count();  // the floor
  }
  EXPECT_NEAR(SlowStartMultiplier(c, kJoined, kJoined + 500ms), 1.0 / 6.0, 1e-12);
  EXPECT_EQ(SlowStartPermille(c, kJoined, kJoined + 500ms), 167u);
  ASSERT_TRUE(r.first_full);
  EXPECT_EQ(*r.first_full, Duration(3s));
}

}  // namespace
}  // namespace infergate::resilience
