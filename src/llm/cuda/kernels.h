// Host-side launchers of the runner's CUDA kernels (matvec.cu, ops.cu). Every pointer is device
// memory unless it says otherwise; every launch is asynchronous on `stream` and returns the
// launch's error (cudaSuccess when it was queued). The orchestration in cuda_model.cc and the
// kernel tests call these; nothing outside src/llm/cuda/ and tests/unit/llm_cuda/ should.
//
// Activations are float32, row-major: n rows (tokens) of `width` floats each.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "infergate/gguf/tensor_types.h"

namespace infergate::llm::cuda {

// A weight matrix in device memory as the file stores it: n_out rows of n_in values, each row
// row_bytes of `type` blocks.
struct MatrixView {
  const uint8_t* data = nullptr;
  gguf::GgmlType type = gguf::GgmlType::kF32;
  int n_in = 0;
  int n_out = 0;
  size_t row_bytes = 0;
};

// F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K.
bool KernelSupports(gguf::GgmlType type);

// y[v] = W x[v] for v < n_vec (x: n_vec x n_in, y: n_vec x n_out), or y[v] += W x[v] when
// `accumulate` (the residual adds). Weights are decoded on the fly; x and y must not overlap.
cudaError_t LaunchMatVec(const MatrixView& w, const float* x, int n_vec, float* y, bool accumulate,
                         cudaStream_t stream);

// out[i] = row ids[i] of `table`, decoded (the embedding lookup). ids must be < table.n_out.
cudaError_t LaunchGetRows(const MatrixView& table, const int32_t* ids, int n, float* out,
                          cudaStream_t stream);

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for n_rows rows of `width`. out may be x.
cudaError_t LaunchRmsNorm(const float* x, const float* weight, int n_rows, int width, float eps,
                          float* out, cudaStream_t stream);

// Where one token of the batch goes: its sequence's KV cache (device memory, see KvLayout) and
// its position there.
struct TokenSlot {
  float* cache = nullptr;
  int pos = 0;
  int capacity = 0;  // of that cache, in tokens
};

// A sequence's cache holds, for each layer l, K then V, each capacity x kv_dim floats:
// K(l) = cache + l * 2 * capacity * kv_dim, V(l) = K(l) + capacity * kv_dim.
struct AttentionShape {
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  int layer = 0;
};

// cs[t][i] = (cos, sin) of theta_i = slots[t].pos * inv_freq[i], i < half (n_rot/2), for each
// token: once per forward pass, shared by every layer and head. The angle is taken in double,
// as the CPU pass takes it: it reaches thousands of radians at long contexts.
cudaError_t LaunchRopeTable(const double* inv_freq, const TokenSlot* slots, int n_tokens, int half,
                            float* cs, cudaStream_t stream);

// Rotates the first n_rot values of each head of x (n_tokens x n_heads*head_dim) by the angles
// in cs (LaunchRopeTable): pairs (2i, 2i+1), or (i, i + n_rot/2) when `neox`.
cudaError_t LaunchRope(float* x, int n_tokens, int n_heads, int head_dim, int n_rot,
                       const float* cs, bool neox, cudaStream_t stream);

// Writes each token's k and v (n_tokens x n_head_kv*head_dim) into its cache at its position.
cudaError_t LaunchKvStore(const float* k, const float* v, const TokenSlot* slots, int n_tokens,
                          const AttentionShape& shape, cudaStream_t stream);

// Causal attention of each token's query heads (q: n_tokens x n_head*head_dim) over its cache,
// positions 0..pos, grouped-query (head h reads KV head h / (n_head / n_head_kv)); scores scaled
// by 1/sqrt(head_dim), softmax in float with the maximum subtracted. `max_positions` bounds
// pos + 1 over the batch (it sizes the shared memory); MaxAttentionPositions says the limit.
cudaError_t LaunchAttention(const float* q, const TokenSlot* slots, int n_tokens,
                            const AttentionShape& shape, int max_positions, float* out,
                            cudaStream_t stream);
// The longest context the attention kernel handles on a device with `shared_optin` bytes of
// shared memory per block.
int MaxAttentionPositions(size_t shared_optin, int head_dim);

// y[r] += bias, for n_rows rows of `width`.
cudaError_t LaunchAddBias(float* y, const float* bias, int n_rows, int width, cudaStream_t stream);

// gate[i] = silu(gate[i]) * up[i] for i < n.
cudaError_t LaunchSwiGlu(float* gate, const float* up, size_t n, cudaStream_t stream);

// out[i] = x[rows[i]] for i < n, rows of `width`.
cudaError_t LaunchGatherRows(const float* x, const int32_t* rows, int n, int width, float* out,
                             cudaStream_t stream);

}  // namespace infergate::llm::cuda
