// The table of ggml types the reader can size, and the half and bfloat16 conversions.
#include "infergate/gguf/tensor_types.h"

#include <array>
#include <bit>
#include <cstring>
#include <limits>

namespace infergate::gguf {
namespace {

// Sizes from ggml's block definitions. Types the reader knows but cannot compute with are here
// so that a file holding them opens (and is then refused tensor by tensor, with the type named).
constexpr std::array kTypes = {
    TypeTraits{GgmlType::kF32, "f32", 1, 4, true},
    TypeTraits{GgmlType::kF16, "f16", 1, 2, true},
    TypeTraits{GgmlType::kQ4_0, "q4_0", 32, 18, true},
    TypeTraits{GgmlType::kQ4_1, "q4_1", 32, 20, false},
    TypeTraits{GgmlType::kQ5_0, "q5_0", 32, 22, false},
    TypeTraits{GgmlType::kQ5_1, "q5_1", 32, 24, false},
    TypeTraits{GgmlType::kQ8_0, "q8_0", 32, 34, true},
    TypeTraits{GgmlType::kQ8_1, "q8_1", 32, 36, false},
    TypeTraits{GgmlType::kQ2_K, "q2_K", 256, 84, false},
    TypeTraits{GgmlType::kQ3_K, "q3_K", 256, 110, false},
    TypeTraits{GgmlType::kQ4_K, "q4_K", 256, 144, true},
    TypeTraits{GgmlType::kQ5_K, "q5_K", 256, 176, false},
    TypeTraits{GgmlType::kQ6_K, "q6_K", 256, 210, true},
    TypeTraits{GgmlType::kQ8_K, "q8_K", 256, 292, false},
    TypeTraits{GgmlType::kI8, "i8", 1, 1, false},
    TypeTraits{GgmlType::kI16, "i16", 1, 2, false},
    TypeTraits{GgmlType::kI32, "i32", 1, 4, false},
    TypeTraits{GgmlType::kI64, "i64", 1, 8, false},
    TypeTraits{GgmlType::kF64, "f64", 1, 8, false},
    TypeTraits{GgmlType::kBF16, "bf16", 1, 2, true},
};

}  // namespace

const TypeTraits* FindType(uint32_t id) {
  for (const TypeTraits& t : kTypes) {
    if (static_cast<uint32_t>(t.type) == id) return &t;
  }
  return nullptr;
}

const TypeTraits& Traits(GgmlType type) {
  // Every enumerator is in the table, so the lookup cannot fail for a value of the enum.
  return *FindType(static_cast<uint32_t>(type));
}

std::string_view TypeName(GgmlType type) {
  const TypeTraits* t = FindType(static_cast<uint32_t>(type));
  return t ? t->name : std::string_view("unknown");
}

uint64_t BytesFor(GgmlType type, uint64_t n) {
  const TypeTraits* t = FindType(static_cast<uint32_t>(type));
  if (t == nullptr || n % t->block_size != 0) return 0;
  const uint64_t blocks = n / t->block_size;
  if (blocks > std::numeric_limits<uint64_t>::max() / t->block_bytes) return 0;
  return blocks * t->block_bytes;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t FloatToHalf(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // rounds to 65536 or more: infinity
  if (magnitude < 0x38800000u) {
    // Below the smallest normal half: adding 0.5 lines the half's subnormal step (2^-24) up
    // with the float's last mantissa bit, so the float addition does the rounding to even.
    const float shifted = std::bit_cast<float>(magnitude) + 0.5f;
    return sign | static_cast<uint16_t>(std::bit_cast<uint32_t>(shifted) - 0x3f000000u);
  }
  // Rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even.
  const uint32_t odd = (magnitude >> 13) & 1u;
  magnitude += 0xc8000fffu + odd;
  return sign | static_cast<uint16_t>(magnitude >> 13);
}

}  // namespace infergate::gguf
