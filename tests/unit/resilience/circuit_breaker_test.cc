// CircuitBreaker: every transition, both window types, slow calls, half-open rounds, lost
// probes, the open-period doubling with jitter, operators and batched outcomes.
#include "infergate/resilience/circuit_breaker.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "infergate/core/clock.h"

namespace infergate::resilience {
namespace {
using namespace std::chrono_literals;

constexpr Duration kFast = 100ms;

CircuitBreakerConfig NoJitter() {
  CircuitBreakerConfig c;
  c.open_jitter = 0.0;
  return c;
}

std::vector<BreakerTransition> Drain(CircuitBreaker& cb) {
  std::vector<BreakerTransition> out;
  while (auto t = cb.TakeTransition()) out.push_back(*t);
  return out;
}

// Trips a Closed breaker with minimum_calls failures; returns the open period.
Duration Trip(CircuitBreaker& cb, TimePoint now) {
  for (uint32_t i = 0; i < cb.config().minimum_calls; ++i) {
    cb.OnResult(now, CallResult::kFailure, kFast);
  }
  EXPECT_EQ(cb.state(now), BreakerState::kOpen);
  return *cb.open_until() - now;
}

TEST(CircuitBreaker, DefaultsMatchTheDocumentedChoices) {
  const CircuitBreakerConfig c;
  EXPECT_EQ(c.window_type, WindowType::kCount);
  EXPECT_EQ(c.window_size, 50u);
  EXPECT_EQ(c.failure_rate_threshold, 50.0);
  EXPECT_EQ(c.slow_call_rate_threshold, 100.0);
  EXPECT_EQ(c.slow_call_duration, Duration(60s));
  EXPECT_EQ(c.minimum_calls, 20u);
  EXPECT_EQ(c.open_duration, Duration(5s));
  EXPECT_EQ(c.max_open_duration, Duration(60s));
  EXPECT_EQ(c.half_open_permits, 3u);
  EXPECT_FALSE(ValidateCircuitBreakerConfig(c));
}

TEST(CircuitBreaker, NeverOpensBeforeMinimumCallsEvenIfAllFail) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  for (int i = 0; i < 19; ++i) {
    ASSERT_TRUE(cb.TryAcquire(clock.Now()));
    cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
    clock.Advance(10ms);
  }
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
  EXPECT_EQ(cb.window(clock.Now()).failures, 19u);
  EXPECT_FALSE(cb.TakeTransition());
  cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kOpen);
  const auto t = Drain(cb);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].from, BreakerState::kClosed);
  EXPECT_EQ(t[0].to, BreakerState::kOpen);
  EXPECT_EQ(t[0].reason, TransitionReason::kFailureRate);
  EXPECT_EQ(t[0].calls, 20u);
  EXPECT_DOUBLE_EQ(t[0].failure_rate, 100.0);
  EXPECT_EQ(t[0].open_for, Duration(5s));
  EXPECT_EQ(t[0].consecutive_opens, 1u);
  EXPECT_FALSE(cb.TryAcquire(clock.Now()));
}

TEST(CircuitBreaker, TripsAtExactlyTheThreshold) {
  const TimePoint now{};
  CircuitBreaker below(NoJitter(), 1);
  for (int i = 0; i < 11; ++i) below.OnResult(now, CallResult::kSuccess, kFast);
  for (int i = 0; i < 9; ++i) below.OnResult(now, CallResult::kFailure, kFast);
  EXPECT_EQ(below.state(now), BreakerState::kClosed);  // 45%

  CircuitBreaker at(NoJitter(), 1);
  for (int i = 0; i < 10; ++i) at.OnResult(now, CallResult::kSuccess, kFast);
  for (int i = 0; i < 9; ++i) at.OnResult(now, CallResult::kFailure, kFast);
  EXPECT_EQ(at.state(now), BreakerState::kClosed);  // 19 calls
  at.OnResult(now, CallResult::kFailure, kFast);
  EXPECT_EQ(at.state(now), BreakerState::kOpen);  // 10 of 20 = 50% >= 50%
  EXPECT_DOUBLE_EQ(Drain(at).at(0).failure_rate, 50.0);
}

