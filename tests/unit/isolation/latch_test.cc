// ConditionLatch: immediate latching, the continuous clear period before release, flapping
// input that stays latched, and the two-threshold level form.
#include "infergate/isolation/latch.h"

#include <gtest/gtest.h>

#include "infergate/core/clock.h"

namespace infergate::isolation {
namespace {
using namespace std::chrono_literals;

TEST(ConditionLatch, StartsClearAndLatchesAtOnce) {
  ManualClock clock;
  ConditionLatch latch(3s);
  EXPECT_FALSE(latch.latched());
  EXPECT_FALSE(latch.Observe(false, clock.Now()));
  EXPECT_TRUE(latch.Observe(true, clock.Now()));
  EXPECT_TRUE(latch.latched());
}

TEST(ConditionLatch, ReleasesOnlyAfterClearForRecoverAfter) {
  ManualClock clock;
  ConditionLatch latch(3s);
  ASSERT_TRUE(latch.Observe(true, clock.Now()));
  clock.Advance(1s);
  EXPECT_TRUE(latch.Observe(false, clock.Now()));  // clear since t=1s
  clock.Advance(2s);
  EXPECT_TRUE(latch.Observe(false, clock.Now()));  // 2 s clear
  clock.Advance(999ms);
  EXPECT_TRUE(latch.Observe(false, clock.Now()));  // 2.999 s clear
  clock.Advance(1ms);
  EXPECT_FALSE(latch.Observe(false, clock.Now()));  // exactly 3 s
  EXPECT_FALSE(latch.latched());
  EXPECT_FALSE(latch.Observe(false, clock.Now()));
}

TEST(ConditionLatch, FlappingInputStaysLatched) {
  ManualClock clock;
  ConditionLatch latch(3s);
  ASSERT_TRUE(latch.Observe(true, clock.Now()));
  // The condition recurs every 2 s for an hour of observations: never 3 s clear in a row.
  for (int i = 0; i < 100; ++i) {
    clock.Advance(1s);
    EXPECT_TRUE(latch.Observe(false, clock.Now()));
    clock.Advance(1s);
    EXPECT_TRUE(latch.Observe(false, clock.Now()));
    clock.Advance(1s);
    EXPECT_TRUE(latch.Observe(true, clock.Now()));
  }
  // Then it stays clear: released 3 s after the first clear observation.
  clock.Advance(1s);
  EXPECT_TRUE(latch.Observe(false, clock.Now()));
  clock.Advance(2s);
  EXPECT_TRUE(latch.Observe(false, clock.Now()));
  clock.Advance(1s);
  EXPECT_FALSE(latch.Observe(false, clock.Now()));
}

TEST(ConditionLatch, ZeroRecoverReleasesOnFirstClearObservation) {
  ManualClock clock;
  ConditionLatch latch(0s);
  ASSERT_TRUE(latch.Observe(true, clock.Now()));
  EXPECT_FALSE(latch.Observe(false, clock.Now()));
}

TEST(ConditionLatch, LevelEntersAboveEnterAndHoldsAboveExit) {
  ManualClock clock;
  ConditionLatch latch(2s);
  EXPECT_FALSE(latch.ObserveLevel(0.85, 0.9, 0.7, clock.Now()));  // below enter
  EXPECT_FALSE(latch.ObserveLevel(0.9, 0.9, 0.7, clock.Now()));   // not above enter
  EXPECT_TRUE(latch.ObserveLevel(0.95, 0.9, 0.7, clock.Now()));
  clock.Advance(10s);
  EXPECT_TRUE(latch.ObserveLevel(0.8, 0.9, 0.7, clock.Now()));  // above exit: still holds
  clock.Advance(10s);
  EXPECT_TRUE(latch.ObserveLevel(0.7, 0.9, 0.7, clock.Now()));  // clear since now
  clock.Advance(1s);
  EXPECT_TRUE(latch.ObserveLevel(0.5, 0.9, 0.7, clock.Now()));
  clock.Advance(1s);
  EXPECT_FALSE(latch.ObserveLevel(0.5, 0.9, 0.7, clock.Now()));
  // Unlatched again: 0.8 is below enter.
  EXPECT_FALSE(latch.ObserveLevel(0.8, 0.9, 0.7, clock.Now()));
}

TEST(ConditionLatch, LevelAboveExitDuringRecoveryRestartsIt) {
  ManualClock clock;
  ConditionLatch latch(2s);
  ASSERT_TRUE(latch.ObserveLevel(1.0, 0.9, 0.7, clock.Now()));
  clock.Advance(1s);
  EXPECT_TRUE(latch.ObserveLevel(0.6, 0.9, 0.7, clock.Now()));
  clock.Advance(1s);
  EXPECT_TRUE(latch.ObserveLevel(0.75, 0.9, 0.7, clock.Now()));  // back above exit
  clock.Advance(1s);
  EXPECT_TRUE(latch.ObserveLevel(0.6, 0.9, 0.7, clock.Now()));
  clock.Advance(1s);
  EXPECT_TRUE(latch.ObserveLevel(0.6, 0.9, 0.7, clock.Now()));  // 1 s clear
  clock.Advance(1s);
  EXPECT_FALSE(latch.ObserveLevel(0.6, 0.9, 0.7, clock.Now()));  // 2 s clear
}

}  // namespace
}  // namespace infergate::isolation
