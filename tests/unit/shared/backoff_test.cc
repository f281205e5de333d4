// The reconnect schedule: doubling from the initial delay, capped, jittered within [base/2, base].
#include "infergate/shared/backoff.h"

#include <gtest/gtest.h>

#include "infergate/core/random.h"

namespace infergate::shared {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesUpToTheCapWithinTheJitterBand) {
  Backoff backoff(milliseconds(100), milliseconds(1000));
  Rng rng(7);
  const int64_t bases[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (int64_t base : bases) {
    EXPECT_EQ(backoff.Base().count(), base);
    const auto delay = backoff.Next(rng).count();
    EXPECT_GE(delay, base / 2);
    EXPECT_LE(delay, base);
  }
}

TEST(Backoff, ResetStartsAgainFromTheInitialDelay) {
  Backoff backoff(milliseconds(50), milliseconds(5000));
  Rng rng(1);
  for (int i = 0; i < 5; ++i) backoff.Next(rng);
  EXPECT_EQ(backoff.Base().count(), 1600);
  backoff.Reset();
  EXPECT_EQ(backoff.Base().count(), 50);
  EXPECT_LE(backoff.Next(rng).count(), 50);
}

TEST(Backoff, FailureCountStopsGrowingAtTheCap) {
  Backoff backoff(milliseconds(1), milliseconds(8));
  Rng rng(3);
  for (int i = 0; i < 1000; ++i) backoff.Next(rng);
  EXPECT_EQ(backoff.failures(), 3);
  EXPECT_EQ(backoff.Base().count(), 8);
}

TEST(Backoff, JitterSpreadsTheDelays) {
  Backoff backoff(milliseconds(1000), milliseconds(1000));
  Rng rng(11);
  int64_t low = 1000, high = 0;
  for (int i = 0; i < 200; ++i) {
    const auto d = backoff.Next(rng).count();
    low = std::min(low, d);
    high = std::max(high, d);
  }
  EXPECT_LT(low, 600);
  EXPECT_GT(high, 900);
}

TEST(Backoff, BadBoundsAreClamped) {
  Backoff backoff(milliseconds(0), milliseconds(0));
  Rng rng(5);
  EXPECT_EQ(backoff.Base().count(), 1);
  EXPECT_LE(backoff.Next(rng).count(), 1);
}

}  // namespace
}  // namespace infergate::shared
