// The quantized-activation kernels: quantization round-trips within half a step, the AVX2 and
// scalar kernels give the same quantized bytes and the same dots (up to float summation order),
// and the integer dots are within the activation rounding of gguf::Dot's float ones.
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

// Random but valid Q8_0 and Q4_K rows: random bytes with sane (finite, small) half scales.
std::vector<uint8_t> RandomRow(std::mt19937& rng, gguf::GgmlType type, int n) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> row(gguf::BytesFor(type, static_cast<uint64_t>(n)));
  for (uint8_t& b : row) b = static_cast<uint8_t>(byte(rng));
  const bool q8 = type == gguf::GgmlType::kQ8_0;
  const size_t stride = q8 ? 34 : 144;
  for (size_t at = 0; at < row.size(); at += stride) {
    const uint16_t d = gguf::FloatToHalf(0.001f + 0.01f * static_cast<float>(byte(rng)) / 255);
    row[at] = static_cast<uint8_t>(d);
    row[at + 1] = static_cast<uint8_t>(d >> 8);
    if (!q8) {
      const uint16_t dmin = gguf::FloatToHalf(0.002f * static_cast<float>(byte(rng)) / 255);
      row[at + 2] = static_cast<uint8_t>(dmin);
      row[at + 3] = static_cast<uint8_t>(dmin >> 8);
    }
  }
  return row;
}

TEST(QKernels, QuantizeRoundTripsWithinHalfAStep) {
  std::mt19937 rng(1);
  const std::vector<float> x = RandomVector(rng, 256, 3.0f);
  std::vector<Q8Block> q(8);
  ScalarKernels().quantize(x.data(), 256, q.data());
  for (int i = 0; i < 256; ++i) {
    const Q8Block& b = q[static_cast<size_t>(i / 32)];
    EXPECT_LE(std::fabs(b.d * b.q[i % 32] - x[static_cast<size_t>(i)]), 0.5f * b.d + 1e-6f);
  }
  const std::vector<float> zeros(32, 0.0f);
  ScalarKernels().quantize(zeros.data(), 32, q.data());
  EXPECT_EQ(q[0].d, 0.0f);
  EXPECT_EQ(q[0].q[5], 0);
}

TEST(QKernels, Avx2MatchesScalar) {
  const QKernels* avx2 = Avx2Kernels();
  if (avx2 == nullptr) GTEST_SKIP() << "no AVX2 on this CPU";
  const QKernels& scalar = ScalarKernels();
  std::mt19937 rng(2);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 256 * (1 + trial % 4);
    const std::vector<float> x = RandomVector(rng, n, trial % 2 ? 0.01f : 5.0f);
    std::vector<Q8Block> qa(static_cast<size_t>(n / 32)), qs(qa.size());
    avx2->quantize(x.data(), n, qa.data());
    scalar.quantize(x.data(), n, qs.data());
    for (size_t b = 0; b < qa.size(); ++b) {
      ASSERT_EQ(qa[b].d, qs[b].d);
      ASSERT_EQ(qa[b].s, qs[b].s);
      for (int i = 0; i < 32; ++i) ASSERT_EQ(qa[b].q[i], qs[b].q[i]) << b << " " << i;
    }
    const std::vector<uint8_t> r8 = RandomRow(rng, gguf::GgmlType::kQ8_0, n);
    const float a8 = avx2->dot_q8_0(r8.data(), qa.data(), n / 32);
    const float s8 = scalar.dot_q8_0(r8.data(), qs.data(), n / 32);
    EXPECT_NEAR(a8, s8, 1e-5f * (1 + std::fabs(s8)));
    const std::vector<uint8_t> r4 = RandomRow(rng, gguf::GgmlType::kQ4_K, n);
    const float a4 = avx2->dot_q4_k(r4.data(), qa.data(), n / 256);
    const float s4 = scalar.dot_q4_k(r4.data(), qs.data(), n / 256);
    EXPECT_NEAR(a4, s4, 1e-5f * (1 + std::fabs(s4)));
  }
}

TEST(QKernels, IntegerDotsAreCloseToFloatDots) {
  std::mt19937 rng(3);
  for (const QKernels* k : {&ScalarKernels(), Avx2Kernels()}) {
    if (k == nullptr) continue;
    for (gguf::GgmlType type : {gguf::GgmlType::kQ8_0, gguf::GgmlType::kQ4_K}) {
      const int n = 1024;
      const std::vector<float> x = RandomVector(rng, n, 1.0f);
      std::vector<Q8Block> q(static_cast<size_t>(n / 32));
      k->quantize(x.data(), n, q.data());
      const std::vector<uint8_t> row = RandomRow(rng, type, n);
      std::vector<float> w(static_cast<size_t>(n));
      ASSERT_TRUE(gguf::Dequantize(type, row.data(), w.size(), w.data()));
      double norm = 0;  // |w| |x|: the scale of the rounding error
      double ww = 0, xx = 0;
      for (int i = 0; i < n; ++i) {
        ww += w[static_cast<size_t>(i)] * w[static_cast<size_t>(i)];
        xx += x[static_cast<size_t>(i)] * x[static_cast<size_t>(i)];
      }
      norm = std::sqrt(ww * xx);
      const float exact = gguf::Dot(type, row.data(), x.data(), static_cast<size_t>(n));
      const float got = type == gguf::GgmlType::kQ8_0 ? k->dot_q8_0(row.data(), q.data(), n / 32)
                                                      : k->dot_q4_k(row.data(), q.data(), n / 256);
      // 8-bit activations: relative error per value about 1/254 of the block maximum.
      EXPECT_NEAR(got, exact, 0.02 * norm) << k->name << " " << gguf::TypeName(type);
    }
  }
}

}  // namespace
}  // namespace infergate::llm
