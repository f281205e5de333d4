// ggml tensor types as GGUF files store them: block and byte sizes for every type the reader
// can size, and dequantization and row-by-vector dot products for the types the runner
// computes with (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K).
//
// Block layouts (little-endian, packed; "half" is an IEEE binary16 scale):
//   Q8_0: 32 values in 34 bytes: half d, int8 q[32];            x = d * q
//   Q4_0: 32 values in 18 bytes: half d, uint8 qs[16];          x[j] = d * ((qs[j] & 15) - 8),
//                                                                x[j+16] = d * ((qs[j] >> 4) - 8)
//   Q4_K: 256 values in 144 bytes: half d, half dmin, uint8 scales[12] (eight 6-bit scales
//         and eight 6-bit mins), uint8 qs[128]; sub-block s of 32: x = d*sc[s] * q - dmin*m[s]
//   Q6_K: 256 values in 210 bytes: uint8 ql[128], uint8 qh[64], int8 scales[16], half d;
//         sixteen sub-blocks of 16: x = d*scales[s] * (q6 - 32)
// The exact bit placement is in dequantize.cc, where it is used.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace infergate::gguf {

// The ids are ggml's (enum ggml_type); they are what a GGUF tensor info stores.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct TypeTraits {
  GgmlType type;
  std::string_view name;  // as ggml names it: "q4_K", "f16"
  uint32_t block_size;    // values per block (1 for the plain types)
  uint32_t block_bytes;   // bytes per block
  bool computable;        // Dequantize and Dot handle it
};

// The traits of a type id read from a file; nullptr for an id this reader cannot size (the
// i-quants, removed types, garbage).
const TypeTraits* FindType(uint32_t id);
const TypeTraits& Traits(GgmlType type);
std::string_view TypeName(GgmlType type);

// Bytes that `n` values of `type` take, or 0 when n is not a whole number of blocks or the size
// overflows 64 bits.
uint64_t BytesFor(GgmlType type, uint64_t n);

// Writes the `n` values encoded at `bytes` (BytesFor(type, n) of them, any alignment) to `out`.
// False, with nothing written, when the type is not computable or n is not a whole number of
// blocks. Deterministic and exact: the same float operations in the same order as the format's
// definition, so the result is bit-identical to any faithful implementation (the Python one in
// scripts/gguf/ included) as long as the compiler does not contract a*b-c into an FMA; this
// file's build turns contraction off.
bool Dequantize(GgmlType type, const uint8_t* bytes, size_t n, float* out);

// Sum over i < n of row[i] * x[i], with the row decoded block by block (no temporary row).
// Preconditions as for Dequantize; NaN when they fail. Accumulates in float, so it differs from
// a double-precision dot of the dequantized row by rounding only.
float Dot(GgmlType type, const uint8_t* row, const float* x, size_t n);

// IEEE binary16 and bfloat16 conversions. HalfToFloat is exact (every half is a float);
// FloatToHalf rounds to nearest even, with overflow to infinity and NaN kept a NaN.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
inline float Bf16ToFloat(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

}  // namespace infergate::gguf
