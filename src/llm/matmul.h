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
  std::vector<Q8Block> q8;         // n_batch * n_in / 32 blocks (Q8_0 weights)
  std::vector<Q8KBlock> q8k;       // n_batch * n_in / 256 blocks (Q4_K weights)
  std::vector<uint8_t> packed_q8;  // n_batch * 1.25 * n_in bytes (packed Q8_0 weights)
};

// y[b * n_out + o] = row_o(w) . x[b * n_in ...] for b < n_batch. With `kernels`, Q8_0, Q4_K and
// Q6_K weights take the integer path (activations quantized to 8 bits once per call), through
// the packed copy (packed.h) when the matrix has one and the kernels take it; every other type,
// and every type without kernels, goes through gguf::Dot in float.
void MatMul(const Matrix& w, const float* x, int n_batch, float* y, MatMulScratch& scratch,
            const ParallelFor& parallel, const QKernels* kernels);

// Below this many multiply-adds a step runs on the calling thread: handing pieces to other
// threads costs wake-ups of a few microseconds, about what a tenth of this takes on one core.
constexpr size_t kParallelMacs = size_t{1} << 20;

// `parallel` for a step of `multiply_adds`, or an empty ParallelFor when that is too little to
// be worth splitting.
const ParallelFor& WorthSplitting(const ParallelFor& parallel, size_t multiply_adds);

// Calls work(begin, end) over [0, n) in pieces of at least `min_piece`, on `parallel` when given.
void ParallelRange(int n, int min_piece, const ParallelFor& parallel,
                   const std::function<void(int, int)>& work);

}  // namespace infergate::llm
