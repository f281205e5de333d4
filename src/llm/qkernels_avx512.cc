// The AVX-512 VNNI quantized-activation kernels: the AVX2 set's arithmetic (qkernels_avx2.cc) on
// 64-byte registers, with VNNI's fused multiply-adds. vpdpbusd sums 64 unsigned-by-signed byte
// products into sixteen int32 lanes in one instruction (AVX2 needs maddubs then madd for 32), and
// vpdpwssd adds the K-quants' int16 pair sums times their sub-block scales (madd then add
// before). Compiled per function with target attributes; qkernels.cc calls them only after
// checking the CPU has every feature named below.
//
// Each dot takes up to eight vectors (32 vector registers hold eight accumulators of each kind
// with room to spare). Q8_0 activations use this set's own layout of the Q8Block memory (all of
// a vector's bytes, then its scales: qkernels.h) so that two blocks load as one register; the
// K-quant activations are the common Q8KBlock, whose 256 bytes are contiguous already.
#include <cstdint>
#include <cstring>

#include "gguf/blocks.h"
#include "llm/qkernels.h"
#include "llm/simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

namespace infergate::llm {
namespace {

constexpr int kVectors = 8;

INFERGATE_AVX512 inline float Half(const uint8_t* p) {
  return _cvtsh_ss(static_cast<unsigned short>(p[0] | (p[1] << 8)));
}

INFERGATE_AVX512 inline __m256i Load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// A register holding `lo` in its low 32 bytes and `hi` in its high 32.
INFERGATE_AVX512 inline __m512i Join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// The Q8_0 layout of this set: vector bytes at the start of its blocks' memory, then the scales.
struct Q8Layout {
  const int8_t* q;
  const float* d;
};

INFERGATE_AVX512 inline Q8Layout Layout(const Q8Block* blocks, int n_blocks) {
  const auto* base = reinterpret_cast<const uint8_t*>(blocks);
  return {reinterpret_cast<const int8_t*>(base),
          reinterpret_cast<const float*>(base + 32 * static_cast<size_t>(n_blocks))};
}

// Same values as the scalar and AVX2 quantizers (round half to even under the default MXCSR
// rounding), stored in this set's layout.
INFERGATE_AVX512 void QuantizeAvx512(const float* x, int n, Q8Block* out) {
  const int n_blocks = n / 32;
  auto* base = reinterpret_cast<uint8_t*>(out);
  auto* d_out = reinterpret_cast<float*>(base + 32 * static_cast<size_t>(n_blocks));
  for (int b = 0; b < n_blocks; ++b, x += 32) {
    const float d = simd::Quantize32Avx512(x, reinterpret_cast<int8_t*>(base + 32 * b), nullptr);
    std::memcpy(d_out + b, &d, sizeof d);
  }
}

// vpdpbusd wants its first byte operand unsigned: the activations go in plus 128 (their top bit
// flipped) and the 128 * sum(w) that adds, per lane, is the accumulation's start value negated.
template <int N>
INFERGATE_AVX512 void DotQ8_0N(const uint8_t* row, const Q8Block* x, size_t stride, int n_blocks,
                               float* out) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  // Lanes 0-7 take the first of two scales, lanes 8-15 the second.
  const __m512i pair = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  Q8Layout a[N];
  __m512 acc[N];
  for (int v = 0; v < N; ++v) {
    a[v] = Layout(x + v * stride, n_blocks);
    acc[v] = _mm512_setzero_ps();
  }
  int b = 0;
  for (; b + 2 <= n_blocks; b += 2, row += 2 * gguf::blocks::kQ8_0Bytes) {
    const __m512i w = Join(Load256(row + 2), Load256(row + gguf::blocks::kQ8_0Bytes + 2));
    const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(),
                                           _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, w));
    const __m512 dw = _mm512_insertf32x8(_mm512_set1_ps(Half(row)),
                                         _mm256_set1_ps(Half(row + gguf::blocks::kQ8_0Bytes)), 1);
    for (int v = 0; v < N; ++v) {
      const __m512i u = _mm512_xor_si512(_mm512_loadu_si512(a[v].q + 32 * b), bias);
      const __m512i p = _mm512_dpbusd_epi32(start, u, w);
      const __m128i d2 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a[v].d + b));
      const __m512 da = _mm512_permutexvar_ps(pair, _mm512_castps128_ps512(_mm_castsi128_ps(d2)));
      acc[v] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(p), acc[v]);
    }
  }
  for (int v = 0; v < N; ++v) out[v] = _mm512_reduce_add_ps(acc[v]);
  if (b == n_blocks) return;
  // An odd last block, in the low halves.
  const __m256i bias256 = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i w = Load256(row + 2);
  const __m256i start = _mm256_sub_epi32(_mm256_setzero_si256(),
                                         _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias256, w));
  const float dw = Half(row);
  for (int v = 0; v < N; ++v) {
    const __m256i u = _mm256_xor_si256(Load256(a[v].q + 32 * b), bias256);
    const __m512i p = _mm512_castsi256_si512(_mm256_dpbusd_epi32(start, u, w));
    const int isum = _mm512_mask_reduce_add_epi32(0x00ff, p);
    out[v] += dw * a[v].d[b] * static_cast<float>(isum);
  }
}

