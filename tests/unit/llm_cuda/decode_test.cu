// The kernels' value decoders (src/llm/cuda/decode.cuh), one value and eight at a time, run on
// the host against gguf::Dequantize bit for bit: every block layout the device reads is checked
// here even on a machine without a GPU. Compiled by nvcc (the decoders are __host__ __device__).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "infergate/gguf/tensor_types.h"
#include "llm/cuda/decode.cuh"

namespace infergate::llm::cuda {
namespace {

using gguf::GgmlType;

// Random bytes with finite, varied scales: random halves could be NaN, which compare unequal.
std::vector<uint8_t> RandomBlocks(GgmlType type, size_t n_values, uint32_t seed) {
  std::vector<uint8_t> bytes(gguf::BytesFor(type, n_values));
  std::mt19937 rng(seed);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  std::normal_distribution<float> value(0.0f, 1.0f);
  auto put_half = [&](size_t at, float f) {
    const uint16_t h = gguf::FloatToHalf(f);
    std::memcpy(&bytes[at], &h, 2);
  };
  switch (type) {
    case GgmlType::kF32:
      for (size_t i = 0; i < n_values; ++i) {
        const float f = value(rng);
        std::memcpy(&bytes[4 * i], &f, 4);
      }
      break;
    case GgmlType::kF16:
      for (size_t i = 0; i < n_values; ++i) put_half(2 * i, value(rng));
      break;
    case GgmlType::kBF16:
      for (size_t i = 0; i < n_values; ++i) bytes[2 * i + 1] &= 0x7f ^ 0x40;  // no NaN or inf
      break;
    case GgmlType::kQ6_K:
      for (size_t at = 0; at < bytes.size(); at += 210) put_half(at + 208, scale(rng));
      break;
    case GgmlType::kQ4_K:
      for (size_t at = 0; at < bytes.size(); at += 144) {
        put_half(at, scale(rng));
        put_half(at + 2, scale(rng));
      }
      break;
    default: {
      const size_t block = gguf::Traits(type).block_bytes;
      for (size_t at = 0; at < bytes.size(); at += block) put_half(at, scale(rng));
    }
  }
  return bytes;
}

template <GgmlType T>
void ExpectExact(uint32_t seed) {
  constexpr size_t kValues = 4 * 256;
  const std::vector<uint8_t> bytes = RandomBlocks(T, kValues, seed);
  std::vector<float> want(kValues);
  ASSERT_TRUE(gguf::Dequantize(T, bytes.data(), kValues, want.data()));
  for (size_t j = 0; j < kValues; ++j) {
    const float got = Decoder<T>::Value(bytes.data(), static_cast<int>(j));
    ASSERT_EQ(std::memcmp(&got, &want[j], sizeof got), 0)
        << gguf::TypeName(T) << " value " << j << ": " << got << " != " << want[j];
  }
  for (size_t j = 0; j < kValues; j += 8) {
    float got[8];
    Decoder<T>::Values8(bytes.data(), static_cast<int>(j), got);
    ASSERT_EQ(std::memcmp(got, &want[j], sizeof got), 0)
        << gguf::TypeName(T) << " values " << j << ".." << j + 7;
  }
}

TEST(CudaDecode, EveryTypeMatchesDequantizeBitForBit) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    ExpectExact<GgmlType::kF32>(seed);
    ExpectExact<GgmlType::kF16>(seed);
    ExpectExact<GgmlType::kBF16>(seed);
    ExpectExact<GgmlType::kQ8_0>(seed);
    ExpectExact<GgmlType::kQ4_0>(seed);
    ExpectExact<GgmlType::kQ4_K>(seed);
    ExpectExact<GgmlType::kQ6_K>(seed);
  }
}

}  // namespace
}  // namespace infergate::llm::cuda
