// Tensor types: half conversions, dequantization of hand-built blocks whose expected values
// are computed here from the layout (value index -> byte, bits, scale), and the dot kernels
// against a double-precision dot of the dequantized row.
#include "infergate/gguf/tensor_types.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace infergate::gguf {
namespace {

void PutHalf(uint8_t* p, float f) {
  const uint16_t h = FloatToHalf(f);
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}

TEST(Half, ConvertsExactlyBothWays) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x03ff), 1023 * std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  // Every non-NaN half survives the round trip bit for bit.
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), h) << h;
  }
  // Rounding: ties to even, overflow to infinity, subnormal ties.
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-1e9f), 0xfc00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(FloatToHalf(3 * std::ldexp(1.0f, -25)), 0x0002);
  EXPECT_EQ(FloatToHalf(std::nanf("")) & 0x7e00, 0x7e00);
  EXPECT_EQ(Bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xc040), -3.0f);
}

TEST(TypeTable, SizesAndNames) {
  EXPECT_EQ(BytesFor(GgmlType::kQ4_K, 512), 288u);
  EXPECT_EQ(BytesFor(GgmlType::kQ6_K, 256), 210u);
  EXPECT_EQ(BytesFor(GgmlType::kQ8_0, 64), 68u);
  EXPECT_EQ(BytesFor(GgmlType::kQ4_0, 32), 18u);
  EXPECT_EQ(BytesFor(GgmlType::kBF16, 3), 6u);
  EXPECT_EQ(BytesFor(GgmlType::kQ4_K, 100), 0u);
  EXPECT_EQ(BytesFor(GgmlType::kF32, 1ull << 63), 0u);  // overflow
  EXPECT_EQ(TypeName(GgmlType::kQ6_K), "q6_K");
  EXPECT_EQ(FindType(19), nullptr);
  EXPECT_FALSE(Traits(GgmlType::kQ5_K).computable);
  float out[256];
  uint8_t zeros[256] = {};
  EXPECT_FALSE(Dequantize(GgmlType::kQ5_K, zeros, 256, out));
  EXPECT_FALSE(Dequantize(GgmlType::kQ8_0, zeros, 33, out));
  EXPECT_TRUE(std::isnan(Dot(GgmlType::kQ4_K, zeros, out, 255)));
}

TEST(Dequantize, Q8_0) {
  uint8_t block[34];
  PutHalf(block, 0.5f);
  for (int j = 0; j < 32; ++j) block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  float out[32];
  ASSERT_TRUE(Dequantize(GgmlType::kQ8_0, block, 32, out));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], (j - 16) * 0.5f) << j;
}

TEST(Dequantize, Q4_0) {
  uint8_t block[18];
  PutHalf(block, 2.0f);
  // Byte j: value j in the low nibble (element j), 15 - j in the high one (element j + 16).
  for (int j = 0; j < 16; ++j) block[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float out[32];
  ASSERT_TRUE(Dequantize(GgmlType::kQ4_0, block, 32, out));
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], (j - 8) * 2.0f) << j;
    EXPECT_EQ(out[j + 16], (15 - j - 8) * 2.0f) << j;
  }
}

TEST(Dequantize, Q4_KUnpacksSixBitScalesAndMins) {
  // Scales and mins chosen to use the top two bits (values >= 16) in every sub-block, so the
  // bits stored apart (sub-blocks 4-7) are exercised.
  const int sc[8] = {1, 63, 17, 40, 33, 2, 63, 48};
  const int mn[8] = {62, 3, 20, 0, 47, 31, 16, 63};
  uint8_t block[144] = {};
  PutHalf(block, 1.0f);
  PutHalf(block + 2, 0.5f);
  uint8_t* packed = block + 4;
  for (int s = 0; s < 4; ++s) {
    packed[s] = static_cast<uint8_t>((sc[s] & 63) | ((sc[s + 4] >> 4) << 6));
    packed[s + 4] = static_cast<uint8_t>((mn[s] & 63) | ((mn[s + 4] >> 4) << 6));
    packed[s + 8] = static_cast<uint8_t>((sc[s + 4] & 15) | ((mn[s + 4] & 15) << 4));
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 128; ++i) block[16 + i] = static_cast<uint8_t>(rng());
  float out[256];
  ASSERT_TRUE(Dequantize(GgmlType::kQ4_K, block, 256, out));
  for (int v = 0; v < 256; ++v) {
    const int sub = v / 32, chunk = v / 64, lane = v % 32;
    const uint8_t byte = block[16 + 32 * chunk + lane];
    const int q = (v % 64 < 32) ? (byte & 15) : (byte >> 4);
    const float expected = 1.0f * static_cast<float>(sc[sub]) * static_cast<float>(q) -
                           0.5f * static_cast<float>(mn[sub]);
    ASSERT_EQ(out[v], expected) << "value " << v;
  }
}

