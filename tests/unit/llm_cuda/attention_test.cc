// The KV store and causal grouped-query attention over two sequences' caches (one with two new
// tokens, one with one), against a float64 host computation; and the small element-wise
// kernels (bias, SwiGLU, row gather).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cuda_test_util.h"
#include "llm/cuda/kernels.h"

namespace infergate::llm::cuda {
namespace {

using testing::RandomFloats;
using testing::ToDevice;
using testing::ToHost;
using testing::Zeros;

class Attention : public ::testing::Test {
 protected:
  void SetUp() override { INFERGATE_REQUIRE_CUDA_DEVICE(); }
};

constexpr int kLayers = 2;
constexpr int kHead = 4;
constexpr int kHeadKv = 2;
constexpr int kHeadDim = 64;
constexpr int kKvDim = kHeadKv * kHeadDim;

size_t CacheFloats(int capacity) { return static_cast<size_t>(kLayers) * 2 * capacity * kKvDim; }

TEST_F(Attention, StoreThenAttendMatchesTheHost) {
  // Sequence A: capacity 16, positions 0-5 already cached, new tokens at 6 and 7.
  // Sequence B: capacity 8, positions 0-2 cached, a new token at 3. Layer 1 is the one run.
  const int cap_a = 16;
  const int cap_b = 8;
  std::vector<float> cache_a = RandomFloats(CacheFloats(cap_a), 51);
  std::vector<float> cache_b = RandomFloats(CacheFloats(cap_b), 52);
  DeviceBuffer da = ToDevice(cache_a);
  DeviceBuffer db = ToDevice(cache_b);
  const std::vector<TokenSlot> slots = {
      {da.get<float>(), 6, cap_a}, {da.get<float>(), 7, cap_a}, {db.get<float>(), 3, cap_b}};
  const int n_tokens = static_cast<int>(slots.size());
  const std::vector<float> q = RandomFloats(static_cast<size_t>(n_tokens) * kHead * kHeadDim, 53);
  const std::vector<float> k = RandomFloats(static_cast<size_t>(n_tokens) * kKvDim, 54);
  const std::vector<float> v = RandomFloats(static_cast<size_t>(n_tokens) * kKvDim, 55);
  DeviceBuffer dq = ToDevice(q);
  DeviceBuffer dk = ToDevice(k);
  DeviceBuffer dv = ToDevice(v);
  DeviceBuffer ds = ToDevice(slots);
  DeviceBuffer dout = Zeros(q.size() * sizeof(float));
  const AttentionShape shape{kHead, kHeadKv, kHeadDim, 1};
  ASSERT_EQ(LaunchKvStore(dk.get<float>(), dv.get<float>(), ds.get<TokenSlot>(), n_tokens, shape,
                          nullptr),
            cudaSuccess);
  ASSERT_EQ(LaunchAttention(dq.get<float>(), ds.get<TokenSlot>(), n_tokens, shape, 8,
                            dout.get<float>(), nullptr),
            cudaSuccess);
  const std::vector<float> got = ToHost<float>(dout, q.size());

  // The host's copy of the caches after the store.
  std::vector<float>* host[] = {&cache_a, &cache_a, &cache_b};
  const int caps[] = {cap_a, cap_a, cap_b};
  for (int t = 0; t < n_tokens; ++t) {
    float* keys = host[t]->data() + static_cast<size_t>(1) * 2 * caps[t] * kKvDim;
    float* values = keys + static_cast<size_t>(caps[t]) * kKvDim;
    std::copy_n(&k[static_cast<size_t>(t) * kKvDim], kKvDim,
                keys + static_cast<size_t>(slots[t].pos) * kKvDim);
    std::copy_n(&v[static_cast<size_t>(t) * kKvDim], kKvDim,
                values + static_cast<size_t>(slots[t].pos) * kKvDim);
  }
  EXPECT_EQ(ToHost<float>(da, cache_a.size()), cache_a);
  EXPECT_EQ(ToHost<float>(db, cache_b.size()), cache_b);

  for (int t = 0; t < n_tokens; ++t) {
    const float* keys = host[t]->data() + static_cast<size_t>(1) * 2 * caps[t] * kKvDim;
    const float* values = keys + static_cast<size_t>(caps[t]) * kKvDim;
    for (int h = 0; h < kHead; ++h) {
      const int kvh = h / (kHead / kHeadKv);
      const float* qh = &q[(static_cast<size_t>(t) * kHead + h) * kHeadDim];
      std::vector<double> w(static_cast<size_t>(slots[t].pos) + 1);
      double max = -INFINITY;
      for (int p = 0; p <= slots[t].pos; ++p) {
        double s = 0;
        for (int d = 0; d < kHeadDim; ++d) {
          s += static_cast<double>(qh[d]) *
               keys[static_cast<size_t>(p) * kKvDim + kvh * kHeadDim + d];
        }
        w[p] = s / std::sqrt(static_cast<double>(kHeadDim));
        max = std::max(max, w[p]);
      }
      double sum = 0;
      for (double& x : w) sum += (x = std::exp(x - max));
      for (int d = 0; d < kHeadDim; ++d) {
        double o = 0;
        for (int p = 0; p <= slots[t].pos; ++p) {
          o += w[p] * values[static_cast<size_t>(p) * kKvDim + kvh * kHeadDim + d];
        }
        EXPECT_NEAR(got[(static_cast<size_t>(t) * kHead + h) * kHeadDim + d], o / sum, 1e-5)
            << "token " << t << " head " << h << " dim " << d;
      }
    }
  }
}

TEST_F(Attention, ElementWiseKernels) {
  constexpr int kRows = 3;
  constexpr int kWidth = 300;
  const std::vector<float> y = RandomFloats(kRows * kWidth, 61);
  const std::vector<float> bias = RandomFloats(kWidth, 62);
  const std::vector<float> up = RandomFloats(kRows * kWidth, 63);
  DeviceBuffer dy = ToDevice(y);
  DeviceBuffer db = ToDevice(bias);
  DeviceBuffer du = ToDevice(up);
  ASSERT_EQ(LaunchAddBias(dy.get<float>(), db.get<float>(), kRows, kWidth, nullptr), cudaSuccess);
  const std::vector<float> biased = ToHost<float>(dy, y.size());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_FLOAT_EQ(biased[i], y[i] + bias[i % kWidth]);

  ASSERT_EQ(LaunchSwiGlu(dy.get<float>(), du.get<float>(), y.size(), nullptr), cudaSuccess);
  const std::vector<float> glu = ToHost<float>(dy, y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    const double g = biased[i];
    EXPECT_NEAR(glu[i], g / (1 + std::exp(-g)) * up[i], 1e-5 * (1 + std::fabs(g * up[i])));
  }

  const std::vector<int32_t> rows = {2, 0};
  DeviceBuffer dr = ToDevice(rows);
  DeviceBuffer dout = Zeros(rows.size() * kWidth * sizeof(float));
  ASSERT_EQ(
      LaunchGatherRows(dy.get<float>(), dr.get<int32_t>(), 2, kWidth, dout.get<float>(), nullptr),
      cudaSuccess);
  const std::vector<float> gathered = ToHost<float>(dout, rows.size() * kWidth);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int j = 0; j < kWidth; ++j) {
      EXPECT_EQ(gathered[r * kWidth + j], glu[static_cast<size_t>(rows[r]) * kWidth + j]);
    }
  }
}

}  // namespace
}  // namespace infergate::llm::cuda
