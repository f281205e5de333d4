// The batched matmul: rows outer, batch inner, so a row (under a kilobyte for the benchmark
// model) is fetched once and stays in L1 for the whole batch.
#include "llm/matmul.h"

#include <algorithm>

namespace infergate::llm {

bool HasIntegerKernel(gguf::GgmlType type) {
  return type == gguf::GgmlType::kQ8_0 || type == gguf::GgmlType::kQ4_K;
}

void ParallelRange(int n, int min_piece, const ParallelFor& parallel,
                   const std::function<void(int, int)>& work) {
  if (n <= 0) return;
  // At most 64 pieces: enough to balance a handful of threads, few enough that the per-piece
  // cost (a std::function call, a queue slot in the caller's pool) stays negligible.
  const int piece = std::max(min_piece, (n + 63) / 64);
  const int pieces = (n + piece - 1) / piece;
  if (!parallel || pieces == 1) {
    work(0, n);
    return;
  }
  parallel(pieces, [&](int i) { work(i * piece, std::min(n, (i + 1) * piece)); });
}

void MatMul(const Matrix& w, const float* x, int n_batch, float* y, MatMulScratch& scratch,
            const ParallelFor& parallel, const QKernels* kernels) {
  const size_t n_in = static_cast<size_t>(w.n_in);
  const size_t n_out = static_cast<size_t>(w.n_out);
  if (kernels != nullptr && HasIntegerKernel(w.type)) {
    const size_t blocks = n_in / 32;
    scratch.quantized.resize(static_cast<size_t>(n_batch) * blocks);
    for (int b = 0; b < n_batch; ++b) {
      kernels->quantize(x + b * n_in, w.n_in, scratch.quantized.data() + b * blocks);
    }
    const Q8Block* xq = scratch.quantized.data();
    auto dot = w.type == gguf::GgmlType::kQ8_0 ? kernels->dot_q8_0 : kernels->dot_q4_k;
    const int units = w.type == gguf::GgmlType::kQ8_0 ? w.n_in / 32 : w.n_in / 256;
    ParallelRange(w.n_out, 16, parallel, [&](int begin, int end) {
      for (int o = begin; o < end; ++o) {
        const uint8_t* row = w.row(o);
        for (int b = 0; b < n_batch; ++b) y[b * n_out + o] = dot(row, xq + b * blocks, units);
      }
    });
    return;
  }
  ParallelRange(w.n_out, 16, parallel, [&](int begin, int end) {
    for (int o = begin; o < end; ++o) {
      const uint8_t* row = w.row(o);
      for (int b = 0; b < n_batch; ++b)
        y[b * n_out + o] = gguf::Dot(w.type, row, x + b * n_in, n_in);
    }
  });
}

}  // namespace infergate::llm
