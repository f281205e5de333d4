// The batched matmul: rows outer, batch inner, so a row (under a kilobyte for the benchmark
// model) is fetched once and stays in L1 for the whole batch.
#include "llm/matmul.h"

#include <algorithm>

#include "llm/packed.h"

namespace infergate::llm {

const ParallelFor& WorthSplitting(const ParallelFor& parallel, size_t multiply_adds) {
  static const ParallelFor kSerial;
  return multiply_adds >= kParallelMacs ? parallel : kSerial;
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

namespace {

const ParallelFor& ForMatMul(const ParallelFor& parallel, const Matrix& w, int n_batch) {
  return WorthSplitting(parallel, static_cast<size_t>(n_batch) * static_cast<size_t>(w.n_in) *
                                      static_cast<size_t>(w.n_out));
}

// Rows outer, the batch inner in groups of the kernel set's max_vectors that each kernel call
// decodes the row for once; `Block` is the activation block type the kernel takes.
template <typename Block, typename Dot>
void IntegerRows(const Matrix& w, const Block* xq, size_t blocks, int n_batch, int units,
                 int max_vectors, Dot dot, float* y, const ParallelFor& parallel) {
  const size_t n_out = static_cast<size_t>(w.n_out);
  ParallelRange(w.n_out, 16, parallel, [&](int begin, int end) {
    float out[kMaxVectors];
    for (int o = begin; o < end; ++o) {
      const uint8_t* row = w.row(o);
      for (int b = 0; b < n_batch; b += max_vectors) {
        const int n = std::min(max_vectors, n_batch - b);
        dot(row, xq + b * blocks, blocks, n, units, out);
        for (int v = 0; v < n; ++v) y[(b + v) * n_out + o] = out[v];
      }
    }
  });
}

// Groups of 16 packed rows outer, the batch inner in groups of max_vectors; `dot` writes 16
// outputs of each vector straight into y.
template <typename Block, typename Dot>
void PackedRows(const PackedMatrix& w, const Block* xq, size_t x_stride, int n_batch, int units,
                int max_vectors, Dot dot, float* y, const ParallelFor& parallel) {
  const size_t n_out = static_cast<size_t>(w.n_out);
  ParallelRange(w.n_out / kPackRows, 4, parallel, [&](int begin, int end) {
    for (int g = begin; g < end; ++g) {
      for (int b = 0; b < n_batch; b += max_vectors) {
        const int n = std::min(max_vectors, n_batch - b);
        dot(w.group(g), xq + b * x_stride, x_stride, n, units,
            y + static_cast<size_t>(b) * n_out + g * kPackRows, n_out);
      }
    }
  });
}

// The packed path, when the kernels have it for this matrix's type; false otherwise.
bool PackedMatMul(const Matrix& w, const float* x, int n_batch, float* y, MatMulScratch& scratch,
                  const ParallelFor& parallel, const QKernels& kernels) {
  const PackedKernels& pk = kernels.packed;
  if (w.packed == nullptr || pk.q8_0 == nullptr) return false;
  const auto k_dot = w.type == gguf::GgmlType::kQ4_K ? pk.q4_k : pk.q6_k;
  if (w.type != gguf::GgmlType::kQ8_0 && k_dot == nullptr) return false;
  const size_t n_in = static_cast<size_t>(w.n_in);
  if (w.type == gguf::GgmlType::kQ8_0) {
    const size_t stride = n_in + n_in / 4;  // values, then 4-byte scales and corrections per 32
    scratch.packed_q8.resize(static_cast<size_t>(n_batch) * stride);
    for (int b = 0; b < n_batch; ++b) {
      pk.quantize_q8(x + b * n_in, w.n_in, scratch.packed_q8.data() + b * stride);
    }
    PackedRows(*w.packed, scratch.packed_q8.data(), stride, n_batch, w.n_in / 32,
               kernels.max_vectors, pk.q8_0, y, parallel);
    return true;
  }
  const size_t blocks = n_in / 256;
  scratch.q8k.resize(static_cast<size_t>(n_batch) * blocks);
  for (int b = 0; b < n_batch; ++b) {
    kernels.quantize_k(x + b * n_in, w.n_in, scratch.q8k.data() + b * blocks);
  }
  PackedRows(*w.packed, scratch.q8k.data(), blocks, n_batch, w.n_in / 256, kernels.max_vectors,
             k_dot, y, parallel);
  return true;
}

}  // namespace

void MatMul(const Matrix& w, const float* x, int n_batch, float* y, MatMulScratch& scratch,
            const ParallelFor& maybe_parallel, const QKernels* kernels) {
  const ParallelFor& parallel = ForMatMul(maybe_parallel, w, n_batch);
  const size_t n_in = static_cast<size_t>(w.n_in);
  const size_t n_out = static_cast<size_t>(w.n_out);
  if (kernels != nullptr && PackedMatMul(w, x, n_batch, y, scratch, parallel, *kernels)) return;
  if (kernels != nullptr && w.type == gguf::GgmlType::kQ8_0) {
    const size_t blocks = n_in / 32;
    scratch.q8.resize(static_cast<size_t>(n_batch) * blocks);
    for (int b = 0; b < n_batch; ++b) {
      kernels->quantize(x + b * n_in, w.n_in, scratch.q8.data() + b * blocks);
    }
    IntegerRows(w, scratch.q8.data(), blocks, n_batch, w.n_in / 32, kernels->max_vectors,
                kernels->dot_q8_0, y, parallel);
    return;
  }
  if (kernels != nullptr && (w.type == gguf::GgmlType::kQ4_K || w.type == gguf::GgmlType::kQ6_K)) {
    const size_t blocks = n_in / 256;
    scratch.q8k.resize(static_cast<size_t>(n_batch) * blocks);
    for (int b = 0; b < n_batch; ++b) {
      kernels->quantize_k(x + b * n_in, w.n_in, scratch.q8k.data() + b * blocks);
    }
    IntegerRows(w, scratch.q8k.data(), blocks, n_batch, w.n_in / 256, kernels->max_vectors,
                w.type == gguf::GgmlType::kQ4_K ? kernels->dot_q4_k : kernels->dot_q6_k, y,
                parallel);
    return;
  }
  ParallelRange(w.n_out, 16, parallel, [&](int begin, int end) {
    for (int o = begin; o < end; ++o) {
      const uint8_t* row = w.row(o);
      for (int b = 0; b < n_batch; ++b) {
        y[b * n_out + o] = gguf::Dot(w.type, row, x + b * n_in, n_in);
      }
    }
  });
}

}  // namespace infergate::llm
