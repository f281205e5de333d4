// PoolRuntime: least_queue balancing on the backends' own load reports, the dispatched count Pick
// keeps, the pool's load summary (Load) and the side-effect-free HasCandidate.
#include "infergate/upstream/pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace infergate::upstream {
namespace {

using namespace std::chrono_literals;
using SteadyTime = std::chrono::steady_clock::time_point;

// A pool of `n` backends with shared states (as the registry gives them) and no sockets.
class TestPool {
 public:
  TestPool(size_t n, config::LoadBalancing lb, bool load_report = true,
           std::vector<uint32_t> priorities = {}) {
    config_.name = "p";
    config_.load_balancing = lb;
    config_.load_report.enabled = load_report;
    for (size_t i = 0; i < n; ++i) {
      config::BackendConfig b;
      b.name = "10.0.0." + std::to_string(i + 1) + ":8000";
      b.url = "http://" + b.name;
      b.priority = i < priorities.size() ? priorities[i] : 0;
      config_.backends.push_back(b);
      states_.push_back(std::make_unique<BackendState>(2));
    }
  }
  TestPool(const TestPool&) = delete;
  TestPool& operator=(const TestPool&) = delete;

  config::PoolConfig& config() { return config_; }
  BackendState& state(size_t i) { return *states_[i]; }

  // Built on first use, after the test has adjusted the config.
  PoolRuntime& pool() {
    if (!pool_) {
      std::vector<BackendRuntime> backends;
      for (size_t i = 0; i < config_.backends.size(); ++i) {
        BackendRuntime b;
        b.config = &config_.backends[i];
        b.shared = states_[i].get();
        backends.push_back(std::move(b));
      }
      pool_ = std::make_unique<PoolRuntime>(config_, std::move(backends));
    }
    return *pool_;
  }

  int Pick(Rng& rng, std::vector<size_t> exclude = {}) { return pool().Pick(rng, exclude); }

 private:
  config::PoolConfig config_;
  std::vector<std::unique_ptr<BackendState>> states_;
  std::unique_ptr<PoolRuntime> pool_;
};

SteadyTime Now() { return std::chrono::steady_clock::now(); }

TEST(LeastQueue, PicksTheShortestReportedQueue) {
  TestPool p(3, config::LoadBalancing::kLeastQueue);
  p.state(0).SetLoad(5, 1, -1, Now());  // 6
  p.state(1).SetLoad(2, 0, -1, Now());  // 2
  p.state(2).SetLoad(7, 3, -1, Now());  // 10
  Rng rng(1);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(p.Pick(rng), 1);
    p.state(1).SetLoad(2, 0, -1, Now());  // a new report: the count starts again
  }
}

TEST(LeastQueue, CountsWhatWasSentSinceTheReport) {
  TestPool p(3, config::LoadBalancing::kLeastQueue);
  p.state(0).SetLoad(5, 1, -1, Now());  // 6
  p.state(1).SetLoad(2, 0, -1, Now());  // 2
  p.state(2).SetLoad(7, 3, -1, Now());  // 10
  Rng rng(1);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(p.Pick(rng), 1) << i;  // scores 2, 3, 4, 5
  EXPECT_EQ(p.state(1).dispatched_since_report(), 4u);
  EXPECT_EQ(p.state(0).dispatched_since_report(), 0u);
  // Now 0 and 1 both score 6 and share the next picks; 2 (10) waits until they reach 10.
  int picks[3] = {0, 0, 0};
  for (int i = 0; i < 8; ++i) ++picks[p.Pick(rng)];
  EXPECT_EQ(picks[0], 4);
  EXPECT_EQ(picks[1], 4);
  EXPECT_EQ(picks[2], 0);
  EXPECT_EQ(p.state(0).dispatched_since_report(), 4u);
  EXPECT_EQ(p.state(1).dispatched_since_report(), 8u);
}

