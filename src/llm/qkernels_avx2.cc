// The AVX2 quantized-activation kernels. Each function is compiled for AVX2+FMA+F16C with a
// target attribute (the rest of the build stays baseline x86-64), and qkernels.cc calls them
// only after checking the CPU has those features. The dots are templates on the number of
// activation vectors so the per-vector accumulators stay in registers.
#include <cstdint>
#include <cstring>

#include "gguf/blocks.h"
#include "llm/qkernels.h"
#include "llm/simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

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

INFERGATE_AVX2 inline int HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

INFERGATE_AVX2 inline __m256i Load(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// Eight int32 lanes summing to sum(u[i] * s[i]) for 32 unsigned bytes u and 32 signed bytes s.
// maddubs pairs stay within int16 since u * s <= 128 * 127.
INFERGATE_AVX2 inline __m256i DotU8S8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

INFERGATE_AVX2 void QuantizeAvx2(const float* x, int n, Q8Block* out) {
  for (int b = 0; b < n / 32; ++b, x += 32) out[b].d = simd::Quantize32Avx2(x, out[b].q);
}

INFERGATE_AVX2 void QuantizeKAvx2(const float* x, int n, Q8KBlock* out) {
  for (int b = 0; b < n / 256; ++b, x += 256) {
    const float d = simd::MaxAbsAvx2(x, 256) / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[b].d = d;
    for (int j = 0; j < 8; ++j) simd::Round32Avx2(x + 32 * j, id, out[b].q + 32 * j);
    // Sums per 16: widen each 16 bytes to int16 and add horizontally.
    for (int j = 0; j < 16; j += 2) {
      const __m256i w = _mm256_cvtepi8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(out[b].q + 16 * j)));
      const __m256i w2 = _mm256_cvtepi8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(out[b].q + 16 * j + 16)));
      const __m256i s32a = _mm256_madd_epi16(w, _mm256_set1_epi16(1));
      const __m256i s32b = _mm256_madd_epi16(w2, _mm256_set1_epi16(1));
      out[b].sums[j] = static_cast<int16_t>(HorizontalSum(s32a));
      out[b].sums[j + 1] = static_cast<int16_t>(HorizontalSum(s32b));
    }
  }
}

template <int N>
INFERGATE_AVX2 void DotQ8_0N(const uint8_t* row, const Q8Block* x, size_t stride, int n_blocks,
                             float* out) {
  __m256 acc[N];
  for (int v = 0; v < N; ++v) acc[v] = _mm256_setzero_ps();
  for (int b = 0; b < n_blocks; ++b, row += gguf::blocks::kQ8_0Bytes) {
    const __m256i w = Load(row + 2);
    const __m256i abs_w = _mm256_sign_epi8(w, w);  // maddubs wants one unsigned operand
    const float dw = Half(row);
    for (int v = 0; v < N; ++v) {
      const Q8Block& a = x[v * stride + b];
      const __m256i p = DotU8S8(abs_w, _mm256_sign_epi8(Load(a.q), w));
      acc[v] = _mm256_fmadd_ps(_mm256_set1_ps(dw * a.d), _mm256_cvtepi32_ps(p), acc[v]);
    }
  }
  for (int v = 0; v < N; ++v) out[v] = HorizontalSum(acc[v]);
}

INFERGATE_AVX2 void DotQ8_0Avx2(const uint8_t* row, const Q8Block* x, size_t stride, int n_vec,
                                int n_blocks, float* out) {
  using Fn = void (*)(const uint8_t*, const Q8Block*, size_t, int, float*);
  static constexpr Fn kByCount[4] = {DotQ8_0N<1>, DotQ8_0N<2>, DotQ8_0N<3>, DotQ8_0N<4>};
  kByCount[n_vec - 1](row, x, stride, n_blocks, out);
}

template <int N>
INFERGATE_AVX2 void DotQ4_KN(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_super,
                             float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256 acc[N];
  for (int v = 0; v < N; ++v) acc[v] = _mm256_setzero_ps();
  for (int i = 0; i < n_super; ++i, row += gguf::blocks::kQ4_KBytes) {
    uint8_t sc[8], m[8];
    gguf::blocks::Q4KScalesMins(row + 4, sc, m);
    // The minimums as int16 lanes, for madd with the activations' sums per 32.
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m)));
    __m256i isum[N];
    for (int v = 0; v < N; ++v) isum[v] = _mm256_setzero_si256();
    const uint8_t* qs = row + 16;
    for (int c = 0; c < 4; ++c, qs += 32) {
      const __m256i q = Load(qs);
      const __m256i lo = _mm256_and_si256(q, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      // The sub-block scales multiply the int16 pair sums inside madd: no float per sub-block.
      const __m256i s_lo = _mm256_set1_epi16(sc[2 * c]);
      const __m256i s_hi = _mm256_set1_epi16(sc[2 * c + 1]);
      for (int v = 0; v < N; ++v) {
        const int8_t* a = x[v * stride + i].q + 64 * c;
        const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, Load(a)), s_lo);
        const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, Load(a + 32)), s_hi);
        isum[v] = _mm256_add_epi32(isum[v], _mm256_add_epi32(p_lo, p_hi));
      }
    }
    // d * sum(scale * dot) - dmin * sum(min * sums) lane-wise (the minimums in lanes 0-3), times
    // the activations' scale: one reduction per vector at the end, none per super-block.
    const __m256 d = _mm256_set1_ps(Half(row)), dmin = _mm256_set1_ps(Half(row + 2));
    for (int v = 0; v < N; ++v) {
      const Q8KBlock& a = x[v * stride + i];
      const __m128i sums32 =
          _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.sums)),
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.sums + 8)));
      const __m256 mins = _mm256_zextps128_ps256(_mm_cvtepi32_ps(_mm_madd_epi16(m16, sums32)));
      const __m256 f = _mm256_fnmadd_ps(dmin, mins, _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum[v])));
      acc[v] = _mm256_fmadd_ps(f, _mm256_set1_ps(a.d), acc[v]);
    }
  }
  for (int v = 0; v < N; ++v) out[v] = HorizontalSum(acc[v]);
}

