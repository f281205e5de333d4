// Dequantization of the computable types, written from the block definitions in
// tensor_types.h. Built with -ffp-contract=off (CMakeLists.txt) so that d*q - m stays two
// roundings, as the reference implementations compute it.
#include <cstring>

#include "gguf/blocks.h"
#include "infergate/gguf/tensor_types.h"

namespace infergate::gguf {
namespace {

using blocks::LoadF32;
using blocks::LoadHalf;
using blocks::LoadU16;

void DequantizeQ8_0(const uint8_t* b, size_t n_blocks, float* out) {
  for (size_t i = 0; i < n_blocks; ++i, b += blocks::kQ8_0Bytes, out += 32) {
    const float d = LoadHalf(b);
    const auto* q = reinterpret_cast<const int8_t*>(b + 2);
    for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(q[j]) * d;
  }
}

void DequantizeQ4_0(const uint8_t* b, size_t n_blocks, float* out) {
  for (size_t i = 0; i < n_blocks; ++i, b += blocks::kQ4_0Bytes, out += 32) {
    const float d = LoadHalf(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<float>((qs[j] & 0x0f) - 8) * d;
      out[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
}

void DequantizeQ4_K(const uint8_t* b, size_t n_blocks, float* out) {
  for (size_t i = 0; i < n_blocks; ++i, b += blocks::kQ4_KBytes) {
    const float d = LoadHalf(b);
    const float dmin = LoadHalf(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* qs = b + 16;
    // Four chunks of 64 values; chunk c's 32 bytes hold sub-block 2c in their low nibbles and
    // sub-block 2c+1 in their high nibbles.
    for (int c = 0; c < 4; ++c, qs += 32, out += 64) {
      uint8_t sc, m;
      blocks::Q4KScaleMin(scales, 2 * c, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      blocks::Q4KScaleMin(scales, 2 * c + 1, &sc, &m);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) out[l] = d1 * static_cast<float>(qs[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) out[32 + l] = d2 * static_cast<float>(qs[l] >> 4) - m2;
    }
  }
}

void DequantizeQ6_K(const uint8_t* b, size_t n_blocks, float* out) {
  for (size_t i = 0; i < n_blocks; ++i, b += blocks::kQ6_KBytes) {
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    const float d = LoadHalf(b + 208);
    // Two halves of 128 values: ql advances 64 bytes, qh 32, the scales 8 per half.
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32, sc += 8, out += 128) {
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q0 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q1 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * static_cast<float>(sc[s]) * static_cast<float>(q0);
        out[l + 32] = d * static_cast<float>(sc[s + 2]) * static_cast<float>(q1);
        out[l + 64] = d * static_cast<float>(sc[s + 4]) * static_cast<float>(q2);
        out[l + 96] = d * static_cast<float>(sc[s + 6]) * static_cast<float>(q3);
      }
    }
  }
}

}  // namespace

bool Dequantize(GgmlType type, const uint8_t* bytes, size_t n, float* out) {
  const TypeTraits* traits = FindType(static_cast<uint32_t>(type));
  if (traits == nullptr || !traits->computable || n % traits->block_size != 0) return false;
  const size_t n_blocks = n / traits->block_size;
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(out, bytes, n * sizeof(float));
      return true;
    case GgmlType::kF16:
      for (size_t i = 0; i < n; ++i) out[i] = LoadHalf(bytes + 2 * i);
      return true;
    case GgmlType::kBF16:
      for (size_t i = 0; i < n; ++i) out[i] = Bf16ToFloat(LoadU16(bytes + 2 * i));
      return true;
    case GgmlType::kQ8_0:
      DequantizeQ8_0(bytes, n_blocks, out);
      return true;
    case GgmlType::kQ4_0:
      DequantizeQ4_0(bytes, n_blocks, out);
      return true;
    case GgmlType::kQ4_K:
      DequantizeQ4_K(bytes, n_blocks, out);
      return true;
    case GgmlType::kQ6_K:
      DequantizeQ6_K(bytes, n_blocks, out);
      return true;
    default:
      return false;
  }
}

}  // namespace infergate::gguf
