// AttendHead, a fifth of a decode step's time at a few hundred tokens of context before it was
// vectorized. This file is built with reassociation allowed (CMakeLists.txt) so the dot and
// axpy loops vectorize, and the function is cloned for Haswell-class CPUs (AVX2, FMA) with the
// loader picking the clone at run time (GCC function multiversioning), the build staying
// baseline x86-64.
#include "llm/attention.h"

#include <algorithm>
#include <cmath>

namespace infergate::llm {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=haswell", "default")))
#endif
void AttendHead(const float* q, const float* keys, const float* values, int n_ctx, int stride,
                int head_dim, float* scores, float* out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  float max = -INFINITY;
  for (int t = 0; t < n_ctx; ++t) {
    const float* k = keys + static_cast<long>(t) * stride;
    float dot = 0;
    for (int i = 0; i < head_dim; ++i) dot += q[i] * k[i];
    scores[t] = dot * scale;
    max = std::max(max, scores[t]);
  }
  float sum = 0;
  for (int t = 0; t < n_ctx; ++t) {
    scores[t] = std::exp(scores[t] - max);
    sum += scores[t];
  }
  std::fill(out, out + head_dim, 0.0f);
  const float inv = 1.0f / sum;
  for (int t = 0; t < n_ctx; ++t) {
    const float w = scores[t] * inv;
    const float* v = values + static_cast<long>(t) * stride;
    for (int i = 0; i < head_dim; ++i) out[i] += w * v[i];
  }
}

}  // namespace infergate::llm