INFERGATE_AVX2 void DotQ4_KAvx2(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_vec,
                                int n_super, float* out) {
  using Fn = void (*)(const uint8_t*, const Q8KBlock*, size_t, int, float*);
  static constexpr Fn kByCount[4] = {DotQ4_KN<1>, DotQ4_KN<2>, DotQ4_KN<3>, DotQ4_KN<4>};
  kByCount[n_vec - 1](row, x, stride, n_super, out);
}

// Two sub-blocks' int8 scales as int16 lanes for madd: a for the low 16 bytes, b for the high.
INFERGATE_AVX2 inline __m256i Scales16(int8_t a, int8_t b) {
  return _mm256_set_m128i(_mm_set1_epi16(b), _mm_set1_epi16(a));
}

template <int N>
INFERGATE_AVX2 void DotQ6_KN(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_super,
                             float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  __m256 acc[N];
  for (int v = 0; v < N; ++v) acc[v] = _mm256_setzero_ps();
  for (int i = 0; i < n_super; ++i, row += gguf::blocks::kQ6_KBytes) {
    const auto* sc = reinterpret_cast<const int8_t*>(row + 192);
    __m256i isum[N];
    for (int v = 0; v < N; ++v) isum[v] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      // The half's 128 six-bit values u = q + 32 (0..63, so maddubs can take them unsigned),
      // in four runs of 32 (layout in gguf/blocks.h).
      const __m256i ql0 = Load(row + 64 * h);
      const __m256i ql1 = Load(row + 64 * h + 32);
      const __m256i qh = Load(row + 128 + 32 * h);
      __m256i u[4];
      u[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
      u[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
      u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                             _mm256_and_si256(qh, bits45));
      u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
      for (int q = 0; q < 4; ++q) {
        const __m256i s = Scales16(sc[8 * h + 2 * q], sc[8 * h + 2 * q + 1]);
        for (int v = 0; v < N; ++v) {
          const int8_t* a = x[v * stride + i].q + 128 * h + 32 * q;
          const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u[q], Load(a)), s);
          isum[v] = _mm256_add_epi32(isum[v], p);
        }
      }
    }
    // sum(sc * u * a) - 32 * sum(sc * sums16) lane-wise (the offsets' eight partial sums).
    const __m256i sc16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    const float d = Half(row + 208);
    for (int v = 0; v < N; ++v) {
      const Q8KBlock& a = x[v * stride + i];
      const __m256 off = _mm256_cvtepi32_ps(_mm256_madd_epi16(sc16, Load(a.sums)));
      const __m256 f = _mm256_fnmadd_ps(_mm256_set1_ps(32.0f), off, _mm256_cvtepi32_ps(isum[v]));
      acc[v] = _mm256_fmadd_ps(f, _mm256_set1_ps(d * a.d), acc[v]);
    }
  }
  for (int v = 0; v < N; ++v) out[v] = HorizontalSum(acc[v]);
}

INFERGATE_AVX2 void DotQ6_KAvx2(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_vec,
                                int n_super, float* out) {
  using Fn = void (*)(const uint8_t*, const Q8KBlock*, size_t, int, float*);
  static constexpr Fn kByCount[4] = {DotQ6_KN<1>, DotQ6_KN<2>, DotQ6_KN<3>, DotQ6_KN<4>};
  kByCount[n_vec - 1](row, x, stride, n_super, out);
}

}  // namespace

PackedKernels PackedAvx2KernelsIfBuilt();  // packed_avx2.cc

const QKernels* Avx2KernelsIfBuilt() {
  static const QKernels k{"avx2",      4,           QuantizeAvx2, QuantizeKAvx2,
                          DotQ8_0Avx2, DotQ4_KAvx2, DotQ6_KAvx2,  PackedAvx2KernelsIfBuilt()};
  return &k;
}

}  // namespace infergate::llm

#else

namespace infergate::llm {
const QKernels* Avx2KernelsIfBuilt() { return nullptr; }
}  // namespace infergate::llm

#endif
