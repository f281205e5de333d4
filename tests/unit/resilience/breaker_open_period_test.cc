// The circuit breaker with the settings of tests/integration/failure_containment_policy_test.cc
// (scenario 4: minimum_calls 10, open_duration 1s, half_open_permits 2, the default 10% jitter),
// fed the way the health controller feeds it: outcome counts batched per 10 ms tick. The
// integration test checks the sequence end to end; the timings are asserted here.
#include <gtest/gtest.h>

#include <algorithm>

#include "infergate/core/clock.h"
#include "infergate/resilience/circuit_breaker.h"

namespace infergate::resilience {
namespace {
using namespace std::chrono_literals;

CircuitBreakerConfig Scenario4() {
  CircuitBreakerConfig c;
  c.minimum_calls = 10;
  c.open_duration = 1s;
  c.half_open_permits = 2;
  return c;
}

// Failing calls, one per tick, until it opens: exactly the tenth opens it, whatever the seed.
TEST(BreakerOpenPeriod, TenthFailureOpensItWhenEachTickSeesOne) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    ManualClock clock(TimePoint{} + 1h);
    CircuitBreaker cb(Scenario4(), seed);
    int failures = 0;
    while (cb.state(clock.Now()) == BreakerState::kClosed && failures < 100) {
      ASSERT_TRUE(cb.TryAcquire(clock.Now()));
      cb.OnResults(clock.Now(), OutcomeCounts{0, 1, 0, 0});
      ++failures;
      clock.Advance(10ms);
    }
    EXPECT_EQ(failures, 10) << "seed " << seed;
  }
}

// Once open it refuses every call for at least 900 ms (the integration test sends its five
// refused calls right after seeing it open, and checks the breaker is still open after them),
// and is half-open by 1100 ms, where it grants exactly the two permits.
TEST(BreakerOpenPeriod, OneSecondOpenPeriodLastsBetween900And1100ms) {
  Duration shortest = 1h, longest{0};
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    ManualClock clock(TimePoint{} + 1h);
    CircuitBreaker cb(Scenario4(), seed);
    cb.OnResults(clock.Now(), OutcomeCounts{0, 10, 0, 0});
    ASSERT_EQ(cb.state(clock.Now()), BreakerState::kOpen);
    const TimePoint opened = clock.Now();
    // The controller's ticks while open: refused, and still open at 900 ms.
    for (; clock.Now() - opened < 900ms; clock.Advance(10ms)) {
      ASSERT_FALSE(cb.TryAcquire(clock.Now())) << "seed " << seed;
      ASSERT_EQ(cb.AcquirePermits(clock.Now(), 100), 0u) << "seed " << seed;
    }
    ASSERT_EQ(cb.state(clock.Now()), BreakerState::kOpen) << "seed " << seed;
    const Duration open_for = *cb.open_until() - opened;
    shortest = std::min(shortest, open_for);
    longest = std::max(longest, open_for);
    clock.Set(opened + 1100ms);
    ASSERT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen) << "seed " << seed;
    EXPECT_EQ(cb.AcquirePermits(clock.Now(), 100), 2u) << "seed " << seed;
    // Both trial calls succeed: closed.
    cb.OnResults(clock.Now(), OutcomeCounts{2, 0, 0, 0});
    EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed) << "seed " << seed;
  }
  EXPECT_GE(shortest, Duration(900ms));
  EXPECT_LE(longest, Duration(1100ms));
  EXPECT_LT(shortest, Duration(920ms)) << "the jitter spreads the periods";
  EXPECT_GT(longest, Duration(1080ms)) << "the jitter spreads the periods";
}

}  // namespace
}  // namespace infergate::resilience
