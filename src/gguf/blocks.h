// Byte-level helpers shared by the dequantizers and the dot kernels: unaligned little-endian
// loads (tensor data in a mapping has no alignment the code may rely on) and the Q4_K scale
// unpacking.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "infergate/gguf/tensor_types.h"

namespace infergate::gguf::blocks {

static_assert(std::endian::native == std::endian::little,
              "GGUF data is little-endian; this code reads it in place");

constexpr int kQ8_0Bytes = 34;
constexpr int kQ4_0Bytes = 18;
constexpr int kQ4_KBytes = 144;
constexpr int kQ6_KBytes = 210;

inline uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline float LoadHalf(const uint8_t* p) { return HalfToFloat(LoadU16(p)); }
inline float LoadF32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return f;
}

// Q4_K packs eight 6-bit scales and eight 6-bit mins into 12 bytes: bytes 0-3 hold the low six
// bits of scales 0-3 and bytes 4-7 those of mins 0-3; for sub-blocks 4-7 the low four bits come
// from the nibbles of bytes 8-11 (scale low, min high) and the top two bits from the spare top
// bits of bytes 0-3 (scales) and 4-7 (mins).
inline void Q4KScaleMin(const uint8_t* packed, int sub, uint8_t* scale, uint8_t* min) {
  if (sub < 4) {
    *scale = packed[sub] & 63;
    *min = packed[sub + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((packed[sub + 4] & 0x0f) | ((packed[sub - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((packed[sub + 4] >> 4) | ((packed[sub] >> 6) << 4));
  }
}

// All eight scales and mins at once (what Q4KScaleMin gives one by one), four at a time with
// 32-bit masks: for the SIMD dots, which apply a whole super-block's scales together.
inline void Q4KScalesMins(const uint8_t* packed, uint8_t* scales, uint8_t* mins) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
  const uint32_t sc_lo = u[0] & low6;
  const uint32_t m_lo = u[1] & low6;
  const uint32_t sc_hi = (u[2] & low4) | (((u[0] >> 6) & low2) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & low4) | (((u[1] >> 6) & low2) << 4);
  std::memcpy(scales, &sc_lo, 4);
  std::memcpy(scales + 4, &sc_hi, 4);
  std::memcpy(mins, &m_lo, 4);
  std::memcpy(mins + 4, &m_hi, 4);
}

// Q6_K: value v (0..255) of a super-block sits in half h = v / 128, quarter q = (v % 128) / 32,
// lane l = v % 32. Its low four bits are a nibble of ql: quarters 0 and 1 take the low nibbles of
// ql[64h + l] and ql[64h + 32 + l], quarters 2 and 3 the high nibbles of the same two bytes. Its
// two high bits are bits 2q and 2q+1 of qh[32h + l]; its scale is scales[8h + 2q + l / 16].

}  // namespace infergate::gguf::blocks
