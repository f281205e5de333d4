// Priority load: overprovisioned spill-down, failover and failback shares, normalisation.
#include "infergate/resilience/priority.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "infergate/core/random.h"

namespace infergate::resilience {
namespace {

std::vector<double> Load(std::vector<double> healthy) { return ComputePriorityLoad(healthy); }

void ExpectLoad(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-9) << "P" << i;
}

TEST(PriorityLoad, FailoverAndFailback) {
  ExpectLoad(Load({100, 100}), {100, 0});
  ExpectLoad(Load({80, 100}), {100, 0});  // 80 x 1.4 = 112: no spill
  ExpectLoad(Load({71.5, 100}), {100, 0});
  ExpectLoad(Load({70, 100}), {98, 2});
  ExpectLoad(Load({50, 100}), {70, 30});
  ExpectLoad(Load({25, 100}), {35, 65});
  ExpectLoad(Load({0, 100}), {0, 100});
  // Failback: as P0 recovers, traffic returns.
  ExpectLoad(Load({50, 100}), {70, 30});
  ExpectLoad(Load({100, 100}), {100, 0});
}

TEST(PriorityLoad, SpillsThroughSeveralLevels) {
  ExpectLoad(Load({50, 20, 100}), {70, 28, 2});
  ExpectLoad(Load({0, 0, 100}), {0, 0, 100});
  ExpectLoad(Load({10, 10, 100, 100}), {14, 14, 72, 0});
}

TEST(PriorityLoad, NormalisesWhenTotalHealthIsBelowOneHundred) {
  // 14 + 14 + 14 = 42 < 100: each gets 14 / 42.
  ExpectLoad(Load({10, 10, 10}), {100.0 / 3, 100.0 / 3, 100.0 / 3});
  ExpectLoad(Load({20, 20}), {50, 50});
  ExpectLoad(Load({40, 0}), {100, 0});  // 56 alone: all of it
  ExpectLoad(Load({10, 30}), {25, 75});
}

TEST(PriorityLoad, NothingHealthyGoesToPriorityZero) {
  ExpectLoad(Load({0, 0, 0}), {100, 0, 0});
  ExpectLoad(Load({0}), {100});
  EXPECT_TRUE(ComputePriorityLoad({}).empty());
}

TEST(PriorityLoad, FactorAndClamping) {
  const std::vector<double> h = {50, 100};
  ExpectLoad(ComputePriorityLoad(h, 1.0), {50, 50});
  ExpectLoad(ComputePriorityLoad(h, 2.0), {100, 0});
  ExpectLoad(ComputePriorityLoad(h, -3.0), {50, 50});  // invalid factor counts as 1
  ExpectLoad(Load({250, 100}), {100, 0});
  ExpectLoad(Load({-5, 100}), {0, 100});
  ExpectLoad(Load({std::nan(""), 100}), {0, 100});
}

TEST(PriorityLoad, AlwaysSumsToOneHundred) {
  Rng rng(3);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<double> h(1 + rng.Below(5));
    for (double& v : h) v = rng.Below(4) == 0 ? 0.0 : rng.NextDouble() * 100;
    const auto load = ComputePriorityLoad(h);
    EXPECT_NEAR(std::accumulate(load.begin(), load.end(), 0.0), 100.0, 1e-9);
    for (double l : load) EXPECT_GE(l, 0.0);
  }
}

TEST(PriorityLoad, HealthyPercent) {
  EXPECT_DOUBLE_EQ(HealthyPercent(3, 4), 75.0);
  EXPECT_DOUBLE_EQ(HealthyPercent(0, 0), 0.0);
  EXPECT_DOUBLE_EQ(HealthyPercent(5, 4), 100.0);
}

}  // namespace
}  // namespace infergate::resilience
