// The scalar quantized-activation kernels, and the run-time choice between them and the AVX2
// and AVX-512 ones (qkernels_avx2.cc, qkernels_avx512.cc). The scalar code is the definition the
// others must agree with.
#include "llm/qkernels.h"

#include <cmath>
#include <cstdlib>
#include <string_view>

#include "gguf/blocks.h"

namespace infergate::llm {
namespace {

// Scale and rounded values of one block of n; round half to even, as _mm256_round_ps does.
float QuantizeBlock(const float* x, int n, int8_t* q) {
  float amax = 0;
  for (int i = 0; i < n; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(std::nearbyint(x[i] * id));
  return d;
}

void QuantizeScalar(const float* x, int n, Q8Block* out) {
  for (int b = 0; b < n / 32; ++b) out[b].d = QuantizeBlock(x + 32 * b, 32, out[b].q);
}

void QuantizeKScalar(const float* x, int n, Q8KBlock* out) {
  for (int b = 0; b < n / 256; ++b) {
    out[b].d = QuantizeBlock(x + 256 * b, 256, out[b].q);
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += out[b].q[16 * j + i];
      out[b].sums[j] = static_cast<int16_t>(sum);
    }
  }
}

void DotQ8_0Scalar(const uint8_t* row, const Q8Block* x, size_t stride, int n_vec, int n_blocks,
                   float* out) {
  for (int v = 0; v < n_vec; ++v, x += stride) {
    const uint8_t* w = row;
    float total = 0;
    for (int b = 0; b < n_blocks; ++b, w += gguf::blocks::kQ8_0Bytes) {
      const auto* q = reinterpret_cast<const int8_t*>(w + 2);
      int isum = 0;
      for (int i = 0; i < 32; ++i) isum += q[i] * x[b].q[i];
      total += gguf::blocks::LoadHalf(w) * x[b].d * static_cast<float>(isum);
    }
    out[v] = total;
  }
}

void DotQ4_KScalar(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_vec, int n_super,
                   float* out) {
  for (int v = 0; v < n_vec; ++v, x += stride) {
    const uint8_t* w = row;
    float total = 0;
    for (int i = 0; i < n_super; ++i, w += gguf::blocks::kQ4_KBytes) {
      const uint8_t* qs = w + 16;
      const int8_t* a = x[i].q;
      // Sub-blocks 2c and 2c+1 are the low and high nibbles of the same 32 bytes.
      int32_t scaled = 0, mins = 0;
      for (int c = 0; c < 4; ++c, qs += 32, a += 64) {
        int32_t lo = 0, hi = 0;
        for (int l = 0; l < 32; ++l) {
          lo += (qs[l] & 0x0f) * a[l];
          hi += (qs[l] >> 4) * a[32 + l];
        }
        for (int h = 0; h < 2; ++h) {
          uint8_t sc, m;
          gguf::blocks::Q4KScaleMin(w + 4, 2 * c + h, &sc, &m);
          scaled += sc * (h ? hi : lo);
          mins += m * (x[i].sums[4 * c + 2 * h] + x[i].sums[4 * c + 2 * h + 1]);
        }
      }
      const float d = gguf::blocks::LoadHalf(w), dmin = gguf::blocks::LoadHalf(w + 2);
      total += x[i].d * (d * static_cast<float>(scaled) - dmin * static_cast<float>(mins));
    }
    out[v] = total;
  }
}

void DotQ6_KScalar(const uint8_t* row, const Q8KBlock* x, size_t stride, int n_vec, int n_super,
                   float* out) {
  for (int v = 0; v < n_vec; ++v, x += stride) {
    const uint8_t* w = row;
    float total = 0;
    for (int i = 0; i < n_super; ++i, w += gguf::blocks::kQ6_KBytes) {
      // Layout in gguf/blocks.h. The stored 6-bit values u are q + 32: sum(sc * q * a) is
      // sum(sc * u * a) - 32 * sum(sc * sums16).
      const auto* sc = reinterpret_cast<const int8_t*>(w + 192);
      int32_t isum = 0, offset = 0;
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = w + 64 * h;
        const uint8_t* qh = w + 128 + 32 * h;
        for (int l = 0; l < 32; ++l) {
          const int u[4] = {(ql[l] & 0x0f) | ((qh[l] & 3) << 4),
                            (ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4),
                            (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                            (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
          for (int q = 0; q < 4; ++q) {
            isum += sc[8 * h + 2 * q + l / 16] * u[q] * x[i].q[128 * h + 32 * q + l];
          }
        }
      }
      for (int s = 0; s < 16; ++s) offset += sc[s] * x[i].sums[s];
      total += gguf::blocks::LoadHalf(w + 208) * x[i].d * static_cast<float>(isum - 32 * offset);
    }
    out[v] = total;
  }
}

}  // namespace

const QKernels* Avx2KernelsIfBuilt();                        // qkernels_avx2.cc
const QKernels* Avx512KernelsIfBuilt(const QKernels& avx2);  // qkernels_avx512.cc

const QKernels& ScalarKernels() {
  static const QKernels k{"scalar",      kMaxVectors,   QuantizeScalar, QuantizeKScalar,
                          DotQ8_0Scalar, DotQ4_KScalar, DotQ6_KScalar,  {}};
  return k;
}

const QKernels* Avx2Kernels() {
  static const QKernels* k = []() -> const QKernels* {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c")) {
      return Avx2KernelsIfBuilt();
    }
#endif
    return nullptr;
  }();
  return k;
}

const QKernels* Avx512Kernels() {
  static const QKernels* k = []() -> const QKernels* {
    const QKernels* avx2 = Avx2Kernels();
    if (avx2 == nullptr) return nullptr;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni")) {
      return Avx512KernelsIfBuilt(*avx2);
    }
#endif
    return nullptr;
  }();
  return k;
}

const QKernels& BestKernels() {
  // INFERGATE_LLM_KERNELS=scalar|avx2|avx512 asks for a set (to compare, or to rule one out);
  // one the CPU lacks falls back to the next slower.
  static const QKernels* k = [] {
    const char* env = std::getenv("INFERGATE_LLM_KERNELS");
    const std::string_view want = env != nullptr ? env : "";
    const QKernels* chosen = nullptr;
    if (want != "scalar" && want != "avx2") chosen = Avx512Kernels();
    if (chosen == nullptr && want != "scalar") chosen = Avx2Kernels();
    return chosen != nullptr ? chosen : &ScalarKernels();
  }();
  return *k;
}

}  // namespace infergate::llm