TEST(CircuitBreaker, CountWindowForgetsOldCalls) {
  CircuitBreakerConfig c = NoJitter();
  c.window_size = 10;
  c.minimum_calls = 10;
  CircuitBreaker cb(c, 1);
  const TimePoint now{};
  for (int i = 0; i < 4; ++i) cb.OnResult(now, CallResult::kFailure, kFast);
  for (int i = 0; i < 6; ++i) cb.OnResult(now, CallResult::kSuccess, kFast);
  EXPECT_EQ(cb.state(now), BreakerState::kClosed);  // 40%
  for (int i = 0; i < 10; ++i) cb.OnResult(now, CallResult::kSuccess, kFast);
  EXPECT_EQ(cb.window(now).calls, 10u);
  EXPECT_EQ(cb.window(now).failures, 0u);  // the four failures slid out
  for (int i = 0; i < 4; ++i) cb.OnResult(now, CallResult::kFailure, kFast);
  EXPECT_EQ(cb.state(now), BreakerState::kClosed);
  cb.OnResult(now, CallResult::kFailure, kFast);
  EXPECT_EQ(cb.state(now), BreakerState::kOpen);  // 5 of the last 10
}

TEST(CircuitBreaker, MinimumCallsAboveCountWindowIsLowered) {
  CircuitBreakerConfig c = NoJitter();
  c.window_size = 5;
  c.minimum_calls = 20;
  EXPECT_FALSE(ValidateCircuitBreakerConfig(c));
  CircuitBreaker cb(c, 1);
  EXPECT_EQ(cb.config().minimum_calls, 5u);
  for (int i = 0; i < 5; ++i) cb.OnResult(TimePoint{}, CallResult::kFailure, kFast);
  EXPECT_EQ(cb.state(TimePoint{}), BreakerState::kOpen);
}

TEST(CircuitBreaker, TimeWindowCountsOnlyTheLastSeconds) {
  CircuitBreakerConfig c = NoJitter();
  c.window_type = WindowType::kTime;
  c.window_size = 10;  // seconds
  c.minimum_calls = 5;
  CircuitBreaker cb(c, 1);
  ManualClock clock;
  for (int i = 0; i < 4; ++i) {  // seconds 0..3
    cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
    clock.Advance(1s);
  }
  EXPECT_EQ(cb.window(clock.Now()).calls, 4u);
  clock.Set(TimePoint{} + 12s);  // window is seconds 3..12
  EXPECT_EQ(cb.window(clock.Now()).calls, 1u);
  cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
  EXPECT_EQ(cb.window(clock.Now()).calls, 2u);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
  clock.Advance(500ms);
  for (int i = 0; i < 2; ++i) cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);  // 4 calls < 5
  cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kOpen);
  EXPECT_EQ(Drain(cb).at(0).calls, 5u);
}

TEST(CircuitBreaker, TimeWindowTripsOnRateWithinWindow) {
  CircuitBreakerConfig c = NoJitter();
  c.window_type = WindowType::kTime;
  c.window_size = 10;
  c.minimum_calls = 6;
  CircuitBreaker cb(c, 1);
  ManualClock clock;
  for (int i = 0; i < 3; ++i) {
    cb.OnResult(clock.Now(), CallResult::kSuccess, kFast);
    clock.Advance(2s);
    cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
    clock.Advance(1s);
  }
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kOpen);  // 3 of 6 within 9 s
}

TEST(CircuitBreaker, SlowCallsTripAtTheSlowRate) {
  const TimePoint now{};
  CircuitBreaker all_but_one(NoJitter(), 1);
  for (int i = 0; i < 19; ++i) all_but_one.OnResult(now, CallResult::kSuccess, 60s);
  all_but_one.OnResult(now, CallResult::kSuccess, 59s);
  EXPECT_EQ(all_but_one.state(now), BreakerState::kClosed);  // 95% < 100%
  EXPECT_EQ(all_but_one.window(now).slow, 19u);

  CircuitBreaker all(NoJitter(), 1);
  for (int i = 0; i < 20; ++i) all.OnResult(now, CallResult::kSuccess, 60s);
  EXPECT_EQ(all.state(now), BreakerState::kOpen);
  const auto t = Drain(all);
  EXPECT_EQ(t.at(0).reason, TransitionReason::kSlowCallRate);
  EXPECT_DOUBLE_EQ(t.at(0).slow_call_rate, 100.0);
  EXPECT_DOUBLE_EQ(t.at(0).failure_rate, 0.0);

  CircuitBreakerConfig c = NoJitter();
  c.slow_call_rate_threshold = 50;
  c.slow_call_duration = 10s;
  CircuitBreaker half(c, 1);
  for (int i = 0; i < 10; ++i) half.OnResult(now, CallResult::kSuccess, 1s);
  for (int i = 0; i < 10; ++i) half.OnResult(now, CallResult::kSuccess, 10s);
  EXPECT_EQ(half.state(now), BreakerState::kOpen);
}

