// StallGuard: gaps in the checking loop's ticks and the no-conviction span around them.
#include "infergate/health/stall_guard.h"

#include <gtest/gtest.h>

#include <chrono>

namespace infergate::health {
namespace {
using namespace std::chrono_literals;

TimePoint At(int ms) { return TimePoint{} + std::chrono::milliseconds(ms); }

TEST(StallGuard, Defaults) {
  const StallGuardConfig c;
  EXPECT_EQ(c.bound, 200ms);
  EXPECT_EQ(c.max_quiet_after, 30s);
}

TEST(StallGuard, RegularTicksAreNoStall) {
  StallGuard g;
  EXPECT_TRUE(g.MayConvict(At(0)));  // never ticked: nothing known against us
  for (int t = 0; t <= 10'000; t += 10) {
    EXPECT_FALSE(g.Tick(At(t)));
    EXPECT_TRUE(g.MayConvict(At(t)));
  }
  EXPECT_EQ(g.StallCount(), 0u);
  EXPECT_FALSE(g.LastStall());
}

TEST(StallGuard, GapAtTheBoundIsNoStallJustAboveIsOne) {
  StallGuard g;
  g.Tick(At(0));
  EXPECT_FALSE(g.Tick(At(200)));
  const auto s = g.Tick(At(401));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->start, At(200));
  EXPECT_EQ(s->end, At(401));
  EXPECT_EQ(s->length(), 201ms);
}

TEST(StallGuard, NoConvictionFromStallStartUntilTheSameSpanAfterIt) {
  StallGuard g;
  for (int t = 0; t <= 1000; t += 10) g.Tick(At(t));
  // SIGSTOP from 1000 to 4000. While stopped (as soon as a tick is overdue) nobody may be
  // convicted.
  EXPECT_TRUE(g.MayConvict(At(1150)));
  EXPECT_FALSE(g.MayConvict(At(1201)));
  EXPECT_FALSE(g.MayConvict(At(4000)));  // resumed, the tick has not run yet
  const auto s = g.Tick(At(4000));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->start, At(1000));
  EXPECT_EQ(s->length(), 3s);
  EXPECT_EQ(g.StallCount(), 1u);
  for (int t = 4010; t < 7000; t += 10) {
    g.Tick(At(t));
    EXPECT_FALSE(g.MayConvict(At(t))) << t;
  }
  g.Tick(At(7000));
  EXPECT_TRUE(g.MayConvict(At(7000)));
  EXPECT_FALSE(g.MayConvict(At(2500)));  // a query inside the stall span (e.g. a late log line)
}

TEST(StallGuard, OverlappingStallsExtendTheQuietSpan) {
  StallGuard g;
  g.Tick(At(0));
  g.Tick(At(1000));  // stall 0..1000, quiet until 2000
  g.Tick(At(1010));
  g.Tick(At(1510));  // stall 1010..1510, quiet until 2010
  for (int t = 1520; t <= 2000; t += 10) g.Tick(At(t));
  EXPECT_FALSE(g.MayConvict(At(2005)));
  g.Tick(At(2010));
  EXPECT_TRUE(g.MayConvict(At(2010)));
  EXPECT_EQ(g.StallCount(), 2u);
  EXPECT_EQ(g.LastStall()->start, At(1010));
}

TEST(StallGuard, QuietSpanAfterAVeryLongStallIsCapped) {
  StallGuard g;
  g.Tick(At(0));
  const int hour = 3'600'000;
  ASSERT_TRUE(g.Tick(At(hour)));
  for (int t = hour + 10; t < hour + 30'000; t += 10) {
    g.Tick(At(t));
    ASSERT_FALSE(g.MayConvict(At(t))) << t;
  }
  g.Tick(At(hour + 30'000));
  EXPECT_TRUE(g.MayConvict(At(hour + 30'000)));
}

TEST(StallGuard, ConfigurableBoundLikeTheReference) {
  StallGuard g(StallGuardConfig{.bound = 5s, .max_quiet_after = 1h});
  g.Tick(At(0));
  EXPECT_FALSE(g.Tick(At(4'000)));
  EXPECT_TRUE(g.MayConvict(At(4'000)));
  ASSERT_TRUE(g.Tick(At(10'000)));
  for (int t = 11'000; t <= 15'000; t += 1000) g.Tick(At(t));
  EXPECT_FALSE(g.MayConvict(At(15'999)));
  g.Tick(At(16'000));
  EXPECT_TRUE(g.MayConvict(At(16'000)));
}

TEST(StallGuard, TickGoingBackwardsIsIgnored) {
  StallGuard g;
  g.Tick(At(1000));
  EXPECT_FALSE(g.Tick(At(500)));
  EXPECT_FALSE(g.Tick(At(1100)));
  EXPECT_EQ(g.StallCount(), 0u);
}

}  // namespace
}  // namespace infergate::health