TEST(LeastQueue, BreaksTiesAtRandom) {
  TestPool p(3, config::LoadBalancing::kLeastQueue);
  Rng rng(7);
  int picks[3] = {0, 0, 0};
  constexpr int kPicks = 3000;
  for (int i = 0; i < kPicks; ++i) {
    for (size_t b = 0; b < 3; ++b) p.state(b).SetLoad(4, 4, 0.5, Now());
    ++picks[p.Pick(rng)];
  }
  for (int n : picks) {
    EXPECT_GT(n, kPicks / 3 - 200);
    EXPECT_LT(n, kPicks / 3 + 200);
  }
}

// A backend whose report is stale or missing (its /metrics failing) counts as an average one: it
// is neither starved nor flooded.
TEST(LeastQueue, StaleAndUnreportedBackendsCountAsAverage) {
  TestPool p(4, config::LoadBalancing::kLeastQueue);
  p.config().load_report.max_age = 5s;
  Rng rng(3);
  int picks[4] = {0, 0, 0, 0};
  for (int i = 0; i < 400; ++i) {
    p.state(0).SetLoad(0, 2, -1, Now());
    p.state(1).SetLoad(30, 8, -1, Now());
    p.state(2).SetLoad(0, 0, -1, Now() - 6s);  // older than max_age
    // Backend 3 never reported.
    ++picks[p.Pick(rng)];
  }
  // The average of the fresh scores (2 and 38) is 20: the short queue wins every time.
  EXPECT_EQ(picks[0], 400);
  // With equal fresh reports the unreported backends share the traffic evenly.
  int even[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4000; ++i) {
    p.state(0).SetLoad(5, 5, -1, Now());
    p.state(1).SetLoad(5, 5, -1, Now());
    ++even[p.Pick(rng)];
  }
  for (int n : even) {
    EXPECT_GT(n, 800);
    EXPECT_LT(n, 1200);
  }
}

TEST(LeastQueue, WithoutFreshReportsItIsLeastRequest) {
  TestPool p(2, config::LoadBalancing::kLeastQueue);
  p.state(0).SetLoad(0, 0, -1, Now() - 1h);  // stale
  p.pool().backend(0).in_flight = 100;
  p.pool().backend(1).in_flight = 0;
  Rng rng(5);
  // Power of two choices over two candidates always compares both.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(p.Pick(rng), 1);
  p.pool().backend(0).in_flight = 0;
  p.pool().backend(1).in_flight = 100;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(p.Pick(rng), 0);
}

TEST(LeastQueue, OnlyRoutableAndNotExcludedBackendsAreCandidates) {
  TestPool p(3, config::LoadBalancing::kLeastQueue);
  p.state(0).SetLoad(0, 0, -1, Now());
  p.state(1).SetLoad(1, 0, -1, Now());
  p.state(2).SetLoad(9, 0, -1, Now());
  p.state(0).SetFlag(kProbeDown, true);
  Rng rng(9);
  EXPECT_EQ(p.Pick(rng), 1);
  p.state(1).SetLoad(1, 0, -1, Now());
  EXPECT_EQ(p.Pick(rng, {1}), 2);
  EXPECT_EQ(p.Pick(rng, {1, 2}), -1);
}

TEST(LeastQueue, HalfOpenBackendTakesOnlyItsPermits) {
  TestPool p(2, config::LoadBalancing::kLeastQueue);
  p.state(0).SetLoad(0, 0, -1, Now());
  p.state(1).SetLoad(50, 0, -1, Now());
  p.state(0).SetFlag(kHalfOpen, true);
  p.state(0).SetPermits(1);
  Rng rng(2);
  EXPECT_EQ(p.Pick(rng), 0);  // the permit
  EXPECT_EQ(p.Pick(rng), 1);  // no permit left
  EXPECT_EQ(p.state(0).dispatched_since_report(), 1u);
  EXPECT_EQ(p.state(1).dispatched_since_report(), 1u);
}

