// The AVX-512 VNNI matmul kernels over packed weights (layouts in packed.h): one call computes
// sixteen output rows (a group) for up to eight activation vectors, each accumulator lane one
// row, and stores the sixteen results of each vector with one instruction. Compiled per function
// with target attributes; qkernels.cc hands them out only with the AVX-512 set.
#include <cstdint>
#include <cstring>

#include "llm/packed.h"
#include "llm/qkernels.h"
#include "llm/simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

namespace infergate::llm {
namespace {

using simd::Load32;

constexpr int kVectors = 8;

// One vector in the packed Q8_0 activation layout (qkernels.h): n bytes, then n / 32 scales,
// then n / 32 corrections.
struct PackedQ8 {
  const int8_t* q;
  const float* d;
  const int32_t* corr;
};

INFERGATE_AVX512 inline PackedQ8 PackedQ8At(const uint8_t* x, int n_blocks) {
  const size_t n = 32 * static_cast<size_t>(n_blocks);
  return {reinterpret_cast<const int8_t*>(x), reinterpret_cast<const float*>(x + n),
          reinterpret_cast<const int32_t*>(x + n + 4 * static_cast<size_t>(n_blocks))};
}

// The values are the other quantizers' (round half to even); the correction is -128 times the
// block's sum, what the weights' +128 adds to each block's vpdpbusd sums.
INFERGATE_AVX512 void QuantizePackedQ8(const float* x, int n, uint8_t* out) {
  const int n_blocks = n / 32;
  auto* d_out = reinterpret_cast<float*>(out + n);
  auto* corr_out = reinterpret_cast<int32_t*>(out + n + 4 * static_cast<size_t>(n_blocks));
  for (int b = 0; b < n_blocks; ++b, x += 32) {
    int32_t sum = 0;
    const float d = simd::Quantize32Avx512(x, reinterpret_cast<int8_t*>(out + 32 * b), &sum);
    const int32_t corr = -128 * sum;
    std::memcpy(d_out + b, &d, sizeof d);
    std::memcpy(corr_out + b, &corr, sizeof corr);
  }
}

template <int N>
INFERGATE_AVX512 void PackedQ8_0N(const uint8_t* group, const uint8_t* x, size_t x_stride,
                                  int n_blocks, float* y, size_t y_stride) {
  PackedQ8 a[N];
  __m512 acc[N];
  for (int v = 0; v < N; ++v) {
    a[v] = PackedQ8At(x + v * x_stride, n_blocks);
    acc[v] = _mm512_setzero_ps();
  }
  for (int b = 0; b < n_blocks; ++b, group += kPackedQ8_0Block) {
    __m512i isum[N];
    for (int v = 0; v < N; ++v) isum[v] = _mm512_set1_epi32(a[v].corr[b]);
    for (int g = 0; g < 8; ++g) {
      const __m512i w = _mm512_load_si512(group + 64 + 64 * g);
      for (int v = 0; v < N; ++v) {
        isum[v] =
            _mm512_dpbusd_epi32(isum[v], w, _mm512_set1_epi32(Load32(a[v].q + 32 * b + 4 * g)));
      }
    }
    const __m512 dw = _mm512_load_ps(group);
    for (int v = 0; v < N; ++v) {
      acc[v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[v]),
                               _mm512_mul_ps(dw, _mm512_set1_ps(a[v].d[b])), acc[v]);
    }
  }
  for (int v = 0; v < N; ++v) _mm512_storeu_ps(y + v * y_stride, acc[v]);
}

template <int N>
INFERGATE_AVX512 void PackedQ4_KN(const uint8_t* group, const Q8KBlock* x, size_t x_stride,
                                  int n_super, float* y, size_t y_stride) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  __m512 acc[N];
  for (int v = 0; v < N; ++v) acc[v] = _mm512_setzero_ps();
  for (int s = 0; s < n_super; ++s, group += kPackedQ4_KBlock) {
    __m512i isum[N];
    for (int v = 0; v < N; ++v) isum[v] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      __m512i dot[N];
      for (int v = 0; v < N; ++v) dot[v] = _mm512_setzero_si512();
      for (int o = 4 * j; o < 4 * j + 4; ++o) {
        const __m512i w = _mm512_load_si512(group + 384 + 64 * o);
        const __m512i lo = _mm512_and_si512(w, low4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), low4);
        for (int v = 0; v < N; ++v) {
          const int8_t* q = x[v * x_stride + s].q + 8 * o;
          dot[v] = _mm512_dpbusd_epi32(dot[v], lo, _mm512_set1_epi32(Load32(q)));
          dot[v] = _mm512_dpbusd_epi32(dot[v], hi, _mm512_set1_epi32(Load32(q + 4)));
        }
      }
      const __m512i sc = _mm512_cvtepu8_epi32(
          _mm_load_si128(reinterpret_cast<const __m128i*>(group + 128 + 16 * j)));
      for (int v = 0; v < N; ++v)
        isum[v] = _mm512_add_epi32(isum[v], _mm512_mullo_epi32(dot[v], sc));
    }
    // The minimums' term: minimum pairs against the activations' sums per 32 in pairs.
    __m512i mins[N];
    int32_t pairs[N][4];
    for (int v = 0; v < N; ++v) {
      simd::SumPairs(x[v * x_stride + s], pairs[v]);
      mins[v] = _mm512_setzero_si512();
    }
    for (int p = 0; p < 4; ++p) {
      const __m512i m = _mm512_cvtepu8_epi16(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(group + 256 + 32 * p)));
      for (int v = 0; v < N; ++v) {
        mins[v] = _mm512_dpwssd_epi32(mins[v], m, _mm512_set1_epi32(pairs[v][p]));
      }
    }
    const __m512 d = _mm512_load_ps(group), dmin = _mm512_load_ps(group + 64);
    for (int v = 0; v < N; ++v) {
      const __m512 f = _mm512_fnmadd_ps(dmin, _mm512_cvtepi32_ps(mins[v]),
                                        _mm512_mul_ps(d, _mm512_cvtepi32_ps(isum[v])));
      acc[v] = _mm512_fmadd_ps(f, _mm512_set1_ps(x[v * x_stride + s].d), acc[v]);
    }
  }
  for (int v = 0; v < N; ++v) _mm512_storeu_ps(y + v * y_stride, acc[v]);
}

