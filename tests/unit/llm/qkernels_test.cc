// The quantized-activation kernels: quantization round-trips within half a step, the AVX2 and
// scalar kernels give the same quantized bytes and the same dots (up to float summation order)
// for every number of vectors, and the integer dots are within the activation rounding of
// gguf::Dot's float ones.
#include "llm/qkernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "infergate/gguf/tensor_types.h"

namespace infergate::llm {
namespace {

std::vector<float> RandomVector(std::mt19937& rng, int n, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

void PutHalf(uint8_t* p, float f) {
  const uint16_t h = gguf::FloatToHalf(f);
  p[0] = static_cast<uint8_t>(h);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// Random but valid Q8_0, Q4_K and Q6_K rows: random bytes with small positive half scales.
std::vector<uint8_t> RandomRow(std::mt19937& rng, gguf::GgmlType type, int n) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> row(gguf::BytesFor(type, static_cast<uint64_t>(n)));
  for (uint8_t& b : row) b = static_cast<uint8_t>(byte(rng));
  const size_t block = gguf::BytesFor(type, type == gguf::GgmlType::kQ8_0 ? 32 : 256);
  for (size_t at = 0; at < row.size(); at += block) {
    const float d = 0.001f + 0.01f * static_cast<float>(byte(rng)) / 255;
    if (type == gguf::GgmlType::kQ6_K) {
      PutHalf(&row[at + 208], d / 16);
    } else {
      PutHalf(&row[at], d);
    }
    if (type == gguf::GgmlType::kQ4_K) {
      PutHalf(&row[at + 2], 0.002f * static_cast<float>(byte(rng)) / 255);
    }
  }
  return row;
}

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

TEST(QKernels, Avx2MatchesScalar) {
  const QKernels* avx2 = Avx2Kernels();
  if (avx2 == nullptr) GTEST_SKIP() << "no AVX2 on this CPU";
  const QKernels& scalar = ScalarKernels();
  std::mt19937 rng(2);
  for (int trial = 0; trial < 24; ++trial) {
    const int n = 256 * (1 + trial % 3);
    const int n_vec = 1 + trial % kMaxVectors;
    const std::vector<float> x = RandomVector(rng, n * n_vec, trial % 2 ? 0.01f : 5.0f);
    const Quantized qa = Quantize(*avx2, x, n, n_vec), qs = Quantize(scalar, x, n, n_vec);
    for (size_t b = 0; b < qa.q8.size(); ++b) {
      ASSERT_EQ(qa.q8[b].d, qs.q8[b].d);
      for (int i = 0; i < 32; ++i) ASSERT_EQ(qa.q8[b].q[i], qs.q8[b].q[i]) << b << " " << i;
    }
    for (size_t b = 0; b < qa.q8k.size(); ++b) {
      ASSERT_EQ(qa.q8k[b].d, qs.q8k[b].d);
      for (int j = 0; j < 16; ++j) ASSERT_EQ(qa.q8k[b].sums[j], qs.q8k[b].sums[j]);
      for (int i = 0; i < 256; ++i) ASSERT_EQ(qa.q8k[b].q[i], qs.q8k[b].q[i]) << b << " " << i;
    }
    for (gguf::GgmlType type : kTypes) {
      float a[kMaxVectors], s[kMaxVectors];
      const std::vector<uint8_t> row = RandomRow(rng, type, n);
      KernelDot(*avx2, type, row.data(), qa.q8.data(), qa.q8k.data(), n, n_vec, a);
      KernelDot(scalar, type, row.data(), qs.q8.data(), qs.q8k.data(), n, n_vec, s);
      for (int v = 0; v < n_vec; ++v) {
        EXPECT_NEAR(a[v], s[v], 1e-5f * (1 + std::fabs(s[v]))) << gguf::TypeName(type);
      }
    }
  }
}

TEST(QKernels, IntegerDotsAreCloseToFloatDots) {
  std::mt19937 rng(3);
  for (const QKernels* k : {&ScalarKernels(), Avx2Kernels()}) {
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
