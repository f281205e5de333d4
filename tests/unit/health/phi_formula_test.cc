// The phi formula and the interval window against the reference vectors (phi-vectors.md).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "infergate/health/phi_detector.h"

namespace infergate::health {
namespace {
using namespace std::chrono_literals;

struct CdfVector {
  double t, mu, sigma, expected, tolerance;
};

class PhiCdfVectors : public ::testing::TestWithParam<CdfVector> {};

TEST_P(PhiCdfVectors, MatchesReference) {
  const CdfVector& v = GetParam();
  EXPECT_NEAR(CdfOfPhi(Phi(v.t, v.mu, v.sigma)), v.expected, v.tolerance)
      << "cdf(phi(" << v.t << ", " << v.mu << ", " << v.sigma << "))";
}

INSTANTIATE_TEST_SUITE_P(
    Reference, PhiCdfVectors,
    ::testing::Values(CdfVector{0, 0, 10, 0.5, 0.001}, CdfVector{6, 0, 10, 0.7257, 0.001},
                      CdfVector{15, 0, 10, 0.9332, 0.001}, CdfVector{20, 0, 10, 0.97725, 0.001},
                      CdfVector{25, 0, 10, 0.99379, 0.001}, CdfVector{35, 0, 10, 0.99977, 0.001},
                      CdfVector{40, 0, 10, 0.99997, 0.0001}, CdfVector{22, 20, 3, 0.7475, 0.001}));

TEST(PhiFormula, FarAboveMeanIsLargeAndFinite) {
  EXPECT_NEAR(Phi(10, 0, 1), 38, 1);
  EXPECT_TRUE(std::isfinite(Phi(1e6, 0, 1)));
  EXPECT_GT(Phi(1e6, 0, 1), 1e6);
}

TEST(PhiFormula, FarBelowMeanIsExactlyZeroWithoutNaN) {
  const double phi = Phi(-25, 0, 1);
  EXPECT_FALSE(std::isnan(phi));
  EXPECT_EQ(phi, 0.0);
  EXPECT_FALSE(std::signbit(phi));
  EXPECT_EQ(Phi(-1e300, 0, 1), 0.0);
}

TEST(PhiFormula, NeverNaNOnDegenerateInputs) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (double t : {-inf, -1.0, 0.0, 1.0, inf, nan}) {
    for (double mu : {0.0, 5.0, inf, nan}) {
      for (double sigma : {-1.0, 0.0, 1e-300, 1.0, inf, nan}) {
        const double phi = Phi(t, mu, sigma);
        EXPECT_FALSE(std::isnan(phi)) << t << " " << mu << " " << sigma;
        EXPECT_GE(phi, 0.0);
      }
    }
  }
  EXPECT_EQ(Phi(1, 0, 0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(Phi(0, 0, 0), 0.0);
}

TEST(PhiFormula, StrictlyIncreasingOverZeroToForty) {
  double prev = Phi(0, 0, 10);
  for (int t = 1; t <= 40; ++t) {
    const double phi = Phi(t, 0, 10);
    EXPECT_GT(phi, prev) << "t=" << t;
    prev = phi;
  }
}

struct PhiVector {
  double t, expected;
};

class PhiMu1000Sigma100 : public ::testing::TestWithParam<PhiVector> {};

TEST_P(PhiMu1000Sigma100, MatchesReference) {
  EXPECT_NEAR(Phi(GetParam().t, 1000, 100), GetParam().expected, 0.1) << "t=" << GetParam().t;
}

INSTANTIATE_TEST_SUITE_P(Reference, PhiMu1000Sigma100,
                         ::testing::Values(PhiVector{0, 0.0}, PhiVector{500, 0.1},
                                           PhiVector{1000, 0.3}, PhiVector{1200, 1.6},
                                           PhiVector{1400, 4.7}, PhiVector{1600, 10.8},
                                           PhiVector{1700, 15.3}));

TEST(PhiFormula, WiderSpreadMeansLessSuspicion) {
  EXPECT_LT(Phi(1100, 1000, 500), Phi(1100, 1000, 100));
}

TEST(ExponentialPhi, ReferenceVector) {
  // Window 4, arrivals at 111, 222, 333, 444, 555 ms: four intervals of 111 ms.
  IntervalWindow w(4);
  for (int i = 0; i < 4; ++i) w.Add(111ms);
  const double ln10 = std::log(10.0);
  EXPECT_NEAR(ExponentialPhi(666 - 555, w.Mean()) * ln10, 1.0, 0.01);
  EXPECT_NEAR(ExponentialPhi(3000 - 555, w.Mean()) * ln10, 22.03, 0.01);
  EXPECT_EQ(ExponentialPhi(100, 0), 0.0);
}

TEST(ExponentialPhi, ConvictsMuchLaterThanTheNormalModelOnARegularCadence) {
  // Regular 200 ms probes: the exponential model needs ~18.4 x the mean (3.7 s) to reach 8; the
  // normal model with a 50 ms floor needs ~mean + 5.2 sigma (~460 ms). Hence the normal variant.
  const double mean = 200, sigma = 50;
  EXPECT_LT(ExponentialPhi(3600, mean), 8.0);
  EXPECT_GT(ExponentialPhi(3800, mean), 8.0);
  EXPECT_LT(Phi(400, mean, sigma), 8.0);
  EXPECT_GT(Phi(500, mean, sigma), 8.0);
}

TEST(IntervalWindow, ReferenceStatistics) {
  IntervalWindow w(1000);
  for (int ms : {100, 200, 125, 340, 130}) w.Add(std::chrono::milliseconds(ms));
  EXPECT_NEAR(w.Mean(), 179.0, 1e-9);
  EXPECT_NEAR(w.Variance(), 7584.0, 1e-9);
  EXPECT_NEAR(w.StdDev(), std::sqrt(7584.0), 1e-9);
}

TEST(IntervalWindow, OneSampleHasZeroVariance) {
  IntervalWindow w(10);
  w.Add(130ms);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_NEAR(w.Mean(), 130.0, 1e-12);
  EXPECT_EQ(w.Variance(), 0.0);
}

TEST(IntervalWindow, EmptyIsAllZero) {
  IntervalWindow w(10);
  EXPECT_EQ(w.Mean(), 0.0);
  EXPECT_EQ(w.Variance(), 0.0);
  EXPECT_EQ(w.StdDev(), 0.0);
}

TEST(IntervalWindow, ReferenceSlidingWindowOfThree) {
  IntervalWindow w(3);
  for (int ms : {100, 110, 90}) w.Add(std::chrono::milliseconds(ms));
  EXPECT_NEAR(w.Mean(), 100.0, 1e-6);
  EXPECT_NEAR(w.Variance(), 66.6666667, 1e-6);
  w.Add(140ms);
  EXPECT_EQ(w.size(), 3u);
  EXPECT_NEAR(w.Mean(), 113.333333, 1e-6);
  EXPECT_NEAR(w.Variance(), 422.222222, 1e-6);
  w.Add(80ms);
  EXPECT_NEAR(w.Mean(), 103.333333, 1e-6);
  EXPECT_NEAR(w.Variance(), 688.88888889, 1e-6);
}

TEST(IntervalWindow, NoDriftAfterMillionsOfUpdates) {
  // Exact integer sums: after churning through many odd values, the statistics of the last
  // window are exactly those of a fresh window holding the same values.
  IntervalWindow churned(7);
  for (int i = 0; i < 3'000'000; ++i)
    churned.Add(Duration(1'000'003 + (int64_t{i} * 7919) % 999'983));
  IntervalWindow fresh(7);
  for (int i = 3'000'000 - 7; i < 3'000'000; ++i) {
    fresh.Add(Duration(1'000'003 + (int64_t{i} * 7919) % 999'983));
  }
  EXPECT_EQ(churned.Mean(), fresh.Mean());
  EXPECT_EQ(churned.Variance(), fresh.Variance());
}

TEST(IntervalWindow, ClampsNegativeAndHugeIntervals) {
  IntervalWindow w(4);
  w.Add(Duration(-5));
  EXPECT_EQ(w.Mean(), 0.0);
  w.Clear();
  w.Add(std::chrono::hours(24 * 365));
  w.Add(std::chrono::hours(24 * 365));
  EXPECT_TRUE(std::isfinite(w.Variance()));
  EXPECT_EQ(w.Variance(), 0.0);
  EXPECT_NEAR(w.Mean(), static_cast<double>(IntervalWindow::kMaxInterval.count()) / 1e6, 1e-3);
}

TEST(IntervalWindow, CapacityIsClamped) {
  EXPECT_EQ(IntervalWindow(0).capacity(), 1u);
  EXPECT_EQ(IntervalWindow(size_t{1} << 30).capacity(), PhiConfig::kMaxWindowSize);
}

}  // namespace
}  // namespace infergate::health
