// What a CudaModel and a CudaScratch hold (cuda_model.cc builds them, forward.cc uses them).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "infergate/llm/cuda/cuda_model.h"
#include "llm/cuda/device_buffer.h"
#include "llm/cuda/kernels.h"

namespace infergate::llm::cuda {

// Pointers into CudaModel::Impl::weights. Norms and biases are float32; a bias is null when the
// file has none.
struct LayerWeights {
  const float* attn_norm = nullptr;
  MatrixView wq, wk, wv, wo;
  const float* bq = nullptr;
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* ffn_norm = nullptr;
  MatrixView gate, up, down;
};

struct CudaModel::Impl {
  Hyper hyper;
  DeviceInfo device;
  DeviceBuffer weights;  // every tensor, each at a 256-byte boundary
  size_t weight_bytes = 0;
  MatrixView token_embd;
  MatrixView output;  // token_embd when the file ties them
  const float* output_norm = nullptr;
  const double* inv_freq =
      nullptr;  // n_rot/2 RoPE frequencies (base, scaling, rope_freqs folded in)
  std::vector<LayerWeights> layers;
  int max_context = 0;
};

struct CudaScratch::Impl {
  ~Impl();
  // Binds to the model's device (a stream there) and makes every buffer big enough for
  // n_tokens tokens and n_items items; an error message, empty on success.
  std::string Prepare(const CudaModel::Impl& model, int n_tokens, int n_items);

  int device = -1;
  cudaStream_t stream = nullptr;
  // Activations, n_tokens rows: x (the residual stream), xn (normed), q, k, v, attn (attention
  // output), gate and up (FFN). Per item: last (its last token's row), logits.
  DeviceBuffer x, xn, q, k, v, attn, gate, up, last, logits;
  DeviceBuffer rope;              // n_tokens x n_rot/2 (cos, sin) pairs
  DeviceBuffer ids, slots, rows;  // token ids, TokenSlots, last-token row indices
  std::vector<int32_t> host_ids, host_rows;
  std::vector<TokenSlot> host_slots;
};

}  // namespace infergate::llm::cuda
