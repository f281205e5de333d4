// OutlierDetector: streaks, multiplied and capped ejection times, decay, the max-ejection
// guard; and the panic-mode helper.
#include "infergate/resilience/outlier_ejection.h"

#include <gtest/gtest.h>

#include "infergate/core/clock.h"
#include "infergate/resilience/panic.h"

namespace infergate::resilience {
namespace {
using namespace std::chrono_literals;
using Kind = EjectionEvent::Kind;

void Fail(OutlierDetector& d, TimePoint now, size_t host, int times) {
  for (int i = 0; i < times; ++i) d.OnResult(now, host, CallResult::kFailure);
}

TEST(OutlierDetector, EjectsOnExactlyTheFifthConsecutiveFailure) {
  OutlierDetector d(OutlierEjectionConfig{}, 10);
  ManualClock clock;
  Fail(d, clock.Now(), 3, 4);
  EXPECT_FALSE(d.IsEjected(3, clock.Now()));
  EXPECT_EQ(d.consecutive_failures(3), 4u);
  EXPECT_TRUE(d.TakeEvents().empty());
  Fail(d, clock.Now(), 3, 1);
  EXPECT_TRUE(d.IsEjected(3, clock.Now()));
  const auto events = d.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kEjected);
  EXPECT_EQ(events[0].host, 3u);
  EXPECT_EQ(events[0].ejection_time, Duration(30s));
  EXPECT_EQ(events[0].until, clock.Now() + 30s);
  EXPECT_EQ(events[0].times_ejected, 1u);
  EXPECT_EQ(events[0].consecutive_failures, 5u);
  EXPECT_EQ(d.NextUnejection(), clock.Now() + 30s);
  for (size_t h = 0; h < 10; ++h) EXPECT_EQ(d.IsEjected(h, clock.Now()), h == 3);
}

TEST(OutlierDetector, SuccessResetsTheStreakAndIgnoredDoesNot) {
  OutlierDetector d(OutlierEjectionConfig{}, 2);
  const TimePoint now{};
  Fail(d, now, 0, 4);
  d.OnResult(now, 0, CallResult::kSuccess);
  Fail(d, now, 0, 4);
  EXPECT_FALSE(d.IsEjected(0, now));
  d.OnResult(now, 0, CallResult::kIgnored);  // a client error says nothing
  for (int i = 0; i < 100; ++i) d.OnResult(now, 0, CallResult::kIgnored);
  EXPECT_EQ(d.consecutive_failures(0), 4u);
  Fail(d, now, 0, 1);
  EXPECT_TRUE(d.IsEjected(0, now));
}

TEST(OutlierDetector, UnejectsWhenTheTimePassesWithAFreshStreak) {
  OutlierDetector d(OutlierEjectionConfig{}, 10);
  ManualClock clock;
  Fail(d, clock.Now(), 1, 5);
  d.TakeEvents();
  Fail(d, clock.Now() + 10s, 1, 20);  // admitted before the ejection: dropped
  clock.Advance(29999ms);
  EXPECT_TRUE(d.IsEjected(1, clock.Now()));
  clock.Advance(1ms);
  EXPECT_FALSE(d.IsEjected(1, clock.Now()));
  const auto events = d.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kUnejected);
  EXPECT_EQ(events[0].at, clock.Now());
  EXPECT_EQ(d.consecutive_failures(1), 0u);
  EXPECT_FALSE(d.NextUnejection());
  Fail(d, clock.Now(), 1, 4);
  EXPECT_FALSE(d.IsEjected(1, clock.Now()));
}