TEST(CircuitBreaker, ClientErrorFloodNeverTrips) {
  CircuitBreaker cb(NoJitter(), 1);
  const TimePoint now{};
  for (int i = 0; i < 10000; ++i) {
    const CallResult r = ClassifyForBreaker(std::nullopt, i % 2 ? 400 : 404);
    cb.OnResult(now, r, 90s);  // even slow ones
    cb.OnResult(now, ClassifyForBreaker(ErrorKind::kClientAbort, 0), 90s);
  }
  cb.OnResults(now, OutcomeCounts{0, 0, 0, 1000000});
  EXPECT_EQ(cb.state(now), BreakerState::kClosed);
  EXPECT_EQ(cb.window(now).calls, 0u);
  EXPECT_FALSE(cb.TakeTransition());
}

TEST(CircuitBreaker, OpenRefusesUntilTheOpenPeriodThenHalfOpens) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  EXPECT_EQ(Trip(cb, clock.Now()), Duration(5s));
  Drain(cb);
  clock.Advance(4999ms);
  EXPECT_FALSE(cb.TryAcquire(clock.Now()));
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kOpen);
  clock.Advance(1ms);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  const auto t = Drain(cb);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].reason, TransitionReason::kOpenElapsed);
  EXPECT_EQ(t[0].at, clock.Now());
}

TEST(CircuitBreaker, ResultsWhileOpenAreNotCounted) {
  CircuitBreaker cb(NoJitter(), 1);
  const TimePoint now{};
  Trip(cb, now);
  for (int i = 0; i < 100; ++i) cb.OnResult(now + 1s, CallResult::kFailure, kFast);
  EXPECT_EQ(cb.stale_results(), 100u);
  EXPECT_EQ(*cb.open_until(), now + 5s);
}

TEST(CircuitBreaker, HalfOpenAdmitsExactlyThePermitsAndClosesWhenAllSucceed) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  Trip(cb, clock.Now());
  clock.Advance(5s);
  std::vector<BreakerPermit> permits;
  for (int i = 0; i < 3; ++i) {
    const BreakerPermit p = cb.TryAcquire(clock.Now());
    ASSERT_TRUE(p);
    permits.push_back(p);
  }
  EXPECT_FALSE(cb.TryAcquire(clock.Now()));
  EXPECT_EQ(cb.outstanding_probes(), 3u);
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, permits[0]);
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, permits[1]);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  EXPECT_FALSE(cb.TryAcquire(clock.Now()));  // two succeeded, one outstanding: no new permit
  Drain(cb);
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, permits[2]);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
  const auto t = Drain(cb);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].reason, TransitionReason::kProbesSucceeded);
  EXPECT_EQ(t[0].calls, 3u);
  EXPECT_EQ(cb.consecutive_opens(), 0u);
  EXPECT_EQ(cb.window(clock.Now()).calls, 0u);  // a fresh window
  EXPECT_TRUE(cb.TryAcquire(clock.Now()));
  // The doubling was reset: the next trip is back to the base period.
  EXPECT_EQ(Trip(cb, clock.Now()), Duration(5s));
}

