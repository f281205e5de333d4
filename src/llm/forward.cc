// The forward pass of a llama-family decoder (README "Local model runner"; the conventions are
// scripts/gguf/README.md's): every token of every batch item goes through each layer together,
// so the matmuls read each weight row once per batch; attention is per token against its own
// item's cache. Everything is float32 but the weights (read in their own type by the dot
// kernels) and, when the model's options ask, the activations fed to Q8_0/Q4_K/Q6_K matmuls.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "llm/attention.h"
#include "llm/scratch.h"

namespace infergate::llm {
namespace {

using Error = Unexpected<std::string>;

void RmsNorm(const float* x, const std::vector<float>& weight, float eps, int n, float* out) {
  double ss = 0;  // in double: a float sum of thousands of squares drifts from the reference
  for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
  for (int i = 0; i < n; ++i) out[i] = x[i] * scale * weight[static_cast<size_t>(i)];
}

void AddBias(const std::vector<float>& bias, int n_batch, float* y) {
  if (bias.empty()) return;
  const size_t n = bias.size();
  for (int b = 0; b < n_batch; ++b) {
    for (size_t i = 0; i < n; ++i) y[b * n + i] += bias[i];
  }
}

// Rotates n_heads heads of head_dim values in place; `cs` holds cos, sin for each i < n_rot/2.
void Rope(const Hyper& h, const float* cs, int n_heads, float* v) {
  const int half = h.n_rot / 2;
  for (int head = 0; head < n_heads; ++head, v += h.head_dim) {
    for (int i = 0; i < half; ++i) {
      // llama pairs adjacent values (ggml "normal"); qwen2 pairs i with i + n_rot/2 ("neox").
      float* a = h.rope_neox ? v + i : v + 2 * i;
      float* b = h.rope_neox ? v + i + half : v + 2 * i + 1;
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float a0 = *a, b0 = *b;
      *a = a0 * c - b0 * s;
      *b = a0 * s + b0 * c;
    }
  }
}

// Checks the batch before anything is computed; an error names the item.
Expected<int, std::string> Validate(const ModelImpl& model, std::span<BatchItem> batch) {
  const Hyper& h = model.hyper();
  if (!model.not_computable.empty()) return Error{model.label_ + ": " + model.not_computable};
  int64_t total = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchItem& item = batch[i];
    const std::string name = "batch item " + std::to_string(i) + ": ";
    if (item.cache == nullptr) return Error{name + "no KV cache"};
    if (item.tokens.empty()) return Error{name + "no tokens"};
    if (item.logits.size() < static_cast<size_t>(h.n_vocab)) {
      return Error{name + "room for " + std::to_string(item.logits.size()) + " logits, needs " +
                   std::to_string(h.n_vocab)};
    }
    if (item.cache->bytes() !=
        static_cast<size_t>(item.cache->capacity()) * model.kv_bytes_per_token()) {
      return Error{name + "the KV cache was made for another model"};
    }
    const int64_t room = item.cache->capacity() - item.cache->size();
    if (static_cast<int64_t>(item.tokens.size()) > room) {
      return Error{name + std::to_string(item.tokens.size()) +
                   " tokens, but the KV cache has room for " + std::to_string(room) +
                   " more (capacity " + std::to_string(item.cache->capacity()) + ")"};
    }
    for (size_t j = 0; j < item.tokens.size(); ++j) {
      if (item.tokens[j] < 0 || item.tokens[j] >= h.n_vocab) {
        return Error{name + "token " + std::to_string(item.tokens[j]) + " at index " +
                     std::to_string(j) + " is outside the vocabulary of " +
                     std::to_string(h.n_vocab)};
      }
    }
    for (size_t k = 0; k < i; ++k) {
      if (batch[k].cache == item.cache) {
        return Error{name + "shares its KV cache with batch item " + std::to_string(k)};
      }
    }
    total += static_cast<int64_t>(item.tokens.size());
  }
  if (total > (int64_t{1} << 24))
    return Error{"a batch of " + std::to_string(total) +
                 " tokens is more than one Forward takes (2^24)"};
  return static_cast<int>(total);
}

}  // namespace

