// The AVX2 matmul kernels over packed weights (layouts in packed.h), for CPUs without AVX-512:
// each group of 16 rows is taken as two halves of 8, each 32-bit lane of a 32-byte register one
// row. Without VNNI a byte product is maddubs then madd (two instructions per 32 products where
// vpdpbusd needs half of one), but as in the AVX-512 kernels there is no horizontal sum and no
// per-row scale work: the K-quant sub-block scales ride in madd's second operand.
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

constexpr int kVectors = 4;

INFERGATE_AVX2 inline __m256i Load256(const uint8_t* p) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
}

// The packed Q8_0 activation layout (qkernels.h), its corrections left zero: this path needs none.
INFERGATE_AVX2 void QuantizePackedQ8Avx2(const float* x, int n, uint8_t* out) {
  const int n_blocks = n / 32;
  auto* d_out = reinterpret_cast<float*>(out + n);
  auto* corr_out = reinterpret_cast<int32_t*>(out + n + 4 * static_cast<size_t>(n_blocks));
  for (int b = 0; b < n_blocks; ++b, x += 32) {
    auto* q = reinterpret_cast<int8_t*>(out + 32 * b);
    const float d = simd::Quantize32Avx2(x, q);
    const int32_t corr = 0;  // the sign trick below needs no correction
    std::memcpy(d_out + b, &d, sizeof d);
    std::memcpy(corr_out + b, &corr, sizeof corr);
  }
}

// Signed weights (the stored bytes minus 128) against signed activations: maddubs wants one
// operand unsigned, so |w| and the activations with w's sign.
template <int N>
INFERGATE_AVX2 void PackedQ8_0N(const uint8_t* group, const uint8_t* x, size_t x_stride,
                                int n_blocks, float* y, size_t y_stride) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i ones = _mm256_set1_epi16(1);
  const size_t n = 32 * static_cast<size_t>(n_blocks);
  for (int h = 0; h < 2; ++h) {
    __m256 acc[N];
    for (int v = 0; v < N; ++v) acc[v] = _mm256_setzero_ps();
    const uint8_t* blk = group;
    for (int b = 0; b < n_blocks; ++b, blk += kPackedQ8_0Block) {
      __m256i isum[N];
      for (int v = 0; v < N; ++v) isum[v] = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        const __m256i w = _mm256_xor_si256(Load256(blk + 64 + 64 * g + 32 * h), flip);
        const __m256i abs_w = _mm256_sign_epi8(w, w);
        for (int v = 0; v < N; ++v) {
          const auto* q = reinterpret_cast<const int8_t*>(x + v * x_stride) + 32 * b + 4 * g;
          const __m256i a = _mm256_sign_epi8(_mm256_set1_epi32(Load32(q)), w);
          isum[v] =
              _mm256_add_epi32(isum[v], _mm256_madd_epi16(_mm256_maddubs_epi16(abs_w, a), ones));
        }
      }
      const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(blk) + 8 * h);
      for (int v = 0; v < N; ++v) {
        float da;
        std::memcpy(&da, x + v * x_stride + n + 4 * static_cast<size_t>(b), sizeof da);
        acc[v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[v]), _mm256_mul_ps(dw, _mm256_set1_ps(da)),
                                 acc[v]);
      }
    }
    for (int v = 0; v < N; ++v) _mm256_storeu_ps(y + v * y_stride + 8 * h, acc[v]);
  }
}

