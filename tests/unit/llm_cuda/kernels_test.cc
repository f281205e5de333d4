// Each kernel against a host computation on random data: the dequantizing matvec and row gather
// for every type (with gguf::Dequantize as the reference), RMSNorm, RoPE in both pairings, the
// KV store and causal grouped-query attention, biases and SwiGLU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cuda_test_util.h"
#include "infergate/gguf/tensor_types.h"
#include "llm/cuda/kernels.h"

namespace infergate::llm::cuda {
namespace {

using gguf::GgmlType;
using testing::RandomFloats;
using testing::ToDevice;
using testing::ToHost;
using testing::Zeros;

// n_out rows of n_in values of `type`: random bytes, with every block's scales set to small
// finite halves so the values are sane (random scale bits could be NaN or huge).
std::vector<uint8_t> RandomRows(GgmlType type, int n_in, int n_out, uint32_t seed) {
  const size_t row_bytes = gguf::BytesFor(type, static_cast<uint64_t>(n_in));
  std::vector<uint8_t> bytes(row_bytes * static_cast<size_t>(n_out));
  std::mt19937 rng(seed);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  auto put_half = [&](size_t at, float f) {
    const uint16_t h = gguf::FloatToHalf(f);
    std::memcpy(&bytes[at], &h, 2);
  };
  const size_t n = static_cast<size_t>(n_in) * static_cast<size_t>(n_out);
  const std::vector<float> values = RandomFloats(n, seed + 1);
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(bytes.data(), values.data(), n * 4);
      break;
    case GgmlType::kF16:
      for (size_t i = 0; i < n; ++i) put_half(2 * i, values[i]);
      break;
    case GgmlType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint32_t u;
        std::memcpy(&u, &values[i], 4);
        const uint16_t b = static_cast<uint16_t>(u >> 16);
        std::memcpy(&bytes[2 * i], &b, 2);
      }
      break;
    default: {
      const gguf::TypeTraits& t = gguf::Traits(type);
      for (size_t at = 0; at < bytes.size(); at += t.block_bytes) {
        if (type == GgmlType::kQ6_K) {
          put_half(at + 208, scale(rng));
        } else {
          put_half(at, scale(rng));
          if (type == GgmlType::kQ4_K) put_half(at + 2, scale(rng));
        }
      }
    }
  }
  return bytes;
}

std::vector<float> DequantizeRows(GgmlType type, const std::vector<uint8_t>& bytes, int n_in,
                                  int n_out) {
  std::vector<float> out(static_cast<size_t>(n_in) * n_out);
  EXPECT_TRUE(gguf::Dequantize(type, bytes.data(), out.size(), out.data()));
  return out;
}

class TypedKernel : public ::testing::TestWithParam<GgmlType> {
 protected:
  void SetUp() override { INFERGATE_REQUIRE_CUDA_DEVICE(); }
};

// 768 inputs: two staged chunks, the second partial; 37 rows (not a multiple of the 8 per block);
// 11 vectors (a full tile of 8 and a partial one).
TEST_P(TypedKernel, MatVecMatchesTheDequantizedDot) {
  const GgmlType type = GetParam();
  constexpr int kIn = 768;
  constexpr int kOut = 37;
  constexpr int kVec = 11;
  ASSERT_TRUE(KernelSupports(type));
  const std::vector<uint8_t> w = RandomRows(type, kIn, kOut, 11);
  const std::vector<float> wf = DequantizeRows(type, w, kIn, kOut);
  const std::vector<float> x = RandomFloats(static_cast<size_t>(kVec) * kIn, 12);
  DeviceBuffer dw = ToDevice(w);
  DeviceBuffer dx = ToDevice(x);
  DeviceBuffer dy = ToDevice(std::vector<float>(static_cast<size_t>(kVec) * kOut, 1.0f));
  const MatrixView view{dw.get<uint8_t>(), type, kIn, kOut, w.size() / kOut};

  for (bool accumulate : {false, true}) {
    ASSERT_EQ(LaunchMatVec(view, dx.get<float>(), kVec, dy.get<float>(), accumulate, nullptr),
              cudaSuccess);
    const std::vector<float> y = ToHost<float>(dy, static_cast<size_t>(kVec) * kOut);
    for (int v = 0; v < kVec; ++v) {
      for (int o = 0; o < kOut; ++o) {
        double dot = 0;
        double mag = 0;
        for (int i = 0; i < kIn; ++i) {
          const double p = static_cast<double>(wf[static_cast<size_t>(o) * kIn + i]) *
                           x[static_cast<size_t>(v) * kIn + i];
          dot += p;
          mag += std::fabs(p);
        }
        // First pass: y = W x. Second: y += W x, on top of the first.
        const double want = accumulate ? 2 * dot : dot;
        EXPECT_NEAR(y[static_cast<size_t>(v) * kOut + o], want, 1e-5 * mag + 1e-6)
            << gguf::TypeName(type) << " vector " << v << " row " << o << " accumulate "
            << accumulate;
      }
    }
  }
}

