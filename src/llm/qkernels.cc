// The scalar quantized-activation kernels, and the run-time choice between them and the AVX2
// ones (qkernels_avx2.cc). The scalar code is the definition the AVX2 code must agree with.
#include "llm/qkernels.h"

#include <cmath>
#include <cstdlib>
#include <string_view>

#include "gguf/blocks.h"

namespace infergate::llm {
namespace {

void QuantizeScalar(const float* x, int n, Q8Block* out) {
  for (int b = 0; b < n / 32; ++b, x += 32) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      // Round half to even, as the AVX2 code's _mm256_round_ps does.
      const int q = static_cast<int>(std::nearbyint(x[i] * id));
      out[b].q[i] = static_cast<int8_t>(q);
      sum += q;
    }
    out[b].d = d;
    out[b].s = d * static_cast<float>(sum);
  }
}

float DotQ8_0Scalar(const uint8_t* row, const Q8Block* x, int n_blocks) {
  float total = 0;
  for (int b = 0; b < n_blocks; ++b, row += gguf::blocks::kQ8_0Bytes) {
    const auto* q = reinterpret_cast<const int8_t*>(row + 2);
    int isum = 0;
    for (int i = 0; i < 32; ++i) isum += q[i] * x[b].q[i];
    total += gguf::blocks::LoadHalf(row) * x[b].d * static_cast<float>(isum);
  }
  return total;
}

float DotQ4_KScalar(const uint8_t* row, const Q8Block* x, int n_super) {
  float total = 0;
  for (int i = 0; i < n_super; ++i, row += gguf::blocks::kQ4_KBytes, x += 8) {
    const float d = gguf::blocks::LoadHalf(row);
    const float dmin = gguf::blocks::LoadHalf(row + 2);
    const uint8_t* scales = row + 4;
    const uint8_t* qs = row + 16;
    float scaled = 0, mins = 0;
    // Sub-blocks 2c and 2c+1 are the low and high nibbles of the same 32 bytes.
    for (int c = 0; c < 4; ++c, qs += 32) {
      int lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += (qs[l] & 0x0f) * x[2 * c].q[l];
        hi += (qs[l] >> 4) * x[2 * c + 1].q[l];
      }
      uint8_t sc, m;
      gguf::blocks::Q4KScaleMin(scales, 2 * c, &sc, &m);
      scaled += static_cast<float>(sc) * x[2 * c].d * static_cast<float>(lo);
      mins += static_cast<float>(m) * x[2 * c].s;
      gguf::blocks::Q4KScaleMin(scales, 2 * c + 1, &sc, &m);
      scaled += static_cast<float>(sc) * x[2 * c + 1].d * static_cast<float>(hi);
      mins += static_cast<float>(m) * x[2 * c + 1].s;
    }
    total += d * scaled - dmin * mins;
  }
  return total;
}

}  // namespace

const QKernels* Avx2KernelsIfBuilt();  // qkernels_avx2.cc

const QKernels& ScalarKernels() {
  static const QKernels k{"scalar", QuantizeScalar, DotQ8_0Scalar, DotQ4_KScalar};
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

const QKernels& BestKernels() {
  // INFERGATE_LLM_KERNELS=scalar forces the portable kernels (to compare, or to rule them out).
  static const QKernels* k = [] {
    const char* force = std::getenv("INFERGATE_LLM_KERNELS");
    const bool scalar = force != nullptr && std::string_view(force) == "scalar";
    const QKernels* avx2 = Avx2Kernels();
    return scalar || avx2 == nullptr ? &ScalarKernels() : avx2;
  }();
  return *k;
}

}  // namespace infergate::llm
