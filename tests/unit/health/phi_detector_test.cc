// PhiAccrualDetector: the reference's stateful vectors, seeding, evidence coalescing and stall
// forgiveness, all on a ManualClock.
#include "infergate/health/phi_detector.h"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <vector>

namespace infergate::health {
namespace {
using namespace std::chrono_literals;

// The reference's test defaults: threshold 8, min_std_dev 100 ms, acceptable pause 0, first
// estimate 1 s.
PhiConfig VectorDefaults() {
  PhiConfig c = PhiConfig::ReferenceDefaults();
  c.acceptable_pause = 0ms;
  return c;
}

// A clock that reads as the running sum of the listed intervals (ms): each Next() consumes one,
// the way the reference drives its detector (every heartbeat or check reads the clock once).
class Timeline {
 public:
  explicit Timeline(std::initializer_list<int> intervals_ms) : intervals_(intervals_ms) {}
  TimePoint Next() {
    EXPECT_LT(i_, intervals_.size()) << "timeline exhausted";
    clock_.Advance(std::chrono::milliseconds(intervals_.at(i_++)));
    return clock_.Now();
  }

 private:
  std::vector<int> intervals_;
  size_t i_ = 0;
  ManualClock clock_;
};

TimePoint At(int ms) { return TimePoint{} + std::chrono::milliseconds(ms); }

TEST(PhiDetector, NoHeartbeatYetMeansPhiZeroAndAvailable) {
  PhiAccrualDetector d(VectorDefaults());
  EXPECT_EQ(d.Phi(At(0)), 0.0);
  EXPECT_EQ(d.Phi(At(100'000)), 0.0);
  EXPECT_TRUE(d.IsAvailable(At(100'000)));
  EXPECT_FALSE(d.HasHeartbeat());
}

TEST(PhiDetector, FirstHeartbeatSeedsTwoIntervalsFromTheEstimate) {
  PhiAccrualDetector d(VectorDefaults());
  d.Heartbeat(At(0));
  EXPECT_EQ(d.SampleCount(), 2u);  // 750 ms and 1250 ms
  EXPECT_NEAR(d.Mean(), 1000.0, 1e-9);
  EXPECT_NEAR(d.StdDev(), 250.0, 1e-9);
}

TEST(PhiDetector, ReferenceOneHeartbeatThenSilence) {
  PhiAccrualDetector d(VectorDefaults());
  d.Heartbeat(At(0));
  EXPECT_NEAR(d.Phi(At(1000)), 0.3, 0.2);
  EXPECT_NEAR(d.Phi(At(2000)), 4.5, 0.3);
  EXPECT_GT(d.Phi(At(3000)), 15.0);
}

TEST(PhiDetector, ReferenceMissedHeartbeatsWithThreshold3) {
  // Intervals [0, 1000, 100, 100, 7000]: heartbeats at 0, 1000, 1100; checks at 1200 and 8200.
  PhiConfig c = VectorDefaults();
  c.threshold = 3;
  PhiAccrualDetector d(c);
  Timeline tl{0, 1000, 100, 100, 7000};
  d.Heartbeat(tl.Next());
  d.Heartbeat(tl.Next());
  d.Heartbeat(tl.Next());
  const TimePoint t1200 = tl.Next();
  EXPECT_NEAR(d.Phi(t1200), 0.026, 0.002);
  EXPECT_TRUE(d.IsAvailable(t1200));
  const TimePoint t8200 = tl.Next();
  EXPECT_NEAR(d.Phi(t8200), 109, 1);
  EXPECT_FALSE(d.IsAvailable(t8200));
}

TEST(PhiDetector, ReferenceAcceptablePauseToleratesMissedHeartbeats) {
  // Pause 3 s, intervals [0, 1000, 1000, 1000, 4000, 1000, 1000]: heartbeats at 0..3000, check
  // at 7000, heartbeat at 8000, check at 9000.
  PhiConfig c = VectorDefaults();
  c.acceptable_pause = 3s;
  PhiAccrualDetector d(c);
  Timeline tl{0, 1000, 1000, 1000, 4000, 1000, 1000};
  for (int i = 0; i < 4; ++i) d.Heartbeat(tl.Next());
  EXPECT_TRUE(d.IsAvailable(tl.Next()));
  d.Heartbeat(tl.Next());
  EXPECT_TRUE(d.IsAvailable(tl.Next()));
}

TEST(PhiDetector, ReferenceAcceptablePauseExceeded) {
  // Pause 3 s, intervals [0, 1000 x5, 500, 500, 5000]: heartbeats at 0..5000, check at 5500,
  // heartbeat at 6000, check at 11000.
  PhiConfig c = VectorDefaults();
  c.acceptable_pause = 3s;
  PhiAccrualDetector d(c);
  Timeline tl{0, 1000, 1000, 1000, 1000, 1000, 500, 500, 5000};
  for (int i = 0; i < 6; ++i) d.Heartbeat(tl.Next());
  EXPECT_TRUE(d.IsAvailable(tl.Next()));
  d.Heartbeat(tl.Next());
  EXPECT_FALSE(d.IsAvailable(tl.Next()));
}

TEST(PhiDetector, ReferenceWindowForgetsOldIntervals) {
  // Window 3, intervals [0, 100, 100, 100, 100, 600, 500, 500, 500, 500, 500]: heartbeats at
  // 0..300, phi at 400; heartbeats at 1000, 1500, 2000, 2500, phi at 3000. Once the 100 ms
  // intervals (and the 700 ms gap) are gone, the 500 ms cadence looks exactly like the 100 ms one.
  PhiConfig c = VectorDefaults();
  c.window_size = 3;
  PhiAccrualDetector d(c);
  Timeline tl{0, 100, 100, 100, 100, 600, 500, 500, 500, 500, 500};
  for (int i = 0; i < 4; ++i) d.Heartbeat(tl.Next());
  const double phi1 = d.Phi(tl.Next());
  for (int i = 0; i < 4; ++i) d.Heartbeat(tl.Next());
  const double phi2 = d.Phi(tl.Next());
  EXPECT_NEAR(phi2, phi1, 0.001);
  EXPECT_EQ(d.SampleCount(), 3u);
  EXPECT_NEAR(d.Mean(), 500.0, 1e-9);
}

TEST(PhiDetector, ReferenceDefaultsAreReachable) {
  const PhiConfig r = PhiConfig::ReferenceDefaults();
  EXPECT_EQ(r.threshold, 8.0);
  EXPECT_EQ(r.window_size, 1000u);
  EXPECT_EQ(r.min_std_dev, 100ms);
  EXPECT_EQ(r.acceptable_pause, 3s);
  EXPECT_EQ(r.first_heartbeat_estimate, 1s);
  EXPECT_EQ(r.coalesce_interval, 0ms);
}

TEST(PhiDetector, GatewayDefaults) {
  const PhiConfig c;
  EXPECT_EQ(c.threshold, 8.0);
  EXPECT_EQ(c.window_size, 1000u);
  EXPECT_EQ(c.min_std_dev, 50ms);
  EXPECT_EQ(c.acceptable_pause, 0ms);
  EXPECT_EQ(c.first_heartbeat_estimate, 500ms);
  EXPECT_EQ(c.coalesce_interval, 160ms);
  const PhiConfig p = PhiConfig::ForProbeInterval(1s);
  EXPECT_EQ(p.coalesce_interval, 800ms);
  EXPECT_EQ(p.min_std_dev, 100ms);
  EXPECT_EQ(p.first_heartbeat_estimate, 1s);
  const PhiConfig q = PhiConfig::ForProbeInterval(200ms);
  EXPECT_EQ(q.coalesce_interval, c.coalesce_interval);
  EXPECT_EQ(q.min_std_dev, c.min_std_dev);
  EXPECT_EQ(q.first_heartbeat_estimate, c.first_heartbeat_estimate);
}

TEST(PhiDetector, IntervalStatisticsAreIncrementalOverTheWindow) {
  PhiConfig c = VectorDefaults();
  c.window_size = 5;
  PhiAccrualDetector d(c);
  int now = 0;
  d.Heartbeat(At(now));
  for (int ms : {100, 200, 125, 340, 130}) d.Heartbeat(At(now += ms));
  EXPECT_EQ(d.SampleCount(), 5u);  // both seeds evicted
  EXPECT_NEAR(d.Mean(), 179.0, 1e-9);
  EXPECT_NEAR(d.Variance(), 7584.0, 1e-9);
}

TEST(PhiDetector, HeartbeatAfterConvictionRecordsNoInterval) {
  PhiAccrualDetector d(VectorDefaults());
  for (int t = 0; t <= 5000; t += 1000) d.Heartbeat(At(t));
  const size_t n = d.SampleCount();
  const double mean = d.Mean();
  EXPECT_FALSE(d.IsAvailable(At(30'000)));
  d.Heartbeat(At(30'000));  // back after an outage: moves "last seen", no 25 s interval
  EXPECT_EQ(d.SampleCount(), n);
  EXPECT_EQ(d.Mean(), mean);
  EXPECT_TRUE(d.IsAvailable(At(30'000)));
  d.Heartbeat(At(31'000));  // the cadence resumes from there
  EXPECT_EQ(d.SampleCount(), n + 1);
}

TEST(PhiDetector, HeartbeatsOutOfOrderAreIgnored) {
  PhiAccrualDetector d(VectorDefaults());
  d.Heartbeat(At(1000));
  d.Heartbeat(At(2000));
  const size_t n = d.SampleCount();
  d.Heartbeat(At(1500));
  EXPECT_EQ(d.SampleCount(), n);
  EXPECT_EQ(d.LastSeen(), At(2000));
  EXPECT_EQ(d.Phi(At(1900)), d.Phi(At(2000)));  // evaluation before last seen counts as t = 0
}

TEST(PhiDetector, ResetForgetsEverything) {
  PhiAccrualDetector d(VectorDefaults());
  d.Heartbeat(At(0));
  d.Heartbeat(At(1000));
  d.Reset();
  EXPECT_FALSE(d.HasHeartbeat());
  EXPECT_EQ(d.SampleCount(), 0u);
  EXPECT_EQ(d.Phi(At(100'000)), 0.0);
}

// --- Evidence coalescing ------------------------------------------------------------------------

TEST(PhiEvidence, BurstsAreCoalescedIntoOneSamplePerInterval) {
  PhiConfig c;  // coalesce 160 ms
  c.window_size = 10;
  PhiAccrualDetector d(c);
  ManualClock clock;
  int samples = 0;
  // Streamed chunks every 100 us for 2 s.
  for (int i = 0; i < 20'000; ++i) {
    samples += d.Evidence(clock.Now()) ? 1 : 0;
    clock.Advance(100us);
  }
  EXPECT_EQ(samples, 13);  // at 0, 160, 320, ..., 1920 ms
  EXPECT_NEAR(d.Mean(), 160.0, 1e-9);
  EXPECT_EQ(d.LastSeen(), clock.Now() - 100us);  // silence is measured from the latest chunk
  EXPECT_LT(d.Phi(clock.Now()), 0.01);
}

TEST(PhiEvidence, ZeroCoalesceIntervalIsPlainHeartbeat) {
  PhiConfig c = VectorDefaults();
  PhiAccrualDetector d(c);
  EXPECT_TRUE(d.Evidence(At(0)));
  EXPECT_TRUE(d.Evidence(At(1)));
  EXPECT_TRUE(d.Evidence(At(2)));
  EXPECT_EQ(d.SampleCount(), 4u);
}

TEST(PhiEvidence, ProbeAnsweredALittleEarlyStillMakesASample) {
  PhiAccrualDetector d{PhiConfig{}};
  int t = 0;
  d.Evidence(At(t));
  for (int i = 0; i < 50; ++i) {
    t += (i % 2 == 0) ? 170 : 230;  // +-30 ms of probe jitter around 200 ms
    EXPECT_TRUE(d.Evidence(At(t))) << i;
  }
}

TEST(PhiEvidence, RawHeartbeatPerChunkFalselySuspectsWhenTrafficStopsButEvidenceDoesNot) {
  // Why coalescing exists: probes every 500 ms, chunks every 1 ms for a minute, then traffic stops
  // (probes continue). Fed raw, the mean interval is ~1 ms and the first quiet probe gap convicts.
  const PhiConfig c = PhiConfig::ForProbeInterval(500ms);
  PhiAccrualDetector raw(c);
  PhiAccrualDetector coalesced(c);
  int t = 0;
  for (; t < 60'000; ++t) {
    raw.Heartbeat(At(t));
    coalesced.Evidence(At(t));
  }
  double raw_max = 0, coalesced_max = 0;
  for (; t < 70'000; ++t) {
    if (t % 500 == 0) {
      raw.Heartbeat(At(t));
      coalesced.Evidence(At(t));
    }
    raw_max = std::max(raw_max, raw.Phi(At(t)));
    coalesced_max = std::max(coalesced_max, coalesced.Phi(At(t)));
  }
  EXPECT_GE(raw_max, 8.0);
  EXPECT_LT(coalesced_max, 3.0);
}

// --- Forgiving the gateway's own stall ----------------------------------------------------------

TEST(PhiForgive, StallSpanIsNotCountedAsSilence) {
  PhiAccrualDetector d{PhiConfig{}};
  for (int t = 0; t <= 10'000; t += 200) d.Evidence(At(t));
  // Last evidence at 10000; the gateway stalls from 10050 to 13050 (3 s).
  const double before = d.Phi(At(10'050));
  EXPECT_FALSE(d.IsAvailable(At(13'050)));
  d.ForgivePause(At(10'050), At(13'050));
  EXPECT_EQ(d.LastSeen(), At(13'000));  // 50 ms of silence before the stall still counts
  EXPECT_DOUBLE_EQ(d.Phi(At(13'050)), before);
  EXPECT_TRUE(d.IsAvailable(At(13'050)));
  // The next probe records an interval without the stall in it.
  const double mean = d.Mean();
  d.Evidence(At(13'200));
  EXPECT_LT(d.Mean(), mean + 1.0);
}

TEST(PhiForgive, NeverMovesLastSeenPastResumeOrBackwards) {
  PhiAccrualDetector d{PhiConfig{}};
  d.Evidence(At(0));
  d.Evidence(At(5'000));  // evidence processed right at resume
  d.ForgivePause(At(2'000), At(5'000));
  EXPECT_EQ(d.LastSeen(), At(5'000));
  d.ForgivePause(At(4'000), At(3'000));  // empty span: no-op
  EXPECT_EQ(d.LastSeen(), At(5'000));
  PhiAccrualDetector fresh{PhiConfig{}};
  fresh.ForgivePause(At(0), At(1'000));  // nothing to forgive before the first heartbeat
  EXPECT_FALSE(fresh.HasHeartbeat());
}

}  // namespace
}  // namespace infergate::health