TEST(Dequantize, Q6_KPlacesLowAndHighBits) {
  uint8_t block[210];
  std::mt19937 rng(11);
  for (int i = 0; i < 192; ++i) block[i] = static_cast<uint8_t>(rng());
  const int8_t scales[16] = {1, -1, 127, -128, 5, -7, 33, 0, 2, 64, -64, 9, -9, 100, -100, 3};
  std::memcpy(block + 192, scales, 16);
  PutHalf(block + 208, 0.25f);
  float out[256];
  ASSERT_TRUE(Dequantize(GgmlType::kQ6_K, block, 256, out));
  for (int v = 0; v < 256; ++v) {
    const int h = v / 128, quarter = (v % 128) / 32, lane = v % 32;
    const uint8_t low_byte = block[64 * h + 32 * (quarter & 1) + lane];
    const int low = quarter < 2 ? (low_byte & 15) : (low_byte >> 4);
    const int high = (block[128 + 32 * h + lane] >> (2 * quarter)) & 3;
    const int q = (low | (high << 4)) - 32;
    const int scale = scales[8 * h + 2 * quarter + lane / 16];
    ASSERT_EQ(out[v], 0.25f * static_cast<float>(scale) * static_cast<float>(q)) << v;
  }
}

TEST(Dequantize, PlainTypes) {
  const float f32[3] = {1.5f, -0.0f, 3e-39f};
  uint8_t bytes[12];
  std::memcpy(bytes, f32, 12);
  float out[3];
  ASSERT_TRUE(Dequantize(GgmlType::kF32, bytes, 3, out));
  EXPECT_EQ(std::memcmp(out, f32, 12), 0);
  const uint8_t f16[4] = {0x00, 0x3c, 0x00, 0xc0};  // 1, -2
  ASSERT_TRUE(Dequantize(GgmlType::kF16, f16, 2, out));
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  const uint8_t bf16[4] = {0x80, 0x3f, 0x40, 0xc0};  // 1, -3
  ASSERT_TRUE(Dequantize(GgmlType::kBF16, bf16, 2, out));
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.0f);
}

// A row of n values of `type` from random bytes, with every scale field a sane half.
std::vector<uint8_t> RandomRow(GgmlType type, size_t n, std::mt19937& rng) {
  std::vector<uint8_t> row(BytesFor(type, n));
  for (uint8_t& b : row) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const TypeTraits& t = Traits(type);
  for (size_t blk = 0; blk < n / t.block_size; ++blk) {
    uint8_t* p = row.data() + blk * t.block_bytes;
    switch (type) {
      case GgmlType::kQ8_0:
      case GgmlType::kQ4_0:
        PutHalf(p, scale(rng));
        break;
      case GgmlType::kQ4_K:
        PutHalf(p, scale(rng));
        PutHalf(p + 2, scale(rng));
        break;
      case GgmlType::kQ6_K:
        PutHalf(p + 208, scale(rng));
        break;
      case GgmlType::kF32: {
        const float f = normal(rng);
        std::memcpy(p, &f, 4);
        break;
      }
      case GgmlType::kF16:
        PutHalf(p, normal(rng));
        break;
      case GgmlType::kBF16: {
        const uint32_t bits = std::bit_cast<uint32_t>(normal(rng));
        p[0] = static_cast<uint8_t>(bits >> 16);
        p[1] = static_cast<uint8_t>(bits >> 24);
        break;
      }
      default:
        break;
    }
  }
  return row;
}

TEST(Dot, MatchesTheDequantizedRowForEveryType) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0,
                        GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    for (size_t n : {256u, 1024u, 2816u}) {
      std::vector<uint8_t> row = RandomRow(type, n, rng);
      std::vector<float> x(n), w(n);
      for (float& v : x) v = normal(rng);
      ASSERT_TRUE(Dequantize(type, row.data(), n, w.data()));
      double exact = 0, magnitude = 0;
      for (size_t i = 0; i < n; ++i) {
        exact += static_cast<double>(w[i]) * x[i];
        magnitude += std::fabs(static_cast<double>(w[i]) * x[i]);
      }
      // Float accumulation over n terms: a few units in the last place of the magnitude.
      const float dot = Dot(type, row.data(), x.data(), n);
      EXPECT_NEAR(dot, exact, 1e-5 * magnitude + 1e-6) << TypeName(type) << " n=" << n;
      EXPECT_GT(magnitude, 0.0) << TypeName(type);
    }
  }
}

TEST(Dot, ReadsUnalignedRows) {
  std::mt19937 rng(5);
  std::vector<uint8_t> row = RandomRow(GgmlType::kF32, 64, rng);
  std::vector<uint8_t> shifted(row.size() + 1);
  std::memcpy(shifted.data() + 1, row.data(), row.size());
  std::vector<float> x(64, 1.0f);
  EXPECT_EQ(Dot(GgmlType::kF32, row.data(), x.data(), 64),
            Dot(GgmlType::kF32, shifted.data() + 1, x.data(), 64));
}

}  // namespace
}  // namespace infergate::gguf
