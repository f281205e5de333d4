// Backoff ceilings and full jitter, the retryable status set, and Retry-After in all its forms.
#include "infergate/resilience/backoff.h"

#include <gtest/gtest.h>

namespace infergate::resilience {
namespace {
using namespace std::chrono_literals;
using std::chrono::system_clock;

TEST(Backoff, CeilingGrowsExponentiallyUpToTheCap) {
  const BackoffConfig c;  // 25 ms, 250 ms
  EXPECT_EQ(BackoffCeiling(c, 0), Duration(25ms));
  EXPECT_EQ(BackoffCeiling(c, 1), Duration(25ms));
  EXPECT_EQ(BackoffCeiling(c, 2), Duration(75ms));
  EXPECT_EQ(BackoffCeiling(c, 3), Duration(175ms));
  EXPECT_EQ(BackoffCeiling(c, 4), Duration(250ms));
  EXPECT_EQ(BackoffCeiling(c, 1000000), Duration(250ms));
  const BackoffConfig huge{Duration(1h), Duration::max()};
  EXPECT_EQ(BackoffCeiling(huge, 200), Duration::max());  // no overflow
  EXPECT_EQ(BackoffCeiling(BackoffConfig{0ms, 1s}, 5), Duration(0));
}

TEST(Backoff, FullJitterStaysInRangeAndSpreads) {
  const BackoffConfig c;
  Rng rng(7);
  for (uint32_t attempt = 1; attempt <= 6; ++attempt) {
    const Duration ceiling = BackoffCeiling(c, attempt);
    Duration lo = Duration::max(), hi = Duration::zero();
    double sum = 0;
    constexpr int kDraws = 20000;
    for (int i = 0; i < kDraws; ++i) {
      const Duration d = BackoffDelay(c, attempt, rng);
      ASSERT_GE(d, Duration::zero());
      ASSERT_LT(d, ceiling);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
      sum += static_cast<double>(d.count());
    }
    const double mean = sum / kDraws / static_cast<double>(ceiling.count());
    EXPECT_NEAR(mean, 0.5, 0.02) << attempt;  // uniform, not piled at the cap
    EXPECT_LT(lo, ceiling / 50);
    EXPECT_GT(hi, ceiling * 49 / 50);
  }
}

TEST(Backoff, SameSeedSameDelays) {
  Rng a(99), b(99);
  for (int i = 1; i < 10; ++i) {
    EXPECT_EQ(BackoffDelay(BackoffConfig{}, i, a), BackoffDelay(BackoffConfig{}, i, b));
  }
  Rng r(1);
  EXPECT_EQ(BackoffDelay(BackoffConfig{0ms, 0ms}, 3, r), Duration(0));
}

TEST(RetryableStatuses, DefaultSet) {
  for (int s = 100; s < 600; ++s) {
    EXPECT_EQ(IsDefaultRetryableStatus(s), s == 429 || s == 502 || s == 503 || s == 504) << s;
  }
}

system_clock::time_point Noon() {
  using namespace std::chrono;
  return sys_days{2024y / June / 1} + 12h;  // Sat, 01 Jun 2024 12:00:00 GMT
}

TEST(ParseRetryAfter, DeltaSeconds) {
  const auto now = Noon();
  EXPECT_EQ(ParseRetryAfter("120", now), Duration(60s));  // capped by default
  EXPECT_EQ(ParseRetryAfter("120", now, 5min), Duration(120s));
  EXPECT_EQ(ParseRetryAfter("0", now), Duration(0));
  EXPECT_EQ(ParseRetryAfter("7", now), Duration(7s));
  EXPECT_EQ(ParseRetryAfter(" \t7 ", now), Duration(7s));
  EXPECT_EQ(ParseRetryAfter("007", now), Duration(7s));
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999", now), Duration(60s));
  EXPECT_EQ(ParseRetryAfter("60", now), Duration(60s));
  EXPECT_EQ(ParseRetryAfter("61", now), Duration(60s));
  // Uncapped, to refuse long waits instead of shortening them.
  EXPECT_EQ(ParseRetryAfter("3600", now, Duration::max()), Duration(1h));
  EXPECT_GT(*ParseRetryAfter("99999999999999999999", now, Duration::max()), Duration(24h * 365));
  EXPECT_EQ(ParseRetryAfter("Sat, 01 Jun 2024 13:00:00 GMT", now, Duration::max()), Duration(1h));
}

TEST(ParseRetryAfter, RejectsGarbage) {
  const auto now = Noon();
  for (const char* bad : {"",
                          " ",
                          "-1",
                          "+5",
                          "1.5",
                          "5s",
                          "5 s",
                          "1,2",
                          "abc",
                          "0x10",
                          "5;",
                          "Sat, 01 Jun 2024 12:00:30 gmt",
                          "Sat, 01 Jun 2024 12:00:30 UTC",
                          "Sat, 1 Jun 2024 12:00:30 GMT",
                          "Sat, 31 Jun 2024 12:00:30 GMT",
                          "Sat, 29 Feb 2023 12:00:30 GMT",
                          "Sat, 01 Jun 2024 24:00:00 GMT",
                          "Sat, 01 Jun 2024 12:60:00 GMT",
                          "Sat, 01 Foo 2024 12:00:30 GMT",
                          "Xyz, 01 Jun 2024 12:00:30 GMT",
                          "Sat, 01 Jun 2024 12:00:30 GMT x",
                          "Sat 01 Jun 2024 12:00:30 GMT",
                          "Saturday, 01-Jun-2024 12:00:30 GMT",
                          "Sat Jun 1 12:00:30 2024",
                          "2024-06-01T12:00:30Z"}) {
    EXPECT_FALSE(ParseRetryAfter(bad, now)) << '"' << bad << '"';
  }
}

TEST(ParseRetryAfter, ImfFixdate) {
  const auto now = Noon();
  EXPECT_EQ(ParseRetryAfter("Sat, 01 Jun 2024 12:00:30 GMT", now), Duration(30s));
  EXPECT_EQ(ParseRetryAfter("  Sat, 01 Jun 2024 12:00:30 GMT ", now), Duration(30s));
  EXPECT_EQ(ParseRetryAfter("Sat, 01 Jun 2024 12:00:00 GMT", now), Duration(0));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), Duration(0));    // past
  EXPECT_EQ(ParseRetryAfter("Sat, 01 Jun 2024 13:00:00 GMT", now), Duration(60s));  // capped
  EXPECT_EQ(ParseRetryAfter("Sat, 01 Jun 2024 13:00:00 GMT", now, 2h), Duration(1h));
  EXPECT_EQ(ParseRetryAfter("Thu, 29 Feb 2024 12:00:00 GMT", now - 24h * 94, 48h),
            Duration(24h));  // a leap day, from noon the day before
  // Sub-second `now`: the exact remainder.
  EXPECT_EQ(ParseRetryAfter("Sat, 01 Jun 2024 12:00:30 GMT", now + 250ms), Duration(29750ms));
}

TEST(ParseRetryAfter, Rfc850WithTwoDigitYears) {
  const auto now = Noon();
  EXPECT_EQ(ParseRetryAfter("Saturday, 01-Jun-24 12:00:30 GMT", now), Duration(30s));
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now), Duration(0));  // 1994
  // 2074 is 50 years ahead (kept, so capped); 2075 would be more: read as 1975 (past).
  EXPECT_EQ(ParseRetryAfter("Friday, 01-Jun-74 12:00:30 GMT", now), Duration(60s));
  EXPECT_EQ(ParseRetryAfter("Saturday, 01-Jun-75 12:00:30 GMT", now), Duration(0));
}

TEST(ParseRetryAfter, Asctime) {
  const auto now = Noon();
  EXPECT_EQ(ParseRetryAfter("Sat Jun  1 12:00:45 2024", now), Duration(45s));
  EXPECT_EQ(ParseRetryAfter("Sat Jun 01 12:00:45 2024", now), Duration(45s));
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:37 1994", now), Duration(0));
}

}  // namespace
}  // namespace infergate::resilience
