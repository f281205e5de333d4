// The forward pass's working memory (Scratch::Impl): activations for every token of the batch,
// resized on demand and kept between calls so steady-state generation allocates nothing.
#pragma once

#include <vector>

#include "infergate/llm/model.h"
#include "llm/matmul.h"
#include "llm/qkernels.h"

namespace infergate::llm {

struct Scratch::Impl {
  // Per token of the batch: its item, position in that item's sequence, and id.
  std::vector<int> item, pos;
  std::vector<int32_t> token;
  // B x n_embd: the residual stream and its normalized copy; B x (n_head * head_dim) and
  // B x (n_head_kv * head_dim): queries, keys, values, attention output; B x n_ff: the FFN.
  std::vector<float> x, xn, q, k, v, attn, out, gate, up;
  std::vector<float> rope;    // B x n_rot: cos, sin pairs for each token's position
  std::vector<float> scores;  // one row of attention scores per parallel piece
  std::vector<float> last;    // n_items x n_embd, then n_items x n_vocab
  std::vector<float> logits;
  MatMulScratch matmul;
};

// Forward with the given quantized-activation kernels (null: float matmuls); Forward picks
// them from the model's LoadOptions. Tests use this to run both kernel sets.
Expected<int, std::string> ForwardWith(const Model& model, std::span<BatchItem> batch,
                                       Scratch& scratch, const ParallelFor& parallel,
                                       const QKernels* kernels);

}  // namespace infergate::llm