// Q6_K: the six-bit values u = q + 32 against the activations, each sub-block of 16 times its
// scale; then 32 * sum(scale * sums16) taken off, as the row kernels do.
template <int N>
INFERGATE_AVX512 void PackedQ6_KN(const uint8_t* group, const Q8KBlock* x, size_t x_stride,
                                  int n_super, float* y, size_t y_stride) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bits45 = _mm512_set1_epi8(0x30);
  __m512 acc[N];
  for (int v = 0; v < N; ++v) acc[v] = _mm512_setzero_ps();
  for (int s = 0; s < n_super; ++s, group += kPackedQ6_KBlock) {
    __m512i isum[N];
    for (int v = 0; v < N; ++v) isum[v] = _mm512_setzero_si512();
    for (int j = 0; j < 16; ++j) {  // sub-blocks of 16: octets 2j and 2j + 1
      __m512i dot[N];
      for (int v = 0; v < N; ++v) dot[v] = _mm512_setzero_si512();
      const __m512i top = _mm512_load_si512(group + 576 + 32 * 64 + 64 * j);
      for (int half = 0; half < 2; ++half) {
        const int o = 2 * j + half;
        const __m512i w = _mm512_load_si512(group + 576 + 64 * o);
        const __m512i hb = half ? _mm512_srli_epi16(top, 4) : top;
        const __m512i lo = _mm512_or_si512(_mm512_and_si512(w, low4),
                                           _mm512_and_si512(_mm512_slli_epi16(hb, 4), bits45));
        const __m512i hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(w, 4), low4),
                                           _mm512_and_si512(_mm512_slli_epi16(hb, 2), bits45));
        for (int v = 0; v < N; ++v) {
          const int8_t* q = x[v * x_stride + s].q + 8 * o;
          dot[v] = _mm512_dpbusd_epi32(dot[v], lo, _mm512_set1_epi32(Load32(q)));
          dot[v] = _mm512_dpbusd_epi32(dot[v], hi, _mm512_set1_epi32(Load32(q + 4)));
        }
      }
      const __m512i sc = _mm512_cvtepi8_epi32(
          _mm_load_si128(reinterpret_cast<const __m128i*>(group + 64 + 16 * j)));
      for (int v = 0; v < N; ++v)
        isum[v] = _mm512_add_epi32(isum[v], _mm512_mullo_epi32(dot[v], sc));
    }
    __m512i off[N];
    for (int v = 0; v < N; ++v) off[v] = _mm512_setzero_si512();
    for (int p = 0; p < 8; ++p) {
      const __m512i pair = _mm512_cvtepi8_epi16(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(group + 320 + 32 * p)));
      for (int v = 0; v < N; ++v) {
        int32_t sums;
        std::memcpy(&sums, x[v * x_stride + s].sums + 2 * p, sizeof sums);
        off[v] = _mm512_dpwssd_epi32(off[v], pair, _mm512_set1_epi32(sums));
      }
    }
    const __m512 d = _mm512_load_ps(group);
    for (int v = 0; v < N; ++v) {
      const __m512 f = _mm512_fnmadd_ps(_mm512_set1_ps(32.0f), _mm512_cvtepi32_ps(off[v]),
                                        _mm512_cvtepi32_ps(isum[v]));
      acc[v] = _mm512_fmadd_ps(f, _mm512_mul_ps(d, _mm512_set1_ps(x[v * x_stride + s].d)), acc[v]);
    }
  }
  for (int v = 0; v < N; ++v) _mm512_storeu_ps(y + v * y_stride, acc[v]);
}