// Which scale each int16 lane of a 64-byte register takes when its low 32 bytes belong to one
// sub-block and its high 32 to the next.
alignas(64) constexpr int16_t kHalves[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

// Q4_K: each 32 bytes of a super-block hold sub-block 2c in their low nibbles and 2c + 1 in their
// high ones, which meet activations 64c .. 64c + 63: the two nibble halves side by side are one
// register against 64 contiguous activation bytes. Per vector and super-block, the scaled sums
// and the minimums' term are combined lane-wise in floats (the minimums in lanes 0-3) and
// reduced once at the end, not per super-block.
template <int N>
INFERGATE_AVX512 void DotQ4_KN(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_super,
                               float* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i halves = _mm512_load_si512(kHalves);
  __m512 acc[N];
  for (int v = 0; v < N; ++v) acc[v] = _mm512_setzero_ps();
  for (int i = 0; i < n_super; ++i, row += gguf::blocks::kQ4_KBytes) {
    uint8_t sc[8], m[8];
    gguf::blocks::Q4KScalesMins(row + 4, sc, m);
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m)));
    const __m512i sc16 = _mm512_zextsi128_si512(
        _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc))));
    __m512i isum[N];
    for (int v = 0; v < N; ++v) isum[v] = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = Load256(row + 16 + 32 * c);
      const __m512i w = _mm512_and_si512(Join(q, _mm256_srli_epi16(q, 4)), low4);
      // Int16 scales: sub-block 2c's for lanes 0-15, 2c + 1's for 16-31.
      const __m512i s = _mm512_permutexvar_epi16(
          _mm512_add_epi16(halves, _mm512_set1_epi16(static_cast<short>(2 * c))), sc16);
      for (int v = 0; v < N; ++v) {
        const __m512i p = _mm512_maddubs_epi16(w, _mm512_loadu_si512(x[v * stride + i].q + 64 * c));
        isum[v] = _mm512_dpwssd_epi32(isum[v], p, s);
      }
    }
    const __m512 d = _mm512_set1_ps(Half(row)), dmin = _mm512_set1_ps(Half(row + 2));
    for (int v = 0; v < N; ++v) {
      const Q8KBlock& a = x[v * stride + i];
      const __m128i sums32 =
          _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.sums)),
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.sums + 8)));
      const __m512 mins = _mm512_zextps128_ps512(_mm_cvtepi32_ps(_mm_madd_epi16(m16, sums32)));
      const __m512 f = _mm512_fnmadd_ps(dmin, mins, _mm512_mul_ps(d, _mm512_cvtepi32_ps(isum[v])));
      acc[v] = _mm512_fmadd_ps(f, _mm512_set1_ps(a.d), acc[v]);
    }
  }
  for (int v = 0; v < N; ++v) out[v] = _mm512_reduce_add_ps(acc[v]);
}

// Which of a Q6_K half's eight scales each int16 lane of a 64-byte run takes: runs 2p and 2p + 1
// of the half (32 values each, two scales each) side by side, so lane j takes scale 4p + j / 8.
alignas(64) constexpr int16_t kQ6Lane[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                             2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};