TEST(Dispatched, CountedOnlyWhenThePoolReadsLoadReports) {
  TestPool with(2, config::LoadBalancing::kLeastRequest, /*load_report=*/true);
  TestPool without(2, config::LoadBalancing::kLeastRequest, /*load_report=*/false);
  Rng rng(4);
  for (int i = 0; i < 10; ++i) {
    ASSERT_GE(with.Pick(rng), 0);
    ASSERT_GE(without.Pick(rng), 0);
  }
  EXPECT_EQ(with.state(0).dispatched_since_report() + with.state(1).dispatched_since_report(), 10u);
  EXPECT_EQ(without.state(0).dispatched_since_report(), 0u);
  EXPECT_EQ(without.state(1).dispatched_since_report(), 0u);
}

TEST(PoolLoad, NothingFreshWithoutReports) {
  TestPool p(2, config::LoadBalancing::kLeastRequest);
  PoolLoad load = p.pool().Load(Now());
  EXPECT_FALSE(load.fresh);
  EXPECT_EQ(load.min_waiting, 0);
  EXPECT_EQ(load.min_kv_cache, -1);
  EXPECT_EQ(load.min_wait_per_running, 0);
}

TEST(PoolLoad, MinimaOverRoutableBackendsWithFreshReports) {
  TestPool p(5, config::LoadBalancing::kLeastQueue);
  p.config().load_report.max_age = 5s;
  const SteadyTime now = Now();
  p.state(0).SetLoad(4, 2, 0.5, now - 1s);  // 4 waiting, 2 per running
  p.state(1).SetLoad(6, 1, -1, now);        // no KV figure
  p.state(2).SetLoad(1, 0, 0.1, now);       // least loaded, but down
  p.state(2).SetFlag(kProbeDown, true);
  p.state(3).SetLoad(0, 0, 0.0, now - 10s);  // stale
  // Backend 4 never reported.
  PoolLoad load = p.pool().Load(now);
  EXPECT_TRUE(load.fresh);
  EXPECT_EQ(load.min_waiting, 4);
  EXPECT_EQ(load.min_kv_cache, 0.5);
  EXPECT_EQ(load.min_wait_per_running, 2);
  // At max_age a report still counts; past it, it does not.
  EXPECT_TRUE(p.pool().Load(now + 4s).fresh);
  EXPECT_EQ(p.pool().Load(now + 4500ms).min_waiting, 6);  // backend 0's report is 5.5 s old
  EXPECT_FALSE(p.pool().Load(now + 5001ms).fresh);
}

TEST(PoolLoad, NoRunningCountsAsOne) {
  TestPool p(2, config::LoadBalancing::kLeastQueue);
  const SteadyTime now = Now();
  p.state(0).SetLoad(3, 0, -1, now);
  p.state(1).SetLoad(8, 0.5, -1, now);
  PoolLoad load = p.pool().Load(now);
  EXPECT_EQ(load.min_waiting, 3);
  EXPECT_EQ(load.min_kv_cache, -1);  // nobody reports KV usage
  EXPECT_EQ(load.min_wait_per_running, 3);
}

TEST(HasCandidate, RoutableOrHalfOpenBackends) {
  TestPool p(2, config::LoadBalancing::kLeastRequest);
  p.config().panic_threshold = 0;  // no panic
  EXPECT_TRUE(p.pool().HasCandidate());
  p.state(0).SetFlag(kProbeDown, true);
  EXPECT_TRUE(p.pool().HasCandidate());
  p.state(1).SetFlag(kEjected, true);
  EXPECT_FALSE(p.pool().HasCandidate());
  p.state(1).SetFlag(kEjected, false);
  p.state(1).SetFlag(kHalfOpen, true);
  p.state(1).SetPermits(1);
  EXPECT_TRUE(p.pool().HasCandidate());
  // No side effects: the permit is still there for Pick.
  EXPECT_TRUE(p.pool().HasCandidate());
  EXPECT_TRUE(p.state(1).TryTakePermit());
}