// The gather decodes bit for bit what gguf::Dequantize does.
TEST_P(TypedKernel, GetRowsIsExactDequantization) {
  const GgmlType type = GetParam();
  constexpr int kIn = 512;
  constexpr int kRows = 9;
  const std::vector<uint8_t> table = RandomRows(type, kIn, kRows, 21);
  const std::vector<float> want = DequantizeRows(type, table, kIn, kRows);
  const std::vector<int32_t> ids = {3, 0, 8, 3, 5};
  DeviceBuffer dt = ToDevice(table);
  DeviceBuffer di = ToDevice(ids);
  DeviceBuffer dout = Zeros(ids.size() * kIn * sizeof(float));
  const MatrixView view{dt.get<uint8_t>(), type, kIn, kRows, table.size() / kRows};
  ASSERT_EQ(LaunchGetRows(view, di.get<int32_t>(), static_cast<int>(ids.size()), dout.get<float>(),
                          nullptr),
            cudaSuccess);
  const std::vector<float> got = ToHost<float>(dout, ids.size() * kIn);
  for (size_t r = 0; r < ids.size(); ++r) {
    for (int j = 0; j < kIn; ++j) {
      ASSERT_EQ(got[r * kIn + j], want[static_cast<size_t>(ids[r]) * kIn + j])
          << gguf::TypeName(type) << " row " << ids[r] << " value " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, TypedKernel,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16,
                                           GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_K,
                                           GgmlType::kQ6_K),
                         [](const ::testing::TestParamInfo<GgmlType>& info) {
                           return std::string(gguf::TypeName(info.param));
                         });

class Kernel : public ::testing::Test {
 protected:
  void SetUp() override { INFERGATE_REQUIRE_CUDA_DEVICE(); }
};

TEST_F(Kernel, RmsNorm) {
  constexpr int kRows = 5;
  constexpr int kWidth = 1000;
  const std::vector<float> x = RandomFloats(kRows * kWidth, 31, 3.0f);
  const std::vector<float> w = RandomFloats(kWidth, 32);
  DeviceBuffer dx = ToDevice(x);
  DeviceBuffer dw = ToDevice(w);
  DeviceBuffer dout = Zeros(x.size() * sizeof(float));
  ASSERT_EQ(LaunchRmsNorm(dx.get<float>(), dw.get<float>(), kRows, kWidth, 1e-5f, dout.get<float>(),
                          nullptr),
            cudaSuccess);
  const std::vector<float> got = ToHost<float>(dout, x.size());
  for (int r = 0; r < kRows; ++r) {
    double ss = 0;
    for (int j = 0; j < kWidth; ++j)
      ss += static_cast<double>(x[r * kWidth + j]) * x[r * kWidth + j];
    const double scale = 1.0 / std::sqrt(ss / kWidth + 1e-5);
    for (int j = 0; j < kWidth; ++j) {
      const double want = x[r * kWidth + j] * scale * w[j];
      EXPECT_NEAR(got[r * kWidth + j], want, 2e-6 * (1 + std::fabs(want))) << r << " " << j;
    }
  }
}

class Rope : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { INFERGATE_REQUIRE_CUDA_DEVICE(); }
};

// Partial rotation (n_rot < head_dim) so both the pairing and the untouched tail are checked.
TEST_P(Rope, RotatesThePairsTheArchitectureNames) {
  const bool neox = GetParam();
  constexpr int kTokens = 3;
  constexpr int kHeads = 4;
  constexpr int kHeadDim = 64;
  constexpr int kRot = 32;
  const std::vector<float> x = RandomFloats(kTokens * kHeads * kHeadDim, 41);
  std::vector<double> inv_freq(kRot / 2);
  for (int i = 0; i < kRot / 2; ++i) {
    inv_freq[i] = std::pow(10000.0, -2.0 * i / kRot) / 2.0;  // linear factor 2
  }
  // Position 5000: an angle of 2500 radians, where a float angle would be off by ~1e-4.
  const std::vector<TokenSlot> slots = {{nullptr, 0, 1}, {nullptr, 7, 8}, {nullptr, 5000, 5001}};
  DeviceBuffer dx = ToDevice(x);
  DeviceBuffer df = ToDevice(inv_freq);
  DeviceBuffer ds = ToDevice(slots);
  DeviceBuffer dcs = Zeros(kTokens * kRot * sizeof(float));
  ASSERT_EQ(LaunchRopeTable(df.get<double>(), ds.get<TokenSlot>(), kTokens, kRot / 2,
                            dcs.get<float>(), nullptr),
            cudaSuccess);
  ASSERT_EQ(
      LaunchRope(dx.get<float>(), kTokens, kHeads, kHeadDim, kRot, dcs.get<float>(), neox, nullptr),
      cudaSuccess);
  const std::vector<float> got = ToHost<float>(dx, x.size());
  std::vector<double> want(x.begin(), x.end());
  for (int t = 0; t < kTokens; ++t) {
    for (int h = 0; h < kHeads; ++h) {
      const size_t base = (static_cast<size_t>(t) * kHeads + h) * kHeadDim;
      for (int i = 0; i < kRot / 2; ++i) {
        const size_t a = base + (neox ? i : 2 * i);
        const size_t b = base + (neox ? i + kRot / 2 : 2 * i + 1);
        const double theta = static_cast<double>(slots[t].pos) * inv_freq[i];
        want[a] = x[a] * std::cos(theta) - x[b] * std::sin(theta);
        want[b] = x[a] * std::sin(theta) + x[b] * std::cos(theta);
      }
    }
  }
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
}

INSTANTIATE_TEST_SUITE_P(Pairings, Rope, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Neox" : "Adjacent");
                         });

}  // namespace
}  // namespace infergate::llm::cuda