TEST(CircuitBreaker, HalfOpenFailureReopensWithDoubledPeriodUpToTheCap) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  Trip(cb, clock.Now());
  const Duration expected[] = {10s, 20s, 40s, 60s, 60s, 60s};
  for (const Duration want : expected) {
    clock.Set(*cb.open_until());
    const BreakerPermit p = cb.TryAcquire(clock.Now());
    ASSERT_TRUE(p);
    cb.TryAcquire(clock.Now());
    Drain(cb);
    cb.OnResult(clock.Now(), CallResult::kFailure, kFast, p);
    EXPECT_EQ(cb.state(clock.Now()), BreakerState::kOpen);
    const auto t = Drain(cb);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].reason, TransitionReason::kProbeFailed);
    EXPECT_EQ(t[0].open_for, want);
    EXPECT_EQ(*cb.open_until() - clock.Now(), want);
  }
  EXPECT_EQ(cb.consecutive_opens(), 7u);
  EXPECT_EQ(CircuitBreaker::BaseOpenDuration(cb.config(), 1000000), Duration(60s));
}

TEST(CircuitBreaker, LateProbeResultsOfAnEarlierRoundDoNotCount) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  Trip(cb, clock.Now());
  clock.Advance(5s);
  const BreakerPermit first = cb.TryAcquire(clock.Now());
  const BreakerPermit second = cb.TryAcquire(clock.Now());
  cb.OnResult(clock.Now(), CallResult::kFailure, kFast, first);  // reopens for 10 s
  clock.Advance(10s);
  ASSERT_TRUE(cb.TryAcquire(clock.Now()));
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, second);  // from the previous round
  cb.OnResult(clock.Now(), CallResult::kFailure, kFast, second);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  EXPECT_EQ(cb.outstanding_probes(), 1u);
  EXPECT_EQ(cb.stale_results(), 2u);
}

TEST(CircuitBreaker, CallsAdmittedWhileClosedCannotPassForProbes) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  const BreakerPermit old = cb.TryAcquire(clock.Now());
  Trip(cb, clock.Now());
  clock.Advance(5s);
  const BreakerPermit probe = cb.TryAcquire(clock.Now());
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, old);
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, old);
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, old);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  // Untagged results count only against outstanding permits.
  cb.OnResults(clock.Now(), OutcomeCounts{5, 0, 0, 0});
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  EXPECT_EQ(cb.outstanding_probes(), 0u);
  EXPECT_TRUE(cb.TryAcquire(clock.Now()));
  EXPECT_TRUE(cb.TryAcquire(clock.Now()));
  EXPECT_FALSE(cb.TryAcquire(clock.Now()));
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast);
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
  (void)probe;
}

TEST(CircuitBreaker, IgnoredResultInHalfOpenHandsThePermitBack) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  Trip(cb, clock.Now());
  clock.Advance(5s);
  const BreakerPermit a = cb.TryAcquire(clock.Now());
  const BreakerPermit b = cb.TryAcquire(clock.Now());
  const BreakerPermit c = cb.TryAcquire(clock.Now());
  EXPECT_FALSE(cb.TryAcquire(clock.Now()));
  cb.OnResult(clock.Now(), CallResult::kIgnored, 0s, a);  // the client went away
  EXPECT_EQ(cb.outstanding_probes(), 2u);
  const BreakerPermit d = cb.TryAcquire(clock.Now());
  ASSERT_TRUE(d);
  for (const BreakerPermit& p : {b, c, d}) {
    cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, p);
  }
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
}

TEST(CircuitBreaker, StuckHalfOpenReGrantsLostPermits) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  Trip(cb, clock.Now());
  clock.Advance(5s);
  const BreakerPermit first = cb.TryAcquire(clock.Now());
  const BreakerPermit lost1 = cb.TryAcquire(clock.Now());
  const BreakerPermit lost2 = cb.TryAcquire(clock.Now());
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, first);
  Drain(cb);
  clock.Advance(59s);  // nothing for almost a minute
  EXPECT_FALSE(cb.TryAcquire(clock.Now()));
  clock.Advance(1s);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  const auto t = Drain(cb);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].reason, TransitionReason::kProbesLost);
  EXPECT_EQ(t[0].calls, 2u);
  // The lost permits are granted again; the success already seen is kept.
  const BreakerPermit again1 = cb.TryAcquire(clock.Now());
  const BreakerPermit again2 = cb.TryAcquire(clock.Now());
  ASSERT_TRUE(again1);
  ASSERT_TRUE(again2);
  EXPECT_FALSE(cb.TryAcquire(clock.Now()));
  // The lost ones finally answer: a different epoch, not counted.
  cb.OnResult(clock.Now(), CallResult::kFailure, kFast, lost1);
  cb.OnResult(clock.Now(), CallResult::kFailure, kFast, lost2);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, again1);
  cb.OnResult(clock.Now(), CallResult::kSuccess, kFast, again2);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
}

