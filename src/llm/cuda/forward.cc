// Forward on the device: the batch checked on the host, then one pass of kernels queued on the
// scratch's stream (all tokens of all items as the rows of one activation matrix, so each
// weight matrix is read once per tile of tokens), then each item's last logits copied back.
#include <algorithm>
#include <string>
#include <unordered_set>

#include "llm/cuda/model_impl.h"

namespace infergate::llm::cuda {
namespace {

std::string Item(size_t i) { return "batch item " + std::to_string(i) + ": "; }

// The batch's errors, before anything runs; empty when it can run.
std::string CheckBatch(const CudaModel& model, std::span<CudaBatchItem> batch) {
  const Hyper& h = model.hyper();
  std::unordered_set<const CudaKvCache*> caches;
  for (size_t i = 0; i < batch.size(); ++i) {
    const CudaBatchItem& item = batch[i];
    if (item.cache == nullptr) return Item(i) + "no KV cache";
    if (item.cache->model() != &model) return Item(i) + "its KV cache belongs to another model";
    if (!caches.insert(item.cache).second) return Item(i) + "its KV cache is in the batch twice";
    if (item.tokens.empty()) return Item(i) + "no tokens";
    if (item.logits.size() != static_cast<size_t>(h.n_vocab)) {
      return Item(i) + "logits hold " + std::to_string(item.logits.size()) +
             " floats, the vocabulary has " + std::to_string(h.n_vocab);
    }
    const size_t room = static_cast<size_t>(item.cache->capacity() - item.cache->size());
    if (item.tokens.size() > room) {
      return Item(i) + std::to_string(item.tokens.size()) + " tokens do not fit in its KV cache (" +
             std::to_string(item.cache->size()) + " of " + std::to_string(item.cache->capacity()) +
             " used)";
    }
    for (size_t j = 0; j < item.tokens.size(); ++j) {
      if (item.tokens[j] < 0 || item.tokens[j] >= h.n_vocab) {
        return Item(i) + "token " + std::to_string(j) + " (id " + std::to_string(item.tokens[j]) +
               ") is not in the vocabulary of " + std::to_string(h.n_vocab);
      }
    }
  }
  return {};
}

// Queues the pass; the first launch that fails stops it.
cudaError_t Enqueue(const CudaModel::Impl& m, CudaScratch::Impl& s, int n_tokens, int n_items,
                    int max_positions) {
  const Hyper& h = m.hyper;
  const cudaStream_t st = s.stream;
  auto* x = s.x.get<float>();
  auto* xn = s.xn.get<float>();
  auto* q = s.q.get<float>();
  auto* k = s.k.get<float>();
  auto* v = s.v.get<float>();
  auto* attn = s.attn.get<float>();
  auto* gate = s.gate.get<float>();
  auto* up = s.up.get<float>();
  const auto* slots = s.slots.get<TokenSlot>();
  const int q_dim = h.n_head * h.head_dim;
  const int kv_dim = h.n_head_kv * h.head_dim;
  cudaError_t e = cudaSuccess;
  auto ok = [&e](cudaError_t r) { return (e = r) == cudaSuccess; };

  const auto* rope = s.rope.get<float>();
  if (!ok(LaunchGetRows(m.token_embd, s.ids.get<int32_t>(), n_tokens, x, st)) ||
      !ok(LaunchRopeTable(m.inv_freq, slots, n_tokens, h.n_rot / 2, s.rope.get<float>(), st))) {
    return e;
  }
  for (int layer = 0; layer < h.n_layer; ++layer) {
    const LayerWeights& l = m.layers[static_cast<size_t>(layer)];
    const AttentionShape shape{h.n_head, h.n_head_kv, h.head_dim, layer};
    if (!ok(LaunchRmsNorm(x, l.attn_norm, n_tokens, h.n_embd, h.rms_eps, xn, st)) ||
        !ok(LaunchMatVec(l.wq, xn, n_tokens, q, false, st)) ||
        !ok(LaunchMatVec(l.wk, xn, n_tokens, k, false, st)) ||
        !ok(LaunchMatVec(l.wv, xn, n_tokens, v, false, st))) {
      return e;
    }
    // qwen2's biases come after the projections and before RoPE.
    if ((l.bq != nullptr && !ok(LaunchAddBias(q, l.bq, n_tokens, q_dim, st))) ||
        (l.bk != nullptr && !ok(LaunchAddBias(k, l.bk, n_tokens, kv_dim, st))) ||
        (l.bv != nullptr && !ok(LaunchAddBias(v, l.bv, n_tokens, kv_dim, st)))) {
      return e;
    }
    if (!ok(LaunchRope(q, n_tokens, h.n_head, h.head_dim, h.n_rot, rope, h.rope_neox, st)) ||
        !ok(LaunchRope(k, n_tokens, h.n_head_kv, h.head_dim, h.n_rot, rope, h.rope_neox, st)) ||
        !ok(LaunchKvStore(k, v, slots, n_tokens, shape, st)) ||
        !ok(LaunchAttention(q, slots, n_tokens, shape, max_positions, attn, st)) ||
        !ok(LaunchMatVec(l.wo, attn, n_tokens, x, true, st)) ||
        !ok(LaunchRmsNorm(x, l.ffn_norm, n_tokens, h.n_embd, h.rms_eps, xn, st)) ||
        !ok(LaunchMatVec(l.gate, xn, n_tokens, gate, false, st)) ||
        !ok(LaunchMatVec(l.up, xn, n_tokens, up, false, st)) ||
        !ok(LaunchSwiGlu(gate, up, static_cast<size_t>(n_tokens) * h.n_ff, st)) ||
        !ok(LaunchMatVec(l.down, gate, n_tokens, x, true, st))) {
      return e;
    }
  }
  // Only each item's last token goes through the output: the logits the caller asked for.
  auto* last = s.last.get<float>();
  if (!ok(LaunchGatherRows(x, s.rows.get<int32_t>(), n_items, h.n_embd, last, st)) ||
      !ok(LaunchRmsNorm(last, m.output_norm, n_items, h.n_embd, h.rms_eps, last, st)) ||
      !ok(LaunchMatVec(m.output, last, n_items, s.logits.get<float>(), false, st))) {
    return e;
  }
  return cudaSuccess;
}

std::string Failed(const char* what, cudaError_t e) {
  return std::string("CUDA forward pass: ") + what + ": " + cudaGetErrorName(e) + " (" +
         cudaGetErrorString(e) + ")";
}

}  // namespace

Expected<int, std::string> Forward(const CudaModel& model, std::span<CudaBatchItem> batch,
                                   CudaScratch& scratch) {
  if (batch.empty()) return 0;
  if (std::string error = CheckBatch(model, batch); !error.empty()) {
    return MakeUnexpected(std::move(error));
  }
  const CudaModel::Impl& m = model.impl();
  CudaScratch::Impl& s = scratch.impl();
  if (cudaError_t e = cudaSetDevice(m.device.index); e != cudaSuccess) {
    return MakeUnexpected(Failed("selecting the device", e));
  }

  s.host_ids.clear();
  s.host_slots.clear();
  s.host_rows.clear();
  int max_positions = 0;
  for (const CudaBatchItem& item : batch) {
    const int start = item.cache->size();
    for (size_t j = 0; j < item.tokens.size(); ++j) {
      s.host_ids.push_back(item.tokens[j]);
      s.host_slots.push_back(TokenSlot{item.cache->device_data(), start + static_cast<int>(j),
                                       item.cache->capacity()});
    }
    s.host_rows.push_back(static_cast<int32_t>(s.host_ids.size()) - 1);
    max_positions = std::max(max_positions, start + static_cast<int>(item.tokens.size()));
  }
  const int n_tokens = static_cast<int>(s.host_ids.size());
  const int n_items = static_cast<int>(batch.size());
  if (std::string error = s.Prepare(m, n_tokens, n_items); !error.empty()) {
    return MakeUnexpected("CUDA forward pass: " + error);
  }

  // Pageable host memory: each copy has read its source when it returns.
  const cudaStream_t st = s.stream;
  cudaError_t e = cudaMemcpyAsync(s.ids.get(), s.host_ids.data(),
                                  s.host_ids.size() * sizeof(int32_t), cudaMemcpyHostToDevice, st);
  if (e == cudaSuccess) {
    e = cudaMemcpyAsync(s.slots.get(), s.host_slots.data(), s.host_slots.size() * sizeof(TokenSlot),
                        cudaMemcpyHostToDevice, st);
  }
  if (e == cudaSuccess) {
    e = cudaMemcpyAsync(s.rows.get(), s.host_rows.data(), s.host_rows.size() * sizeof(int32_t),
                        cudaMemcpyHostToDevice, st);
  }
  if (e != cudaSuccess) return MakeUnexpected(Failed("copying the batch", e));
  if (e = Enqueue(m, s, n_tokens, n_items, max_positions); e != cudaSuccess) {
    cudaStreamSynchronize(st);
    return MakeUnexpected(Failed("launching a kernel", e));
  }
  const auto* logits = s.logits.get<float>();
  for (size_t i = 0; i < batch.size() && e == cudaSuccess; ++i) {
    e = cudaMemcpyAsync(batch[i].logits.data(), logits + i * static_cast<size_t>(m.hyper.n_vocab),
                        batch[i].logits.size_bytes(), cudaMemcpyDeviceToHost, st);
  }
  const cudaError_t sync = cudaStreamSynchronize(st);
  if (e == cudaSuccess) e = sync;
  if (e != cudaSuccess) return MakeUnexpected(Failed("running", e));
  for (CudaBatchItem& item : batch) item.cache->Advance(static_cast<int>(item.tokens.size()));
  return n_tokens;
}

}  // namespace infergate::llm::cuda