TEST(HasCandidate, PanicModeWithoutEnteringIt) {
  TestPool p(2, config::LoadBalancing::kLeastRequest);
  p.config().panic_threshold = 50;
  p.state(0).SetFlag(kProbeDown, true);
  p.state(1).SetFlag(kSuspected, true);
  EXPECT_TRUE(p.pool().HasCandidate());  // panic would balance across both
  EXPECT_FALSE(p.pool().in_panic());
  p.state(0).SetFlag(kDraining, true);
  p.state(1).SetFlag(kBreakerOpen, true);
  EXPECT_FALSE(p.pool().HasCandidate());  // drained and open backends are never candidates
  EXPECT_FALSE(p.pool().in_panic());
}

TEST(HasCandidate, NoPanicWithAThresholdOfZero) {
  TestPool p(2, config::LoadBalancing::kLeastRequest);
  p.config().panic_threshold = 0;
  p.state(0).SetFlag(kProbeDown, true);
  p.state(1).SetFlag(kCanaryDown, true);
  EXPECT_FALSE(p.pool().HasCandidate());
}

TEST(HasCandidate, DrainedBackendsNeverCount) {
  TestPool p(2, config::LoadBalancing::kLeastRequest);
  p.config().panic_threshold = 100;
  p.state(0).SetFlag(kDraining, true);
  p.state(1).SetFlag(kDraining, true);
  EXPECT_FALSE(p.pool().HasCandidate());
  EXPECT_FALSE(p.pool().HasCandidate());
}

TEST(HasCandidate, EmptyPool) {
  TestPool p(0, config::LoadBalancing::kLeastRequest);
  EXPECT_FALSE(p.pool().HasCandidate());
}

// With permits to spare, HasCandidate agrees with Pick over every mix of flags, with and without
// panic and priority levels.
TEST(HasCandidate, AgreesWithPick) {
  const uint32_t flags[] = {0,
                            kProbeDown,
                            kSuspected,
                            kEjected,
                            kBreakerOpen,
                            kDraining,
                            kHalfOpen,
                            kWarmingUp | kHalfOpen};
  Rng rng(11);
  for (double threshold : {0.0, 50.0, 100.0}) {
    for (bool priorities : {false, true}) {
      for (int round = 0; round < 300; ++round) {
        TestPool p(3, config::LoadBalancing::kLeastQueue, true,
                   priorities ? std::vector<uint32_t>{0, 1, 1} : std::vector<uint32_t>{});
        p.config().panic_threshold = threshold;
        for (size_t b = 0; b < 3; ++b) {
          uint32_t f = flags[rng.Below(std::size(flags))];
          if (f) p.state(b).SetFlag(f, true);
          p.state(b).SetPermits(1000);
        }
        bool has = p.pool().HasCandidate();
        EXPECT_EQ(has, p.Pick(rng) >= 0) << "threshold " << threshold << " round " << round;
      }
    }
  }
}

// tests/integration/failure_containment_test.cc, scenario 7: weighted round robin between a
// backend at full weight and one ramping up in slow start splits the requests in proportion to
// the published weights (the ramp's timing is asserted in tests/unit/resilience/).
TEST(WeightedRoundRobin, ShareFollowsTheSlowStartWeight) {
  for (uint32_t permille : {100u, 167u, 500u, 1000u}) {
    TestPool p(2, config::LoadBalancing::kWeightedRoundRobin, false);
    p.state(1).SetWeightPermille(permille);
    Rng rng(5);
    int returning = 0;
    const int cycle = static_cast<int>(1000 + permille);
    for (int i = 0; i < 10 * cycle; ++i) returning += p.Pick(rng) == 1;
    EXPECT_EQ(returning, 10 * static_cast<int>(permille)) << permille;
  }
}

}  // namespace
}  // namespace infergate::upstream
