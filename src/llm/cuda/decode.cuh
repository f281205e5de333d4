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

// Decoder<T>::Value(row, j) is value j of a row. Decoder<T>::Values8(row, j, out), for j a
// multiple of 8, writes values j..j+7: the same floats, with the block's scales read once for
// the eight (eight consecutive values never straddle a block or a scale). The matvec kernel
// takes eight at a time, the row gather one.
template <gguf::GgmlType T>
struct Decoder;

// The plain types: eight single decodes.
template <typename Self>
struct PlainValues8 {
  __host__ __device__ static void Values8(const uint8_t* row, int j, float* out) {
    for (int k = 0; k < 8; ++k) out[k] = Self::Value(row, j + k);
  }
};

template <>
struct Decoder<gguf::GgmlType::kF32> : PlainValues8<Decoder<gguf::GgmlType::kF32>> {
  // F32 rows start at a 4-byte multiple of an aligned allocation.
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    return reinterpret_cast<const float*>(row)[j];
  }
};

template <>
struct Decoder<gguf::GgmlType::kF16> : PlainValues8<Decoder<gguf::GgmlType::kF16>> {
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    return LoadHalf(row + 2 * j);
  }
};

template <>
struct Decoder<gguf::GgmlType::kBF16> : PlainValues8<Decoder<gguf::GgmlType::kBF16>> {
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    const unsigned u = static_cast<unsigned>(row[2 * j] | (row[2 * j + 1] << 8));
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
  __host__ __device__ static void Values8(const uint8_t* row, int j, float* out) {
    const uint8_t* b = row + 34 * (j >> 5);
    const float d = LoadHalf(b);
    const uint8_t* q = b + 2 + (j & 31);
    for (int k = 0; k < 8; ++k) out[k] = MulRn(static_cast<float>(static_cast<int8_t>(q[k])), d);
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
  __host__ __device__ static void Values8(const uint8_t* row, int j, float* out) {
    const uint8_t* b = row + 18 * (j >> 5);
    const int i = j & 31;
    const float d = LoadHalf(b);
    const uint8_t* qs = b + 2 + (i & 15);
    const int shift = i < 16 ? 0 : 4;
    for (int k = 0; k < 8; ++k) out[k] = MulRn(static_cast<float>(((qs[k] >> shift) & 0x0f) - 8), d);
  }
};

// 256 values in 144 bytes: half d, half dmin, 12 bytes of packed 6-bit scales and mins, 128
// bytes of nibbles. Chunk c (64 values) uses bytes 32c..32c+31: sub-block 2c in the low
// nibbles, 2c+1 in the high ones. The scale unpacking is blocks::Q4KScaleMin's.
template <>
struct Decoder<gguf::GgmlType::kQ4_K> {
  // Value v's block, the first of its nibbles' bytes, the nibble's shift, and its sub-block's
  // scale and min, ready to use: x = d1 * q - m1.
  struct Sub {
    const uint8_t* qs;
    int shift;
    float d1;
    float m1;
  };
  __host__ __device__ static Sub Locate(const uint8_t* row, int j) {
    const uint8_t* b = row + 144 * (j >> 8);
    const int v = j & 255;
    const int c = v >> 6;
    const int l = v & 63;
    const int sub = 2 * c + (l >> 5);
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
    return Sub{b + 16 + 32 * c + (l & 31), l < 32 ? 0 : 4,
               MulRn(LoadHalf(b), static_cast<float>(sc)),
               MulRn(LoadHalf(b + 2), static_cast<float>(m))};
  }
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    const Sub s = Locate(row, j);
    return SubRn(MulRn(s.d1, static_cast<float>((s.qs[0] >> s.shift) & 0x0f)), s.m1);
  }
  __host__ __device__ static void Values8(const uint8_t* row, int j, float* out) {
    const Sub s = Locate(row, j);
    for (int k = 0; k < 8; ++k) {
      out[k] = SubRn(MulRn(s.d1, static_cast<float>((s.qs[k] >> s.shift) & 0x0f)), s.m1);
    }
  }
};

// 256 values in 210 bytes: ql[128], qh[64], int8 scales[16], half d. Value v sits in half
// h = v/128, quarter q = (v%128)/32, lane l = v%32 (blocks.h spells out the placement).
template <>
struct Decoder<gguf::GgmlType::kQ6_K> {
  // Value j's low-nibble byte, high-bits byte, their shifts, and d * its scale.
  struct Sub {
    const uint8_t* ql;
    const uint8_t* qh;
    int low_shift;
    int high_shift;
    float dsc;
  };
  __host__ __device__ static Sub Locate(const uint8_t* row, int j) {
    const uint8_t* b = row + 210 * (j >> 8);
    const int v = j & 255;
    const int h = v >> 7;
    const int quarter = (v & 127) >> 5;
    const int l = v & 31;
    const int8_t sc = static_cast<int8_t>(b[192 + 8 * h + 2 * quarter + l / 16]);
    return Sub{b + 64 * h + 32 * (quarter & 1) + l, b + 128 + 32 * h + l, quarter < 2 ? 0 : 4,
               2 * quarter, MulRn(LoadHalf(b + 208), static_cast<float>(sc))};
  }
  __host__ __device__ static float Decode(const Sub& s, int k) {
    const int q6 = (((s.ql[k] >> s.low_shift) & 0x0f) | (((s.qh[k] >> s.high_shift) & 3) << 4)) - 32;
    return MulRn(s.dsc, static_cast<float>(q6));
  }
  __host__ __device__ static float Value(const uint8_t* row, int j) {
    return Decode(Locate(row, j), 0);
  }
  __host__ __device__ static void Values8(const uint8_t* row, int j, float* out) {
    const Sub s = Locate(row, j);
    for (int k = 0; k < 8; ++k) out[k] = Decode(s, k);
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