TEST(CircuitBreaker, HalfOpenWithoutTrafficWaitsWithoutTimingOut) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  Trip(cb, clock.Now());
  clock.Advance(1h);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  Drain(cb);
  clock.Advance(1h);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  EXPECT_FALSE(cb.TakeTransition());
  EXPECT_EQ(cb.AcquirePermits(clock.Now(), 10), 3u);
}

TEST(CircuitBreaker, SlowProbesReopen) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  Trip(cb, clock.Now());
  clock.Advance(5s);
  ASSERT_EQ(cb.AcquirePermits(clock.Now(), 3), 3u);
  for (int i = 0; i < 3; ++i) cb.OnResult(clock.Now(), CallResult::kSuccess, 61s);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kOpen);
  const auto t = Drain(cb);
  EXPECT_EQ(t.back().reason, TransitionReason::kProbesSlow);
  EXPECT_EQ(t.back().open_for, Duration(10s));
  // One fast probe is enough with a 100% slow threshold.
  clock.Advance(10s);
  ASSERT_EQ(cb.AcquirePermits(clock.Now(), 3), 3u);
  cb.OnResult(clock.Now(), CallResult::kSuccess, 61s);
  cb.OnResult(clock.Now(), CallResult::kSuccess, 61s);
  cb.OnResult(clock.Now(), CallResult::kSuccess, 1s);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
}

TEST(CircuitBreaker, JitterStaysWithinTenPercentAndUnderTheCap) {
  CircuitBreakerConfig c;  // open_jitter 0.1
  std::set<Duration::rep> seen;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    CircuitBreaker cb(c, seed);
    ManualClock clock;
    const Duration first = Trip(cb, clock.Now());
    EXPECT_GE(first, Duration(4500ms));
    EXPECT_LE(first, Duration(5500ms));
    seen.insert(first.count());
    for (int i = 0; i < 8; ++i) {  // up to the cap
      clock.Set(*cb.open_until());
      cb.TryAcquire(clock.Now());
      cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
    }
    const Duration capped = *cb.open_until() - clock.Now();
    EXPECT_GE(capped, Duration(54s));
    EXPECT_LE(capped, Duration(60s));
  }
  EXPECT_GT(seen.size(), 150u);  // actually spread
}

TEST(CircuitBreaker, SameSeedSameSchedule) {
  CircuitBreaker a(CircuitBreakerConfig{}, 42);
  CircuitBreaker b(CircuitBreakerConfig{}, 42);
  EXPECT_EQ(Trip(a, TimePoint{}), Trip(b, TimePoint{}));
}

TEST(CircuitBreaker, ForceOpenHoldsUntilReset) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  cb.ForceOpen(clock.Now());
  EXPECT_TRUE(cb.forced_open());
  EXPECT_FALSE(cb.open_until());
  clock.Advance(24h);
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kOpen);
  EXPECT_FALSE(cb.TryAcquire(clock.Now()));
  cb.Reset(clock.Now());
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
  EXPECT_TRUE(cb.TryAcquire(clock.Now()));
  const auto t = Drain(cb);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].reason, TransitionReason::kForcedOpen);
  EXPECT_EQ(t[0].to, BreakerState::kOpen);
  EXPECT_EQ(t[1].reason, TransitionReason::kReset);
  EXPECT_EQ(t[1].from, BreakerState::kOpen);
  EXPECT_EQ(t[1].to, BreakerState::kClosed);
}

TEST(CircuitBreaker, ResetClearsTheDoubling) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  Trip(cb, clock.Now());
  clock.Set(*cb.open_until());
  cb.TryAcquire(clock.Now());
  cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
  EXPECT_EQ(cb.consecutive_opens(), 2u);
  cb.Reset(clock.Now());
  EXPECT_EQ(cb.consecutive_opens(), 0u);
  EXPECT_EQ(Trip(cb, clock.Now()), Duration(5s));
}

