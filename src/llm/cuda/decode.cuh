// Device-side decoding of one weight value from a row of GGUF blocks, for the types the runner
// computes with. Each function returns exactly what gguf::Dequantize writes for that value
// (src/gguf/dequantize.cc): the same products in the same order, each rounded on its own
// (MulRn, SubRn) so that no compiler contracts d*q - m into an FMA and changes the last bit.
//
// Rows carry no alignment guarantee past their start (a Q8_0 block is 34 bytes), so halves are
// assembled from bytes.
//
// Host and device: the host side lets tests/unit/llm_cuda/decode_test.cu check every bit
// placement against gguf::Dequantize on a machine without a GPU.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "infergate/gguf/tensor_types.h"

namespace infergate::llm::cuda {

// One rounding per product and difference, never fused.
__host__ __device__ __forceinline__ float MulRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  volatile float p = a * b;  // volatile: the host compiler may not fuse it either
  return p;
#endif
}
__host__ __device__ __forceinline__ float SubRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
__host__ __device__ __forceinline__ float BitsToFloat(unsigned u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

__host__ __device__ __forceinline__ float LoadHalf(const uint8_t* p) {
  __half_raw raw;
  raw.x = static_cast<unsigned short>(p[0] | (p[1] << 8));
  return __half2float(__half(raw));
}

template <gguf::GgmlType T>
struct Decoder;

template <>
struct Decoder<gguf::GgmlType::kF32> {
  // F32 rows start at a 4-byte multiple of an aligned allocation.
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    return reinterpret_cast<const float*>(row)[j];
  }
};

template <>
struct Decoder<gguf::GgmlType::kF16> {
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    return LoadHalf(row + 2 * j);
  }
};

template <>
struct Decoder<gguf::GgmlType::kBF16> {
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    const unsigned u = reinterpret_cast<const unsigned short*>(row)[j];
    return BitsToFloat(u << 16);
  }
};

// 32 values in 34 bytes: half d, int8 q[32].
template <>
struct Decoder<gguf::GgmlType::kQ8_0> {
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    const uint8_t* b = row + 34 * (j >> 5);
    const int8_t q = static_cast<int8_t>(b[2 + (j & 31)]);
    return MulRn(static_cast<float>(q), LoadHalf(b));
  }
};

// 32 values in 18 bytes: half d, then 16 bytes whose low nibbles are values 0-15 and high
// nibbles values 16-31, each minus 8.
template <>
struct Decoder<gguf::GgmlType::kQ4_0> {
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    const uint8_t* b = row + 18 * (j >> 5);
    const int i = j & 31;
    const int q = i < 16 ? (b[2 + i] & 0x0f) : (b[2 + i - 16] >> 4);
    return MulRn(static_cast<float>(q - 8), LoadHalf(b));
  }
};

// 256 values in 144 bytes: half d, half dmin, 12 bytes of packed 6-bit scales and mins, 128
// bytes of nibbles. Chunk c (64 values) uses bytes 32c..32c+31: sub-block 2c in the low
// nibbles, 2c+1 in the high ones. The scale unpacking is blocks::Q4KScaleMin's.
template <>
struct Decoder<gguf::GgmlType::kQ4_K> {
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    const uint8_t* b = row + 144 * (j >> 8);
    const int v = j & 255;
    const int c = v >> 6;
    const int l = v & 63;
    const int sub = 2 * c + (l >> 5);
    const uint8_t byte = b[16 + 32 * c + (l & 31)];
    const int q = l < 32 ? (byte & 0x0f) : (byte >> 4);
    const uint8_t* packed = b + 4;
    int sc;
    int m;
    if (sub < 4) {
      sc = packed[sub] & 63;
      m = packed[sub + 4] & 63;
    } else {
      sc = (packed[sub + 4] & 0x0f) | ((packed[sub - 4] >> 6) << 4);
      m = (packed[sub + 4] >> 4) | ((packed[sub] >> 6) << 4);
    }
    const float d1 = MulRn(LoadHalf(b), static_cast<float>(sc));
    const float m1 = MulRn(LoadHalf(b + 2), static_cast<float>(m));
    return SubRn(MulRn(d1, static_cast<float>(q)), m1);
  }
};

// 256 values in 210 bytes: ql[128], qh[64], int8 scales[16], half d. Value v sits in half
// h = v/128, quarter q = (v%128)/32, lane l = v%32 (blocks.h spells out the placement).
template <>
struct Decoder<gguf::GgmlType::kQ6_K> {
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    const uint8_t* b = row + 210 * (j >> 8);
    const int v = j & 255;
    const int h = v >> 7;
    const int quarter = (v & 127) >> 5;
    const int l = v & 31;
    const uint8_t low_byte = b[64 * h + 32 * (quarter & 1) + l];
    const int low = quarter < 2 ? (low_byte & 0x0f) : (low_byte >> 4);
    const int high = (b[128 + 32 * h + l] >> (2 * quarter)) & 3;
    const int q6 = (low | (high << 4)) - 32;
    const int8_t sc = static_cast<int8_t>(b[192 + 8 * h + 2 * quarter + l / 16]);
    return MulRn(MulRn(LoadHalf(b + 208), static_cast<float>(sc)),
                     static_cast<float>(q6));
  }
};

// Calls f.template operator()<T>() for a supported runtime type; false for another.
template <typename F>
bool DispatchType(gguf::GgmlType type, F&& f) {
  using gguf::GgmlType;
  switch (type) {
    case GgmlType::kF32: f.template operator()<GgmlType::kF32>(); return true;
    case GgmlType::kF16: f.template operator()<GgmlType::kF16>(); return true;
    case GgmlType::kBF16: f.template operator()<GgmlType::kBF16>(); return true;
    case GgmlType::kQ8_0: f.template operator()<GgmlType::kQ8_0>(); return true;
    case GgmlType::kQ4_0: f.template operator()<GgmlType::kQ4_0>(); return true;
    case GgmlType::kQ4_K: f.template operator()<GgmlType::kQ4_K>(); return true;
    case GgmlType::kQ6_K: f.template operator()<GgmlType::kQ6_K>(); return true;
    default: return false;
  }
}

}  // namespace infergate::llm::cuda
