// Slow start: the Envoy weight curve with its floor and aggression.
#include "infergate/resilience/slow_start.h"

#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace infergate::resilience