TEST(CircuitBreaker, BatchedOutcomesTripAndProbe) {
  ManualClock clock;
  CircuitBreaker cb(NoJitter(), 1);
  cb.OnResults(clock.Now(), OutcomeCounts{10, 9, 0, 500});
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
  cb.OnResults(clock.Now(), OutcomeCounts{0, 1, 0, 0});
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kOpen);
  clock.Advance(5s);
  EXPECT_EQ(cb.AcquirePermits(clock.Now(), 100), 3u);
  cb.OnResults(clock.Now(), OutcomeCounts{2, 1, 0, 0});  // any failure reopens
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kOpen);
  clock.Advance(10s);
  EXPECT_EQ(cb.AcquirePermits(clock.Now(), 100), 3u);
  cb.OnResults(clock.Now(), OutcomeCounts{2, 0, 0, 1});  // one aborted: permit back
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kHalfOpen);
  EXPECT_EQ(cb.AcquirePermits(clock.Now(), 100), 1u);
  cb.OnResults(clock.Now(), OutcomeCounts{1, 0, 0, 0});
  EXPECT_EQ(cb.state(clock.Now()), BreakerState::kClosed);
}

TEST(CircuitBreaker, BatchLargerThanTheCountWindowKeepsProportions) {
  CircuitBreakerConfig c = NoJitter();
  c.window_size = 10;
  c.minimum_calls = 10;
  CircuitBreaker cb(c, 1);
  cb.OnResults(TimePoint{}, OutcomeCounts{700, 300, 500, 0});
  const WindowStats s = cb.window(TimePoint{});
  EXPECT_EQ(s.calls, 10u);
  EXPECT_EQ(s.failures, 3u);
  EXPECT_EQ(s.slow, 5u);
  EXPECT_EQ(cb.state(TimePoint{}), BreakerState::kClosed);
  cb.OnResults(TimePoint{}, OutcomeCounts{0, 2000, 0, 0});
  EXPECT_EQ(cb.state(TimePoint{}), BreakerState::kOpen);
}

TEST(CircuitBreaker, TransitionQueueIsBounded) {
  CircuitBreakerConfig c = NoJitter();
  c.minimum_calls = 1;
  c.window_size = 1;
  CircuitBreaker cb(c, 1);
  ManualClock clock;
  for (int i = 0; i < 100; ++i) {
    cb.Reset(clock.Now());
    cb.OnResult(clock.Now(), CallResult::kFailure, kFast);
  }
  EXPECT_EQ(Drain(cb).size(), 64u);
  EXPECT_EQ(cb.dropped_transitions(), 136u);
}

TEST(CircuitBreaker, ValidationNamesTheProblem) {
  auto bad = [](auto edit) {
    CircuitBreakerConfig c;
    edit(c);
    return ValidateCircuitBreakerConfig(c).has_value();
  };
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.window_size = 0; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.failure_rate_threshold = 0; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.failure_rate_threshold = 101; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.slow_call_rate_threshold = -1; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.minimum_calls = 0; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.open_duration = 0s; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.max_open_duration = 1s; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.open_jitter = 1.0; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.half_open_permits = 0; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) { c.half_open_timeout = 0s; }));
  EXPECT_TRUE(bad([](CircuitBreakerConfig& c) {
    c.window_type = WindowType::kTime;
    c.window_size = 7200;
  }));
  // Invalid values are clamped, never crash.
  CircuitBreakerConfig c;
  c.window_size = 0;
  c.half_open_permits = 0;
  c.failure_rate_threshold = 0;
  CircuitBreaker cb(c, 1);
  EXPECT_EQ(cb.config().window_size, 1u);
  EXPECT_EQ(cb.config().half_open_permits, 1u);
  EXPECT_EQ(cb.config().failure_rate_threshold, 50.0);
}

TEST(CircuitBreaker, NamesAreStable) {
  EXPECT_EQ(ToString(BreakerState::kHalfOpen), "half_open");
  EXPECT_EQ(ToString(TransitionReason::kProbesLost), "probes_lost");
  EXPECT_EQ(ToString(TransitionReason::kFailureRate), "failure_rate");
}

}  // namespace
}  // namespace infergate::resilience