template <int N>
INFERGATE_AVX512 void DotQ6_KN(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_super,
                               float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  const __m512i lane = _mm512_load_si512(kQ6Lane);
  __m512 acc[N];
  for (int v = 0; v < N; ++v) acc[v] = _mm512_setzero_ps();
  for (int i = 0; i < n_super; ++i, row += gguf::blocks::kQ6_KBytes) {
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 192));
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    const __m512i sc_wide = _mm512_castsi256_si512(sc16);
    __m512i isum[N];
    for (int v = 0; v < N; ++v) isum[v] = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      // The half's 128 six-bit values u = q + 32, in four runs of 32 (gguf/blocks.h).
      const __m256i ql0 = Load256(row + 64 * h);
      const __m256i ql1 = Load256(row + 64 * h + 32);
      const __m256i qh = Load256(row + 128 + 32 * h);
      const __m256i u0 = _mm256_or_si256(_mm256_and_si256(ql0, low4),
                                         _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
      const __m256i u1 = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                                         _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
      const __m256i u2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                         _mm256_and_si256(qh, bits45));
      const __m256i u3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                         _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
      const __m512i runs[2] = {Join(u0, u1), Join(u2, u3)};
      for (int p = 0; p < 2; ++p) {
        const __m512i index =
            _mm512_add_epi16(lane, _mm512_set1_epi16(static_cast<short>(8 * h + 4 * p)));
        const __m512i s = _mm512_permutexvar_epi16(index, sc_wide);
        for (int v = 0; v < N; ++v) {
          const int8_t* a = x[v * stride + i].q + 128 * h + 64 * p;
          const __m512i prod = _mm512_maddubs_epi16(runs[p], _mm512_loadu_si512(a));
          isum[v] = _mm512_dpwssd_epi32(isum[v], prod, s);
        }
      }
    }
    const float d = Half(row + 208);
    for (int v = 0; v < N; ++v) {
      const Q8KBlock& a = x[v * stride + i];
      // sum(sc * u * a) - 32 * sum(sc * sums16), lane-wise (the offsets in lanes 0-7).
      const __m256i off8 = _mm256_madd_epi16(sc16, Load256(a.sums));
      const __m512 off = _mm512_zextps256_ps512(_mm256_cvtepi32_ps(off8));
      const __m512 f = _mm512_fnmadd_ps(_mm512_set1_ps(32.0f), off, _mm512_cvtepi32_ps(isum[v]));
      acc[v] = _mm512_fmadd_ps(f, _mm512_set1_ps(d * a.d), acc[v]);
    }
  }
  for (int v = 0; v < N; ++v) out[v] = _mm512_reduce_add_ps(acc[v]);
}

// One entry per vector count, so each count's accumulators stay in registers.
static_assert(kVectors <= kMaxVectors);
#define INFERGATE_BY_COUNT(Name, Block)                                                            \
  INFERGATE_AVX512 void Name##Avx512(const uint8_t* row, const Block* x, size_t stride, int n_vec, \
                                     int n_blocks, float* out) {                                   \
    using Fn = void (*)(const uint8_t*, const Block*, size_t, int, float*);                        \
    static constexpr Fn kByCount[kVectors] = {Name##N<1>, Name##N<2>, Name##N<3>, Name##N<4>,      \
                                              Name##N<5>, Name##N<6>, Name##N<7>, Name##N<8>};     \
    kByCount[n_vec - 1](row, x, stride, n_blocks, out);                                            \
  }

INFERGATE_BY_COUNT(DotQ8_0, Q8Block)
INFERGATE_BY_COUNT(DotQ4_K, Q8KBlock)
INFERGATE_BY_COUNT(DotQ6_K, Q8KBlock)

#undef INFERGATE_BY_COUNT

}  // namespace

PackedKernels PackedKernelsIfBuilt();  // packed_avx512.cc

// The K-quant activations are quantized as the AVX2 set does (same bytes, same layout).
const QKernels* Avx512KernelsIfBuilt(const QKernels& avx2) {
  static const QKernels k{"avx512vnni",  kVectors,      QuantizeAvx512, avx2.quantize_k,
                          DotQ8_0Avx512, DotQ4_KAvx512, DotQ6_KAvx512,  PackedKernelsIfBuilt()};
  return &k;
}

}  // namespace infergate::llm

#else

namespace infergate::llm {
const QKernels* Avx512KernelsIfBuilt(const QKernels&) { return nullptr; }
}  // namespace infergate::llm

#endif