template <int N>
INFERGATE_AVX2 void PackedQ4_KN(const uint8_t* group, const Q8KBlock* x, size_t x_stride,
                                int n_super, float* y, size_t y_stride) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int h = 0; h < 2; ++h) {
    __m256 acc[N];
    for (int v = 0; v < N; ++v) acc[v] = _mm256_setzero_ps();
    const uint8_t* blk = group;
    for (int s = 0; s < n_super; ++s, blk += kPackedQ4_KBlock) {
      __m256i isum[N];
      for (int v = 0; v < N; ++v) isum[v] = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        // Sub-block j's scale of each row, in both int16 halves of the row's lane.
        const __m256i sc32 = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 128 + 16 * j + 8 * h)));
        const __m256i sc = _mm256_or_si256(sc32, _mm256_slli_epi32(sc32, 16));
        for (int o = 4 * j; o < 4 * j + 4; ++o) {
          const __m256i w = Load256(blk + 384 + 64 * o + 32 * h);
          const __m256i lo = _mm256_and_si256(w, low4);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), low4);
          for (int v = 0; v < N; ++v) {
            const int8_t* q = x[v * x_stride + s].q + 8 * o;
            const __m256i p =
                _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_set1_epi32(Load32(q))),
                                 _mm256_maddubs_epi16(hi, _mm256_set1_epi32(Load32(q + 4))));
            isum[v] = _mm256_add_epi32(isum[v], _mm256_madd_epi16(p, sc));
          }
        }
      }
      __m256i mins[N];
      int32_t pairs[N][4];
      for (int v = 0; v < N; ++v) {
        simd::SumPairs(x[v * x_stride + s], pairs[v]);
        mins[v] = _mm256_setzero_si256();
      }
      for (int p = 0; p < 4; ++p) {
        const __m256i m = _mm256_cvtepu8_epi16(
            _mm_load_si128(reinterpret_cast<const __m128i*>(blk + 256 + 32 * p + 16 * h)));
        for (int v = 0; v < N; ++v) {
          mins[v] = _mm256_add_epi32(mins[v], _mm256_madd_epi16(m, _mm256_set1_epi32(pairs[v][p])));
        }
      }
      const auto* f32 = reinterpret_cast<const float*>(blk);
      const __m256 d = _mm256_load_ps(f32 + 8 * h), dmin = _mm256_load_ps(f32 + 16 + 8 * h);
      for (int v = 0; v < N; ++v) {
        const __m256 f = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(mins[v]),
                                          _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum[v])));
        acc[v] = _mm256_fmadd_ps(f, _mm256_set1_ps(x[v * x_stride + s].d), acc[v]);
      }
    }
    for (int v = 0; v < N; ++v) _mm256_storeu_ps(y + v * y_stride + 8 * h, acc[v]);
  }
}

INFERGATE_AVX2 void PackedQ8_0Avx2(const uint8_t* group, const uint8_t* x, size_t x_stride,
                                   int n_vec, int n_blocks, float* y, size_t y_stride) {
  using Fn = void (*)(const uint8_t*, const uint8_t*, size_t, int, float*, size_t);
  static constexpr Fn kByCount[kVectors] = {PackedQ8_0N<1>, PackedQ8_0N<2>, PackedQ8_0N<3>,
                                            PackedQ8_0N<4>};
  kByCount[n_vec - 1](group, x, x_stride, n_blocks, y, y_stride);
}

INFERGATE_AVX2 void PackedQ4_KAvx2(const uint8_t* group, const Q8KBlock* x, size_t x_stride,
                                   int n_vec, int n_super, float* y, size_t y_stride) {
  using Fn = void (*)(const uint8_t*, const Q8KBlock*, size_t, int, float*, size_t);
  static constexpr Fn kByCount[kVectors] = {PackedQ4_KN<1>, PackedQ4_KN<2>, PackedQ4_KN<3>,
                                            PackedQ4_KN<4>};
  kByCount[n_vec - 1](group, x, x_stride, n_super, y, y_stride);
}

}  // namespace

PackedKernels PackedAvx2KernelsIfBuilt() {
  return {QuantizePackedQ8Avx2, PackedQ8_0Avx2, PackedQ4_KAvx2, nullptr};  // Q6_K: rows
}

}  // namespace infergate::llm

#else

namespace infergate::llm {
PackedKernels PackedAvx2KernelsIfBuilt() { return {}; }
}  // namespace infergate::llm

#endif
