// What the SIMD kernel files share: the target attributes each kernel function is compiled with
// (the rest of the build stays baseline x86-64; qkernels.cc checks the CPU before handing any of
// them out) and small portable helpers they inline.
#pragma once

#include <cstdint>
#include <cstring>

#include "llm/qkernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

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

#if defined(__x86_64__) && defined(__GNUC__)
// Quantizing activations to 8 bits, shared by the row and the packed kernels: scale amax / 127,
// values rounded half to even (the scalar definition in qkernels.cc).

INFERGATE_AVX2 inline float MaxAbsAvx2(const float* x, int n) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  __m256 amax = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) {
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, _mm256_loadu_ps(x + i)));
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Rounds 32 values times `id` to bytes at q.
INFERGATE_AVX2 inline void Round32Avx2(const float* x, float id, int8_t* q) {
  const __m256 mul = _mm256_set1_ps(id);
  __m256i r[4];
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), mul),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  // Pack 32 int32 to 32 int8; the packs interleave 128-bit lanes, the permute restores order.
  const __m256i p8 =
      _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q),
                      _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// One block of 32 into q; returns its scale.
INFERGATE_AVX2 inline float Quantize32Avx2(const float* x, int8_t* q) {
  const float d = MaxAbsAvx2(x, 32) / 127.0f;
  Round32Avx2(x, d != 0 ? 1.0f / d : 0.0f, q);
  return d;
}

// One block of 32 into q; returns its scale, and the bytes' sum in *sum when given.
INFERGATE_AVX512 inline float Quantize32Avx512(const float* x, int8_t* q, int32_t* sum) {
  const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
  const float d =
      _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1))) / 127.0f;
  const __m512 id = _mm512_set1_ps(d != 0 ? 1.0f / d : 0.0f);
  const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, id));  // half to even (MXCSR)
  const __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, id));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(i0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(i1));
  if (sum != nullptr) *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
  return d;
}
#endif

}  // namespace infergate::llm::simd
