// The AVX2 quantized-activation kernels. Each function is compiled for AVX2+FMA+F16C with a
// target attribute (the rest of the build stays baseline x86-64), and qkernels.cc calls them
// only after checking the CPU has those features.
#include <cstdint>

#include "gguf/blocks.h"
#include "llm/qkernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define INFERGATE_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace infergate::llm {
namespace {

INFERGATE_AVX2 inline float Half(const uint8_t* p) {
  return _cvtsh_ss(static_cast<unsigned short>(p[0] | (p[1] << 8)));
}

INFERGATE_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Eight int32 lanes summing to sum(u[i] * s[i]) for 32 unsigned bytes u (< 128 here) and 32
// signed bytes s. maddubs pairs stay within int16 since u * s <= 128 * 127.
INFERGATE_AVX2 inline __m256i DotU8S8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

INFERGATE_AVX2 void QuantizeAvx2(const float* x, int n, Q8Block* out) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int b = 0; b < n / 32; ++b, x += 32) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const __m256 mul = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) {
      q[k] = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(v[k], mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    const __m256i sum32 =
        _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum32), _mm256_extracti128_si256(sum32, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    // Pack 32 int32 to 32 int8; the packs interleave 128-bit lanes, the permute restores order.
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    const __m256i ordered =
        _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].q), ordered);
    out[b].d = d;
    out[b].s = d * static_cast<float>(_mm_cvtsi128_si32(s));
  }
}

INFERGATE_AVX2 float DotQ8_0Avx2(const uint8_t* row, const Q8Block* x, int n_blocks) {
  __m256 acc = _mm256_setzero_ps();
  for (int b = 0; b < n_blocks; ++b, row += gguf::blocks::kQ8_0Bytes) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2));
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].q));
    // maddubs wants one unsigned operand: |w| times a with w's sign.
    const __m256i p = DotU8S8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(Half(row) * x[b].d), _mm256_cvtepi32_ps(p), acc);
  }
  return HorizontalSum(acc);
}

INFERGATE_AVX2 float DotQ4_KAvx2(const uint8_t* row, const Q8Block* x, int n_super) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256 acc = _mm256_setzero_ps();
  float mins_total = 0;
  for (int i = 0; i < n_super; ++i, row += gguf::blocks::kQ4_KBytes, x += 8) {
    const float d = Half(row);
    const float dmin = Half(row + 2);
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; ++j) gguf::blocks::Q4KScaleMin(row + 4, j, &sc[j], &m[j]);
    const uint8_t* qs = row + 16;
    float mins = 0;
    for (int c = 0; c < 4; ++c, qs += 32) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
      const __m256i lo = _mm256_and_si256(q, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      const Q8Block& xa = x[2 * c];
      const Q8Block& xb = x[2 * c + 1];
      const __m256i pa = DotU8S8(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xa.q)));
      const __m256i pb = DotU8S8(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.q)));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(d * static_cast<float>(sc[2 * c]) * xa.d),
                            _mm256_cvtepi32_ps(pa), acc);
      acc = _mm256_fmadd_ps(_mm256_set1_ps(d * static_cast<float>(sc[2 * c + 1]) * xb.d),
                            _mm256_cvtepi32_ps(pb), acc);
      mins += static_cast<float>(m[2 * c]) * xa.s + static_cast<float>(m[2 * c + 1]) * xb.s;
    }
    mins_total += dmin * mins;
  }
  return HorizontalSum(acc) - mins_total;
}

}  // namespace

const QKernels* Avx2KernelsIfBuilt() {
  static const QKernels k{"avx2", QuantizeAvx2, DotQ8_0Avx2, DotQ4_KAvx2};
  return &k;
}

}  // namespace infergate::llm

#else

namespace infergate::llm {
const QKernels* Avx2KernelsIfBuilt() { return nullptr; }
}  // namespace infergate::llm

#endif
