// What the SIMD kernel files share: the target attributes each kernel function is compiled with
// (the rest of the build stays baseline x86-64; qkernels.cc checks the CPU before handing any of
// them out) and small portable helpers they inline.
#pragma once

#include <cstdint>
#include <cstring>

#include "llm/qkernels.h"

#define INFERGATE_AVX2 __attribute__((target("avx2,fma,f16c")))
#define INFERGATE_AVX512 \
  __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

namespace infergate::llm::simd {

// Four activation bytes as one int32, to broadcast to every lane.
inline int32_t Load32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// A Q8KBlock's sums per 32 values (S_j = sums[2j] + sums[2j + 1], j < 8) as four int32 of two
// int16 each, (S_2p, S_2p+1): what madd and vpdpwssd multiply the packed Q4_K minimum pairs by.
inline void SumPairs(const Q8KBlock& a, int32_t pairs[4]) {
  for (int p = 0; p < 4; ++p) {
    const auto lo = static_cast<uint16_t>(a.sums[4 * p] + a.sums[4 * p + 1]);
    const auto hi = static_cast<uint16_t>(a.sums[4 * p + 2] + a.sums[4 * p + 3]);
    pairs[p] = static_cast<int32_t>(lo | (static_cast<uint32_t>(hi) << 16));
  }
}

}  // namespace infergate::llm::simd