INFERGATE_AVX512 void PackedQ8_0(const uint8_t* group, const uint8_t* x, size_t x_stride, int n_vec,
                                 int n_blocks, float* y, size_t y_stride) {
  using Fn = void (*)(const uint8_t*, const uint8_t*, size_t, int, float*, size_t);
  static constexpr Fn kByCount[kVectors] = {PackedQ8_0N<1>, PackedQ8_0N<2>, PackedQ8_0N<3>,
                                            PackedQ8_0N<4>, PackedQ8_0N<5>, PackedQ8_0N<6>,
                                            PackedQ8_0N<7>, PackedQ8_0N<8>};
  kByCount[n_vec - 1](group, x, x_stride, n_blocks, y, y_stride);
}

INFERGATE_AVX512 void PackedQ4_K(const uint8_t* group, const Q8KBlock* x, size_t x_stride,
                                 int n_vec, int n_super, float* y, size_t y_stride) {
  using Fn = void (*)(const uint8_t*, const Q8KBlock*, size_t, int, float*, size_t);
  static constexpr Fn kByCount[kVectors] = {PackedQ4_KN<1>, PackedQ4_KN<2>, PackedQ4_KN<3>,
                                            PackedQ4_KN<4>, PackedQ4_KN<5>, PackedQ4_KN<6>,
                                            PackedQ4_KN<7>, PackedQ4_KN<8>};
  kByCount[n_vec - 1](group, x, x_stride, n_super, y, y_stride);
}

INFERGATE_AVX512 void PackedQ6_K(const uint8_t* group, const Q8KBlock* x, size_t x_stride,
                                 int n_vec, int n_super, float* y, size_t y_stride) {
  using Fn = void (*)(const uint8_t*, const Q8KBlock*, size_t, int, float*, size_t);
  static constexpr Fn kByCount[kVectors] = {PackedQ6_KN<1>, PackedQ6_KN<2>, PackedQ6_KN<3>,
                                            PackedQ6_KN<4>, PackedQ6_KN<5>, PackedQ6_KN<6>,
                                            PackedQ6_KN<7>, PackedQ6_KN<8>};
  kByCount[n_vec - 1](group, x, x_stride, n_super, y, y_stride);
}

}  // namespace

PackedKernels PackedKernelsIfBuilt() {
  return {QuantizePackedQ8, PackedQ8_0, PackedQ4_K, PackedQ6_K};
}

}  // namespace infergate::llm

#else

namespace infergate::llm {
PackedKernels PackedKernelsIfBuilt() { return {}; }
}  // namespace infergate::llm

#endif
