// Random activations and random but valid Q8_0, Q4_K and Q6_K rows for the kernel tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "infergate/gguf/tensor_types.h"

namespace infergate::llm {

inline std::vector<float> RandomVector(std::mt19937& rng, int n, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

inline void PutHalf(uint8_t* p, float f) {
  const uint16_t h = gguf::FloatToHalf(f);
  p[0] = static_cast<uint8_t>(h);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// Random but valid Q8_0, Q4_K and Q6_K rows: random bytes with small positive half scales.
inline std::vector<uint8_t> RandomRow(std::mt19937& rng, gguf::GgmlType type, int n) {
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

}  // namespace infergate::llm
