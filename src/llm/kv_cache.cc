// KvCache and Scratch: plain storage. A cache holds, per layer, K then V for every position
// as [position][kv head][head_dim] floats, allocated for the full capacity up front so a
// sequence never reallocates mid-generation.
#include <algorithm>

#include "llm/scratch.h"

namespace infergate::llm {

KvCache::KvCache(const Model& model, int capacity) : capacity_(std::max(0, capacity)) {
  const Hyper& h = model.hyper();
  n_layer_ = h.n_layer;
  per_layer_ = static_cast<size_t>(capacity_) * h.n_head_kv * h.head_dim;
  data_.resize(2 * per_layer_ * static_cast<size_t>(n_layer_));
}

size_t KvCache::bytes() const { return data_.size() * sizeof(float); }

void KvCache::Truncate(int n) { size_ = std::clamp(n, 0, size_); }

float* KvCache::keys(int layer) { return data_.data() + 2 * per_layer_ * layer; }
float* KvCache::values(int layer) { return data_.data() + 2 * per_layer_ * layer + per_layer_; }

Scratch::Scratch() : impl_(std::make_unique<Impl>()) {}
Scratch::~Scratch() = default;

}  // namespace infergate::llm
