// Row-by-vector dot products that decode the row block by block: the integer quants are
// multiplied into per-block partial sums and the block's scales applied once per (sub-)block,
// so a matrix-vector product never materializes a float row (Q6_K unpacks 128 small integers at
// a time on the stack). This file is built with reassociation allowed (CMakeLists.txt) so that
// the compiler vectorizes the plain reduction loops; the results differ from an in-order sum
// by rounding only, which the contract in tensor_types.h allows.
#include <array>
#include <limits>

#include "gguf/blocks.h"
#include "infergate/gguf/tensor_types.h"

namespace infergate::gguf {
namespace {

using blocks::LoadF32;
using blocks::LoadHalf;
using blocks::LoadU16;

// float for every half bit pattern: F16 rows convert with one load per value.
const std::array<float, 65536>& HalfTable() {
  static const std::array<float, 65536> table = [] {
    std::array<float, 65536> t{};
    for (uint32_t i = 0; i < 65536; ++i) t[i] = HalfToFloat(static_cast<uint16_t>(i));
    return t;
  }();
  return table;
}

float DotF32(const uint8_t* row, const float* x, size_t n) {
  float acc = 0;
  for (size_t i = 0; i < n; ++i) acc += LoadF32(row + 4 * i) * x[i];
  return acc;
}

template <typename Convert>
float Dot16(const uint8_t* row, const float* x, size_t n, Convert convert) {
  float acc = 0;
  for (size_t i = 0; i < n; ++i) acc += convert(LoadU16(row + 2 * i)) * x[i];
  return acc;
}

float DotQ8_0(const uint8_t* b, const float* x, size_t n_blocks) {
  float total = 0;
  for (size_t i = 0; i < n_blocks; ++i, b += blocks::kQ8_0Bytes, x += 32) {
    const auto* q = reinterpret_cast<const int8_t*>(b + 2);
    float acc = 0;
    for (int j = 0; j < 32; ++j) acc += static_cast<float>(q[j]) * x[j];
    total += LoadHalf(b) * acc;
  }
  return total;
}

float DotQ4_0(const uint8_t* b, const float* x, size_t n_blocks) {
  float total = 0;
  for (size_t i = 0; i < n_blocks; ++i, b += blocks::kQ4_0Bytes, x += 32) {
    const uint8_t* qs = b + 2;
    // sum((q - 8) * x) = sum(q * x) - 8 * sum(x), with q the raw nibble.
    float qx = 0, xs = 0;
    for (int j = 0; j < 16; ++j) {
      qx += static_cast<float>(qs[j] & 0x0f) * x[j];
      xs += x[j];
    }
    for (int j = 0; j < 16; ++j) {
      qx += static_cast<float>(qs[j] >> 4) * x[j + 16];
      xs += x[j + 16];
    }
    total += LoadHalf(b) * (qx - 8.0f * xs);
  }
  return total;
}

float DotQ4_K(const uint8_t* b, const float* x, size_t n_blocks) {
  float total = 0;
  for (size_t i = 0; i < n_blocks; ++i, b += blocks::kQ4_KBytes) {
    const float d = LoadHalf(b);
    const float dmin = LoadHalf(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* qs = b + 16;
    // Per sub-block: d*sc * sum(q*x) - dmin*m * sum(x).
    float scaled = 0, mins = 0;
    for (int c = 0; c < 4; ++c, qs += 32, x += 64) {
      float qx_lo = 0, qx_hi = 0, x_lo = 0, x_hi = 0;
      for (int l = 0; l < 32; ++l) {
        qx_lo += static_cast<float>(qs[l] & 0x0f) * x[l];
        x_lo += x[l];
      }
      for (int l = 0; l < 32; ++l) {
        qx_hi += static_cast<float>(qs[l] >> 4) * x[32 + l];
        x_hi += x[32 + l];
      }
      uint8_t sc, m;
      blocks::Q4KScaleMin(scales, 2 * c, &sc, &m);
      scaled += static_cast<float>(sc) * qx_lo;
      mins += static_cast<float>(m) * x_lo;
      blocks::Q4KScaleMin(scales, 2 * c + 1, &sc, &m);
      scaled += static_cast<float>(sc) * qx_hi;
      mins += static_cast<float>(m) * x_hi;
    }
    total += d * scaled - dmin * mins;
  }
  return total;
}

float DotQ6_K(const uint8_t* b, const float* x, size_t n_blocks) {
  float total = 0;
  for (size_t i = 0; i < n_blocks; ++i, b += blocks::kQ6_KBytes) {
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    float block = 0;
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32, sc += 8, x += 128) {
      // Unpack the half's 128 values in order (layout in blocks.h), then eight runs of 16
      // that share a scale.
      int8_t q[128];
      for (int l = 0; l < 32; ++l) {
        q[l] = static_cast<int8_t>(((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
        q[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
        q[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        q[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      for (int s = 0; s < 8; ++s) {
        float run = 0;
        for (int l = 0; l < 16; ++l) run += static_cast<float>(q[16 * s + l]) * x[16 * s + l];
        block += static_cast<float>(sc[s]) * run;
      }
    }
    total += LoadHalf(b + 208) * block;
  }
  return total;
}

}  // namespace

float Dot(GgmlType type, const uint8_t* row, const float* x, size_t n) {
  const TypeTraits* traits = FindType(static_cast<uint32_t>(type));
  if (traits == nullptr || !traits->computable || n % traits->block_size != 0) {
    return std::numeric_limits<float>::quiet_NaN();
  }
  const size_t n_blocks = n / traits->block_size;
  switch (type) {
    case GgmlType::kF32:
      return DotF32(row, x, n);
    case GgmlType::kF16: {
      const std::array<float, 65536>& table = HalfTable();
      return Dot16(row, x, n, [&table](uint16_t h) { return table[h]; });
    }
    case GgmlType::kBF16:
      return Dot16(row, x, n, [](uint16_t b) { return Bf16ToFloat(b); });
    case GgmlType::kQ8_0:
      return DotQ8_0(row, x, n_blocks);
    case GgmlType::kQ4_0:
      return DotQ4_0(row, x, n_blocks);
    case GgmlType::kQ4_K:
      return DotQ4_K(row, x, n_blocks);
    case GgmlType::kQ6_K:
      return DotQ6_K(row, x, n_blocks);
    default:
      return std::numeric_limits<float>::quiet_NaN();
  }
}

}  // namespace infergate::gguf