Expected<int, std::string> ForwardWith(const Model& base, std::span<BatchItem> batch,
                                       Scratch& scratch, const ParallelFor& parallel,
                                       const QKernels* kernels) {
  const auto* model = dynamic_cast<const ModelImpl*>(&base);
  if (model == nullptr) return Error{"Forward: not a model from Model::Load"};
  auto checked = Validate(*model, batch);
  if (!checked) return checked;
  const int n_tokens = *checked;
  if (n_tokens == 0) return 0;

  const Hyper& h = model->hyper();
  Scratch::Impl& s = scratch.impl();
  const size_t B = static_cast<size_t>(n_tokens);
  const size_t n_embd = static_cast<size_t>(h.n_embd);
  const size_t q_dim = static_cast<size_t>(h.n_head) * h.head_dim;
  const size_t kv_dim = static_cast<size_t>(h.n_head_kv) * h.head_dim;
  const size_t n_ff = static_cast<size_t>(h.n_ff);
  const int half = h.n_rot / 2;

  s.item.clear();
  s.pos.clear();
  s.token.clear();
  int max_ctx = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const int start = batch[i].cache->size();
    for (size_t j = 0; j < batch[i].tokens.size(); ++j) {
      s.item.push_back(static_cast<int>(i));
      s.pos.push_back(start + static_cast<int>(j));
      s.token.push_back(batch[i].tokens[j]);
    }
    max_ctx = std::max(max_ctx, start + static_cast<int>(batch[i].tokens.size()));
  }
  s.x.resize(B * n_embd);
  s.xn.resize(B * n_embd);
  s.out.resize(B * n_embd);
  s.q.resize(B * q_dim);
  s.attn.resize(B * q_dim);
  s.k.resize(B * kv_dim);
  s.v.resize(B * kv_dim);
  s.gate.resize(B * n_ff);
  s.up.resize(B * n_ff);
  s.rope.resize(B * static_cast<size_t>(2 * half));

  for (size_t b = 0; b < B; ++b) {
    const Matrix& e = model->token_embd;
    gguf::Dequantize(e.type, e.row(s.token[b]), n_embd, s.x.data() + b * n_embd);
    // The angle in double: pos * inv_freq reaches thousands of radians at long contexts.
    for (int i = 0; i < half; ++i) {
      const double theta = s.pos[b] * model->inv_freq[static_cast<size_t>(i)];
      s.rope[b * 2 * half + 2 * i] = static_cast<float>(std::cos(theta));
      s.rope[b * 2 * half + 2 * i + 1] = static_cast<float>(std::sin(theta));
    }
  }

  // Attention runs as (token, head) tasks; each parallel piece has its own scores row.
  const int tasks = n_tokens * h.n_head;
  const int piece = std::max(1, (tasks + 63) / 64);
  s.scores.resize(static_cast<size_t>((tasks + piece - 1) / piece) * max_ctx);
  const int group = h.n_head / h.n_head_kv;

  for (int li = 0; li < h.n_layer; ++li) {
    const Layer& l = model->layers[static_cast<size_t>(li)];
    for (size_t b = 0; b < B; ++b) {
      RmsNorm(s.x.data() + b * n_embd, l.attn_norm, h.rms_eps, h.n_embd, s.xn.data() + b * n_embd);
    }
    MatMul(l.wq, s.xn.data(), n_tokens, s.q.data(), s.matmul, parallel, kernels);
    MatMul(l.wk, s.xn.data(), n_tokens, s.k.data(), s.matmul, parallel, kernels);
    MatMul(l.wv, s.xn.data(), n_tokens, s.v.data(), s.matmul, parallel, kernels);
    AddBias(l.bq, n_tokens, s.q.data());
    AddBias(l.bk, n_tokens, s.k.data());
    AddBias(l.bv, n_tokens, s.v.data());
    for (size_t b = 0; b < B; ++b) {
      const float* cs = s.rope.data() + b * 2 * half;
      Rope(h, cs, h.n_head, s.q.data() + b * q_dim);
      Rope(h, cs, h.n_head_kv, s.k.data() + b * kv_dim);
      KvCache& cache = *batch[static_cast<size_t>(s.item[b])].cache;
      const size_t at = static_cast<size_t>(s.pos[b]) * kv_dim;
      std::memcpy(cache.keys(li) + at, s.k.data() + b * kv_dim, kv_dim * sizeof(float));
      std::memcpy(cache.values(li) + at, s.v.data() + b * kv_dim, kv_dim * sizeof(float));
    }
    // Every token's K and V are in its cache now; a token sees positions up to its own.
    const size_t attention_macs = 2 * static_cast<size_t>(tasks) * max_ctx * h.head_dim;
    ParallelRange(tasks, piece, WorthSplitting(parallel, attention_macs), [&](int begin, int end) {
      float* scores = s.scores.data() + static_cast<size_t>(begin / piece) * max_ctx;
      for (int task = begin; task < end; ++task) {
        const size_t b = static_cast<size_t>(task / h.n_head);
        const int head = task % h.n_head;
        KvCache& cache = *batch[static_cast<size_t>(s.item[b])].cache;
        const size_t kv_off = static_cast<size_t>(head / group) * h.head_dim;
        AttendHead(s.q.data() + b * q_dim + head * h.head_dim, cache.keys(li) + kv_off,
                   cache.values(li) + kv_off, s.pos[b] + 1, static_cast<int>(kv_dim), h.head_dim,
                   scores, s.attn.data() + b * q_dim + head * h.head_dim);
      }
    });
    MatMul(l.wo, s.attn.data(), n_tokens, s.out.data(), s.matmul, parallel, kernels);
    for (size_t i = 0; i < B * n_embd; ++i) s.x[i] += s.out[i];

    for (size_t b = 0; b < B; ++b) {
      RmsNorm(s.x.data() + b * n_embd, l.ffn_norm, h.rms_eps, h.n_embd, s.xn.data() + b * n_embd);
    }
    MatMul(l.gate, s.xn.data(), n_tokens, s.gate.data(), s.matmul, parallel, kernels);
    MatMul(l.up, s.xn.data(), n_tokens, s.up.data(), s.matmul, parallel, kernels);
    for (size_t i = 0; i < B * n_ff; ++i) {
      const float g = s.gate[i];
      s.gate[i] = g / (1.0f + std::exp(-g)) * s.up[i];  // SwiGLU: silu(gate) * up
    }
    MatMul(l.down, s.gate.data(), n_tokens, s.out.data(), s.matmul, parallel, kernels);
    for (size_t i = 0; i < B * n_embd; ++i) s.x[i] += s.out[i];
  }

  // Logits for each item's last token only.
  const int n_items = static_cast<int>(batch.size());
  s.last.resize(batch.size() * n_embd);
  size_t b = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    b += batch[i].tokens.size();
    RmsNorm(s.x.data() + (b - 1) * n_embd, model->output_norm, h.rms_eps, h.n_embd,
            s.last.data() + i * n_embd);
  }
  const size_t n_vocab = static_cast<size_t>(h.n_vocab);
  s.logits.resize(batch.size() * n_vocab);
  MatMul(model->output, s.last.data(), n_items, s.logits.data(), s.matmul, parallel, kernels);
  for (size_t i = 0; i < batch.size(); ++i) {
    std::memcpy(batch[i].logits.data(), s.logits.data() + i * n_vocab, n_vocab * sizeof(float));
    batch[i].cache->Advance(static_cast<int>(batch[i].tokens.size()));
  }
  return n_tokens;
}

Expected<int, std::string> Forward(const Model& model, std::span<BatchItem> batch, Scratch& scratch,
                                   const ParallelFor& parallel) {
  const auto* impl = dynamic_cast<const ModelImpl*>(&model);
  const bool quantize = impl != nullptr && impl->options_.quantize_activations;
  return ForwardWith(model, batch, scratch, parallel, quantize ? &BestKernels() : nullptr);
}

}  // namespace infergate::llm
