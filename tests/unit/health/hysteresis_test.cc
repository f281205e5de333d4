// SuspicionState: conviction on phi, return after consecutive successful probes, no flapping.
#include "infergate/health/hysteresis.h"

#include <gtest/gtest.h>

namespace infergate::health {
namespace {

TEST(SuspicionState, StartsAvailable) {
  SuspicionState s;
  EXPECT_TRUE(s.IsAvailable());
  EXPECT_EQ(s.state(), Availability::kAvailable);
  EXPECT_EQ(s.config().healthy_threshold, 2u);
  EXPECT_EQ(s.config().threshold, 8.0);
}

TEST(SuspicionState, PhiBelowThresholdChangesNothing) {
  SuspicionState s;
  EXPECT_FALSE(s.Evaluate(0.0));
  EXPECT_FALSE(s.Evaluate(7.99));
  EXPECT_TRUE(s.IsAvailable());
}

TEST(SuspicionState, PhiAtThresholdConvictsWithReason) {
  SuspicionState s;
  const auto t = s.Evaluate(8.0);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->from, Availability::kAvailable);
  EXPECT_EQ(t->to, Availability::kSuspected);
  EXPECT_EQ(t->reason, "phi 8.00 >= threshold 8.00");
  EXPECT_FALSE(s.IsAvailable());
  EXPECT_FALSE(s.Evaluate(20.0));  // already suspected: no second transition
}

TEST(SuspicionState, StallGuardVetoesConviction) {
  SuspicionState s;
  EXPECT_FALSE(s.Evaluate(50.0, /*may_convict=*/false));
  EXPECT_TRUE(s.IsAvailable());
  EXPECT_TRUE(s.Evaluate(50.0, /*may_convict=*/true));
}

TEST(SuspicionState, ReturnsOnlyAfterConsecutiveSuccessfulProbes) {
  SuspicionState s;
  ASSERT_TRUE(s.ProbeResult(true, 0.1) == std::nullopt);  // successes before conviction don't count
  ASSERT_TRUE(s.ProbeResult(true, 0.1) == std::nullopt);
  ASSERT_TRUE(s.Evaluate(9.0));
  EXPECT_EQ(s.ConsecutiveSuccesses(), 0u);
  EXPECT_FALSE(s.Evaluate(0.1));  // calm phi alone is not enough
  EXPECT_FALSE(s.ProbeResult(true, 0.1));
  EXPECT_FALSE(s.IsAvailable());
  EXPECT_FALSE(s.ProbeResult(false, 0.1));  // a failure resets the count
  EXPECT_EQ(s.ConsecutiveSuccesses(), 0u);
  EXPECT_FALSE(s.ProbeResult(true, 0.1));
  const auto t = s.ProbeResult(true, 0.2);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->from, Availability::kSuspected);
  EXPECT_EQ(t->to, Availability::kAvailable);
  EXPECT_EQ(t->reason, "2 consecutive successful probes and phi 0.20 < 8.00");
  EXPECT_TRUE(s.IsAvailable());
}

TEST(SuspicionState, ProbesEnoughButPhiStillHighWaitsForCalmPhi) {
  SuspicionState s;
  ASSERT_TRUE(s.Evaluate(9.0));
  EXPECT_FALSE(s.ProbeResult(true, 9.0));
  EXPECT_FALSE(s.ProbeResult(true, 9.0));
  EXPECT_FALSE(s.Evaluate(8.5));
  const auto t = s.Evaluate(1.0);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, Availability::kAvailable);
}

TEST(SuspicionState, ConfigurableHealthyThreshold) {
  SuspicionState s(SuspicionConfig{.threshold = 3.0, .healthy_threshold = 3});
  ASSERT_TRUE(s.Evaluate(3.0));
  EXPECT_FALSE(s.ProbeResult(true, 0));
  EXPECT_FALSE(s.ProbeResult(true, 0));
  EXPECT_TRUE(s.ProbeResult(true, 0));
  SuspicionState one(SuspicionConfig{.threshold = 8.0, .healthy_threshold = 0});  // clamped to 1
  ASSERT_TRUE(one.Evaluate(8.0));
  EXPECT_TRUE(one.ProbeResult(true, 0));
}

TEST(SuspicionState, NaNPhiNeitherConvictsNorReturns) {
  SuspicionState s;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(s.Evaluate(nan));
  ASSERT_TRUE(s.Evaluate(8.0));
  EXPECT_FALSE(s.ProbeResult(true, nan));
  EXPECT_FALSE(s.ProbeResult(true, nan));
  EXPECT_FALSE(s.IsAvailable());
}

TEST(SuspicionState, ToStringNamesStates) {
  EXPECT_EQ(ToString(Availability::kAvailable), "available");
  EXPECT_EQ(ToString(Availability::kSuspected), "suspected");
}

}  // namespace
}  // namespace infergate::health
