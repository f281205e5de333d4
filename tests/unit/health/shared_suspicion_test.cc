// SharedSuspicion: another instance's conviction holds a backend out for `hold`; one not borne out
// here makes this instance deaf to that backend's shared convictions for `quiet`, unless it sees a
// fault of its own.
#include "infergate/health/shared_suspicion.h"

#include <gtest/gtest.h>

namespace infergate::health {
namespace {

using namespace std::chrono_literals;
using V = SharedSuspicion::Verdict;

constexpr SharedSuspicionConfig kConfig{10s, 60s};
const TimePoint kT0 = TimePoint{} + 1000s;

TEST(SharedSuspicion, AConvictionHoldsTheBackendOutForTheHoldThenRunsOut) {
  SharedSuspicion s(kConfig);
  EXPECT_FALSE(s.active());
  EXPECT_EQ(s.OnConviction(kT0, "a"), V::kHonoured);
  EXPECT_TRUE(s.active());
  EXPECT_EQ(s.by(), "a");
  EXPECT_EQ(s.until(), kT0 + 10s);
  EXPECT_FALSE(s.Expire(kT0 + 9999ms));
  EXPECT_TRUE(s.active());
  EXPECT_TRUE(s.Expire(kT0 + 10s));
  EXPECT_FALSE(s.active());
  EXPECT_FALSE(s.Expire(kT0 + 11s)) << "expires once";
}

TEST(SharedSuspicion, ASecondConvictionDuringTheHoldDoesNotExtendIt) {
  SharedSuspicion s(kConfig);
  ASSERT_EQ(s.OnConviction(kT0, "a"), V::kHonoured);
  EXPECT_EQ(s.OnConviction(kT0 + 5s, "a"), V::kRefreshed);
  EXPECT_EQ(s.OnConviction(kT0 + 6s, "b"), V::kRefreshed);
  EXPECT_EQ(s.until(), kT0 + 10s);
  EXPECT_TRUE(s.Expire(kT0 + 10s));
}

TEST(SharedSuspicion, AnUnconfirmedSuspicionMakesItDeafForQuiet) {
  SharedSuspicion s(kConfig);
  ASSERT_EQ(s.OnConviction(kT0, "confused"), V::kHonoured);
  ASSERT_TRUE(s.Expire(kT0 + 10s));
  // The confused instance convicts again: ignored until quiet has passed since the end.
  EXPECT_EQ(s.OnConviction(kT0 + 11s, "confused"), V::kIgnored);
  EXPECT_EQ(s.OnConviction(kT0 + 69s, "other"), V::kIgnored);
  EXPECT_FALSE(s.active());
  EXPECT_EQ(s.OnConviction(kT0 + 70s, "confused"), V::kHonoured);
  // Over a long run the confused instance holds the backend out for hold of every hold + quiet.
  int out_ms = 0;
  SharedSuspicion t(kConfig);
  for (int ms = 0; ms < 700'000; ms += 100) {
    const TimePoint now = kT0 + std::chrono::milliseconds(ms);
    t.Expire(now);
    t.OnConviction(now, "confused");
    if (t.active()) out_ms += 100;
  }
  EXPECT_LE(out_ms, 700'000 * 10 / 70 + 10'000);
  EXPECT_GE(out_ms, 700'000 * 10 / 70 - 10'000);
}

TEST(SharedSuspicion, AFaultSeenHereEndsTheDeafness) {
  SharedSuspicion s(kConfig);
  ASSERT_EQ(s.OnConviction(kT0, "a"), V::kHonoured);
  ASSERT_TRUE(s.Expire(kT0 + 10s));
  ASSERT_EQ(s.OnConviction(kT0 + 12s, "a"), V::kIgnored);
  s.OnOwnFault();
  EXPECT_EQ(s.OnConviction(kT0 + 13s, "a"), V::kHonoured);
}

TEST(SharedSuspicion, AFaultDuringTheHoldConfirmsIt) {
  SharedSuspicion s(kConfig);
  ASSERT_EQ(s.OnConviction(kT0, "a"), V::kHonoured);
  s.OnOwnFault();  // a request of this instance's already in flight failed
  ASSERT_TRUE(s.Expire(kT0 + 10s));
  EXPECT_EQ(s.OnConviction(kT0 + 11s, "a"), V::kHonoured) << "borne out: not deaf";
  ASSERT_TRUE(s.Expire(kT0 + 21s));
  EXPECT_EQ(s.OnConviction(kT0 + 22s, "a"), V::kIgnored) << "the second one was not";
}

TEST(SharedSuspicion, OnlyTheConvictingInstanceClearsIt) {
  SharedSuspicion s(kConfig);
  ASSERT_EQ(s.OnConviction(kT0, "a"), V::kHonoured);
  EXPECT_FALSE(s.OnClear(kT0 + 1s, "b"));
  EXPECT_TRUE(s.active());
  EXPECT_TRUE(s.OnClear(kT0 + 2s, "a"));
  EXPECT_FALSE(s.active());
  EXPECT_FALSE(s.OnClear(kT0 + 3s, "a")) << "nothing left to clear";
}

TEST(SharedSuspicion, WithASecondInstanceBehindItAClearWaitsForTheHold) {
  SharedSuspicion s(kConfig);
  ASSERT_EQ(s.OnConviction(kT0, "a"), V::kHonoured);
  ASSERT_EQ(s.OnConviction(kT0 + 1s, "b"), V::kRefreshed);
  EXPECT_FALSE(s.OnClear(kT0 + 2s, "a"));
  EXPECT_TRUE(s.active());
  EXPECT_TRUE(s.Expire(kT0 + 10s));
}

TEST(SharedSuspicion, ACanaryAnsweringHereLiftsItAtOnce) {
  SharedSuspicion s(kConfig);
  EXPECT_FALSE(s.OnOwnSuccess(kT0)) << "nothing to lift";
  ASSERT_EQ(s.OnConviction(kT0, "a"), V::kHonoured);
  EXPECT_TRUE(s.OnOwnSuccess(kT0 + 1s));
  EXPECT_FALSE(s.active());
  EXPECT_EQ(s.OnConviction(kT0 + 2s, "a"), V::kIgnored) << "contradicted here";
}

TEST(SharedSuspicion, ReconfigureAppliesToTheNextSuspicion) {
  SharedSuspicion s(kConfig);
  s.Reconfigure({2s, 0s});
  ASSERT_EQ(s.OnConviction(kT0, "a"), V::kHonoured);
  EXPECT_EQ(s.until(), kT0 + 2s);
  ASSERT_TRUE(s.Expire(kT0 + 2s));
  EXPECT_EQ(s.OnConviction(kT0 + 2s, "a"), V::kHonoured) << "quiet 0: never deaf";
}

}  // namespace
}  // namespace infergate::health