TEST(OutlierDetector, EjectionTimeMultipliesAndCaps) {
  OutlierDetector d(OutlierEjectionConfig{}, 10);
  ManualClock clock;
  const Duration expected[] = {30s, 60s, 90s, 120s, 150s, 180s, 210s, 240s, 270s, 300s, 300s, 300s};
  for (const Duration want : expected) {
    Fail(d, clock.Now(), 0, 5);  // fails again right away: no decay
    const auto events = d.TakeEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].ejection_time, want);
    clock.Advance(want);
    EXPECT_FALSE(d.IsEjected(0, clock.Now()));
    d.TakeEvents();
  }
  EXPECT_EQ(d.TimesEjected(0, clock.Now()), 10u);  // stops growing at max / base
}

TEST(OutlierDetector, MultiplierDecaysAfterHealthyPeriods) {
  OutlierDetector d(OutlierEjectionConfig{}, 10);
  ManualClock clock;
  Fail(d, clock.Now(), 0, 5);
  clock.Advance(30s);
  Fail(d, clock.Now(), 0, 5);  // second ejection: 60 s
  clock.Advance(60s);
  EXPECT_FALSE(d.IsEjected(0, clock.Now()));
  EXPECT_EQ(d.TimesEjected(0, clock.Now()), 2u);
  clock.Advance(29s);
  EXPECT_EQ(d.TimesEjected(0, clock.Now()), 2u);
  clock.Advance(1s);  // one healthy base period
  EXPECT_EQ(d.TimesEjected(0, clock.Now()), 1u);
  d.TakeEvents();
  Fail(d, clock.Now(), 0, 5);
  auto events = d.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].ejection_time, Duration(60s));  // 2 x base, not 3 x
  clock.Advance(60s);
  EXPECT_FALSE(d.IsEjected(0, clock.Now()));
  clock.Advance(10min);
  EXPECT_EQ(d.TimesEjected(0, clock.Now()), 0u);
  d.TakeEvents();
  Fail(d, clock.Now(), 0, 5);
  events = d.TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].ejection_time, Duration(30s));  // fully decayed
}

TEST(OutlierDetector, MaxEjectionPercentIsRespected) {
  OutlierDetector d(OutlierEjectionConfig{}, 30);  // 10% of 30 = 3
  EXPECT_EQ(d.MaxEjected(), 3u);
  ManualClock clock;
  for (size_t h = 0; h < 5; ++h) Fail(d, clock.Now(), h, 5);
  EXPECT_EQ(d.EjectedCount(clock.Now()), 3u);
  EXPECT_FALSE(d.IsEjected(3, clock.Now()));
  const auto events = d.TakeEvents();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[3].kind, Kind::kSuppressed);
  EXPECT_EQ(events[4].kind, Kind::kSuppressed);
  Fail(d, clock.Now(), 3, 10);  // still suppressed, reported once per streak
  EXPECT_TRUE(d.TakeEvents().empty());
  // Once a slot frees, the suppressed host goes on its next failure.
  clock.Advance(30s);
  EXPECT_EQ(d.EjectedCount(clock.Now()), 0u);
  Fail(d, clock.Now(), 3, 1);
  EXPECT_TRUE(d.IsEjected(3, clock.Now()));
}

TEST(OutlierDetector, AtLeastOneHostMayAlwaysBeEjected) {
  for (const size_t hosts : {1u, 2u, 5u, 9u}) {
    OutlierDetector d(OutlierEjectionConfig{}, hosts);
    EXPECT_EQ(d.MaxEjected(), 1u) << hosts;
    Fail(d, TimePoint{}, 0, 5);
    EXPECT_TRUE(d.IsEjected(0, TimePoint{})) << hosts;
    if (hosts > 1) {
      Fail(d, TimePoint{}, 1, 5);
      EXPECT_FALSE(d.IsEjected(1, TimePoint{})) << hosts;
    }
  }
  OutlierEjectionConfig zero;
  zero.max_ejection_percent = 0;
  OutlierDetector d(zero, 100);
  EXPECT_EQ(d.MaxEjected(), 1u);
  OutlierEjectionConfig half;
  half.max_ejection_percent = 50;
  EXPECT_EQ(OutlierDetector(half, 7).MaxEjected(), 3u);
}

