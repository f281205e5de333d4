// Batched matrix-vector products: Y = X W^T for a batch of activation vectors, with each weight
// row read from memory once and dotted with every vector while it is in cache (the batching
// win: generation is bound by reading the weights). Output rows are split across threads.
#pragma once

#include <vector>

#include "infergate/llm/model.h"
#include "llm/model_impl.h"
#include "llm/qkernels.h"

namespace infergate::llm {

struct MatMulScratch {
  std::vector<Q8Block> quantized;  // n_batch * n_in / 32 blocks
};

// y[b * n_out + o] = row_o(w) . x[b * n_in ...] for b < n_batch. With `kernels` (Q8_0 and Q4_K
// weights only) the activations are quantized to 8 bits first and the dots are integer ones;
// without, every type goes through gguf::Dot in float.
void MatMul(const Matrix& w, const float* x, int n_batch, float* y, MatMulScratch& scratch,
            const ParallelFor& parallel, const QKernels* kernels);

// Whether MatMul with kernels takes the quantized-activation path for this weight type.
bool HasIntegerKernel(gguf::GgmlType type);

// Calls work(begin, end) over [0, n) in pieces of at least `min_piece`, on `parallel` when given.
void ParallelRange(int n, int min_piece, const ParallelFor& parallel,
                   const std::function<void(int, int)>& work);

}  // namespace infergate::llm
