// The quantized-activation kernels: quantization round-trips within half a step, the AVX2 and
// AVX-512 kernels give the same quantized values as the scalar ones and the same dots (up to
// float summation order) for every number of vectors, and the integer dots are within the
// activation rounding of gguf::Dot's float ones.
#include "llm/qkernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include "infergate/gguf/tensor_types.h"
#include "random_rows.h"

namespace infergate::llm {
namespace {

// The dot of `type`'s kernel.
void KernelDot(const QKernels& k, gguf::GgmlType type, const uint8_t* row, const Q8Block* q8,
               const Q8KBlock* q8k, int n, int n_vec, float* out) {
  switch (type) {
    case gguf::GgmlType::kQ8_0:
      return k.dot_q8_0(row, q8, n / 32, n_vec, n / 32, out);
    case gguf::GgmlType::kQ4_K:
      return k.dot_q4_k(row, q8k, n / 256, n_vec, n / 256, out);
    default:
      return k.dot_q6_k(row, q8k, n / 256, n_vec, n / 256, out);
  }
}

constexpr gguf::GgmlType kTypes[] = {gguf::GgmlType::kQ8_0, gguf::GgmlType::kQ4_K,
                                     gguf::GgmlType::kQ6_K};

struct Quantized {
  std::vector<Q8Block> q8;
  std::vector<Q8KBlock> q8k;
};

// n_vec vectors of n values, quantized both ways, blocks of vector v at v * (n / block).
Quantized Quantize(const QKernels& k, const std::vector<float>& x, int n, int n_vec) {
  Quantized q;
  q.q8.resize(static_cast<size_t>(n_vec * n / 32));
  q.q8k.resize(static_cast<size_t>(n_vec * n / 256));
  for (int v = 0; v < n_vec; ++v) {
    k.quantize(x.data() + v * n, n, q.q8.data() + v * n / 32);
    k.quantize_k(x.data() + v * n, n, q.q8k.data() + v * n / 256);
  }
  return q;
}

TEST(QKernels, QuantizeRoundTripsWithinHalfAStep) {
  std::mt19937 rng(1);
  const std::vector<float> x = RandomVector(rng, 256, 3.0f);
  const Quantized q = Quantize(ScalarKernels(), x, 256, 1);
  int sum0 = 0;
  for (int i = 0; i < 256; ++i) {
    const Q8Block& b = q.q8[static_cast<size_t>(i / 32)];
    const float xi = x[static_cast<size_t>(i)];
    EXPECT_LE(std::fabs(b.d * b.q[i % 32] - xi), 0.5f * b.d + 1e-6f);
    const Q8KBlock& k = q.q8k[0];
    EXPECT_LE(std::fabs(k.d * k.q[i] - xi), 0.5f * k.d + 1e-6f);
    if (i < 16) sum0 += k.q[i];
  }
  EXPECT_EQ(q.q8k[0].sums[0], sum0);
  const std::vector<float> zeros(256, 0.0f);
  const Quantized z = Quantize(ScalarKernels(), zeros, 256, 1);
  EXPECT_EQ(z.q8[0].d, 0.0f);
  EXPECT_EQ(z.q8k[0].d, 0.0f);
  EXPECT_EQ(z.q8k[0].q[5], 0);
}

// The value at index i of a vector of n values quantized by `k` (the AVX-512 set keeps Q8_0
// bytes in its own layout, qkernels.h).
std::pair<float, int> Q8Value(const QKernels& k, const Q8Block* blocks, int n, int i) {
  if (std::string_view(k.name) != "avx512vnni") return {blocks[i / 32].d, blocks[i / 32].q[i % 32]};
  const auto* base = reinterpret_cast<const uint8_t*>(blocks);
  float d;
  std::memcpy(&d, base + n + 4 * (i / 32), sizeof d);
  return {d, static_cast<int8_t>(base[i])};
}

// Each SIMD set against the scalar definition: same quantized values, same dots for every number
// of vectors it takes, blocks both even and odd in number (the AVX-512 Q8_0 dot pairs them).
class QKernelsSimd : public ::testing::TestWithParam<const char*> {
 protected:
  const QKernels* Set() const {
    return std::string_view(GetParam()) == "avx2" ? Avx2Kernels() : Avx512Kernels();
  }
};

TEST_P(QKernelsSimd, MatchesScalar) {
  const QKernels* simd = Set();
  if (simd == nullptr) GTEST_SKIP() << "this CPU lacks " << GetParam();
  const QKernels& scalar = ScalarKernels();
  std::mt19937 rng(2);
  for (int trial = 0; trial < 48; ++trial) {
    // 256 to 768 values; every third trial 32 more, so Q8_0 has an odd number of blocks.
    const int n_k = 256 * (1 + trial % 3);
    const int n = trial % 3 == 1 ? n_k + 32 : n_k;
    const int n_vec = 1 + trial % simd->max_vectors;
    const std::vector<float> x = RandomVector(rng, n * n_vec, trial % 2 ? 0.01f : 5.0f);
    Quantized qa, qs;
    qa.q8.resize(static_cast<size_t>(n_vec * n / 32));
    qs.q8.resize(qa.q8.size());
    for (int v = 0; v < n_vec; ++v) {
      simd->quantize(x.data() + v * n, n, qa.q8.data() + v * n / 32);
      scalar.quantize(x.data() + v * n, n, qs.q8.data() + v * n / 32);
      for (int i = 0; i < n; ++i) {
        const auto a = Q8Value(*simd, qa.q8.data() + v * n / 32, n, i);
        const auto s = Q8Value(scalar, qs.q8.data() + v * n / 32, n, i);
        ASSERT_EQ(a, s) << "vector " << v << " value " << i;
      }
    }
    qa.q8k.resize(static_cast<size_t>(n_vec * n_k / 256));
    qs.q8k.resize(qa.q8k.size());
    for (int v = 0; v < n_vec; ++v) {
      simd->quantize_k(x.data() + v * n_k, n_k, qa.q8k.data() + v * n_k / 256);
      scalar.quantize_k(x.data() + v * n_k, n_k, qs.q8k.data() + v * n_k / 256);
    }
    for (size_t b = 0; b < qa.q8k.size(); ++b) {
      ASSERT_EQ(qa.q8k[b].d, qs.q8k[b].d);
      for (int j = 0; j < 16; ++j) ASSERT_EQ(qa.q8k[b].sums[j], qs.q8k[b].sums[j]);
      for (int i = 0; i < 256; ++i) ASSERT_EQ(qa.q8k[b].q[i], qs.q8k[b].q[i]) << b << " " << i;
    }
    for (gguf::GgmlType type : kTypes) {
      const int len = type == gguf::GgmlType::kQ8_0 ? n : n_k;
      float a[kMaxVectors], s[kMaxVectors];
      const std::vector<uint8_t> row = RandomRow(rng, type, len);
      KernelDot(*simd, type, row.data(), qa.q8.data(), qa.q8k.data(), len, n_vec, a);
      KernelDot(scalar, type, row.data(), qs.q8.data(), qs.q8k.data(), len, n_vec, s);
      for (int v = 0; v < n_vec; ++v) {
        EXPECT_NEAR(a[v], s[v], 1e-5f * (1 + std::fabs(s[v])))
            << gguf::TypeName(type) << " vector " << v << " of " << n_vec;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sets, QKernelsSimd, ::testing::Values("avx2", "avx512"));

TEST(QKernels, IntegerDotsAreCloseToFloatDots) {
  std::mt19937 rng(3);
  for (const QKernels* k : {&ScalarKernels(), Avx2Kernels(), Avx512Kernels()}) {
    if (k == nullptr) continue;
    for (gguf::GgmlType type : kTypes) {
      const int n = 1024;
      const std::vector<float> x = RandomVector(rng, n, 1.0f);
      const Quantized q = Quantize(*k, x, n, 1);
      const std::vector<uint8_t> row = RandomRow(rng, type, n);
      std::vector<float> w(static_cast<size_t>(n));
      ASSERT_TRUE(gguf::Dequantize(type, row.data(), w.size(), w.data()));
      double ww = 0, xx = 0;  // |w| |x|: the scale of the rounding error
      for (size_t i = 0; i < w.size(); ++i) {
        ww += w[i] * w[i];
        xx += x[i] * x[i];
      }
      const float exact = gguf::Dot(type, row.data(), x.data(), static_cast<size_t>(n));
      float got = 0;
      KernelDot(*k, type, row.data(), q.q8.data(), q.q8k.data(), n, 1, &got);
      // 8-bit activations: each value off by at most half a step of its block's maximum / 127.
      EXPECT_NEAR(got, exact, 0.02 * std::sqrt(ww * xx)) << k->name << " " << gguf::TypeName(type);
    }
  }
}

}  // namespace
}  // namespace infergate::llm