TEST(OutlierDetector, ExternalStreaks) {
  OutlierDetector d(OutlierEjectionConfig{}, 4);
  ManualClock clock;
  d.OnConsecutiveFailures(clock.Now(), 2, 4);
  EXPECT_FALSE(d.IsEjected(2, clock.Now()));
  d.OnConsecutiveFailures(clock.Now(), 2, 7);
  EXPECT_TRUE(d.IsEjected(2, clock.Now()));
  EXPECT_EQ(d.TakeEvents().at(0).consecutive_failures, 7u);
}

TEST(OutlierDetector, DisabledResetAndOutOfRange) {
  OutlierEjectionConfig off;
  off.consecutive_failures = 0;
  OutlierDetector disabled(off, 3);
  Fail(disabled, TimePoint{}, 0, 1000);
  EXPECT_FALSE(disabled.IsEjected(0, TimePoint{}));

  OutlierDetector d(OutlierEjectionConfig{}, 3);
  Fail(d, TimePoint{}, 1, 5);
  d.ResetHost(1);
  EXPECT_FALSE(d.IsEjected(1, TimePoint{}));
  EXPECT_EQ(d.EjectedCount(TimePoint{}), 0u);
  EXPECT_EQ(d.TimesEjected(1, TimePoint{}), 0u);
  Fail(d, TimePoint{}, 99, 5);  // ignored
  EXPECT_FALSE(d.IsEjected(99, TimePoint{}));
  EXPECT_EQ(ToString(Kind::kSuppressed), "suppressed");
}

TEST(Panic, BelowThresholdOfAvailableHosts) {
  EXPECT_FALSE(InPanic(10, 10));
  EXPECT_FALSE(InPanic(5, 10));  // exactly 50%: not below
  EXPECT_TRUE(InPanic(4, 10));
  EXPECT_TRUE(InPanic(0, 10));
  EXPECT_TRUE(InPanic(0, 1));
  EXPECT_FALSE(InPanic(1, 1));
  EXPECT_FALSE(InPanic(1, 2));
  EXPECT_FALSE(InPanic(0, 0));        // empty pool
  EXPECT_FALSE(InPanic(0, 10, 0.0));  // disabled
  EXPECT_TRUE(InPanic(9, 10, 100.0));
  EXPECT_FALSE(InPanic(2, 10, 20.0));
  EXPECT_TRUE(InPanic(1, 10, 20.0));
  static_assert(InPanic(1, 3));
}

}  // namespace
}  // namespace infergate::resilience

namespace infergate::resilience {
namespace {

TEST(OutlierDetector, AdoptCarriesAHostsEjectionToANewIndex) {
  ManualClock clock;
  OutlierDetector before(OutlierEjectionConfig{}, 3);
  Fail(before, clock.Now(), 2, 5);
  ASSERT_TRUE(before.IsEjected(2, clock.Now()));
  // A reload put a new backend in front: host 2 is host 3 of a pool of 4 now.
  OutlierDetector after(OutlierEjectionConfig{}, 4);
  after.Adopt(3, before.StateOf(2));
  after.Adopt(1, before.StateOf(0));
  EXPECT_TRUE(after.IsEjected(3, clock.Now()));
  EXPECT_FALSE(after.IsEjected(0, clock.Now()));
  EXPECT_EQ(after.EjectedCount(clock.Now()), 1u);
  EXPECT_EQ(after.TimesEjected(3, clock.Now()), 1u);
  clock.Advance(31s);  // the ejection ends when it would have
  EXPECT_FALSE(after.IsEjected(3, clock.Now()));
  EXPECT_EQ(after.EjectedCount(clock.Now()), 0u);
  after.Adopt(3, before.StateOf(2));  // adopting over a host fixes the count
  after.Adopt(3, OutlierDetector::HostState{});
  EXPECT_EQ(after.EjectedCount(clock.Now()), 0u);
}

}  // namespace
}  // namespace infergate::resilience
