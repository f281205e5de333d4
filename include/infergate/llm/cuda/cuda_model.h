// A llama-family model on a CUDA device: the weights of an llm::Model uploaded once, in their
// GGUF encoding (the kernels decode them as they read), per-sequence KV caches in device memory,
// and a batched Forward with the semantics of llm::Forward (include/infergate/llm/model.h).
// Built only with INFERGATE_CUDA (README "Local model runner", CUDA).
//
// Memory: the weights take what the file's tensors take (norms and biases as float32); a KV
// cache takes capacity * n_layer * 2 * n_head_kv * head_dim float32s; a CudaScratch holds the
// activations of the largest batch it has run (tokens x (n_embd, q, k, v, 2 x n_ff)) and
// items x n_vocab logits.
//
// Thread safety: a CudaModel is immutable after Upload and shared freely. A CudaKvCache belongs
// to one sequence. Forward may run on several threads at once for disjoint batches, each with
// its own CudaScratch (which owns the CUDA stream its work is queued on).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "infergate/core/expected.h"
#include "infergate/llm/cuda/device.h"
#include "infergate/llm/model.h"

namespace infergate::llm::cuda {

class CudaModel {
 public:
  // Uploads every tensor the forward pass uses to device `device` (as in `cuda:N`). Fails with
  // a message naming the device when it does not exist or the weights do not fit in its free
  // memory, or when a tensor has a type the kernels do not decode.
  static Expected<std::shared_ptr<const CudaModel>, std::string> Upload(const Model& model,
                                                                        int device);
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  const Hyper& hyper() const;
  const DeviceInfo& device() const;
  // Device bytes the weights take.
  size_t weight_bytes() const;
  // Device bytes one token of KV cache takes (every layer, K and V, float32).
  size_t kv_bytes_per_token() const;
  // The longest context a cache may have on this device (the attention kernel keeps one score
  // per position in shared memory).
  int max_context() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit CudaModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One sequence's keys and values in device memory (float32), room for `capacity` tokens. The
// CudaModel it was created for must outlive it.
class CudaKvCache {
 public:
  // Fails when capacity is not in [1, model.max_context()] or the device is out of memory.
  static Expected<std::unique_ptr<CudaKvCache>, std::string> Create(const CudaModel& model,
                                                                    int capacity);
  ~CudaKvCache();
  CudaKvCache(const CudaKvCache&) = delete;
  CudaKvCache& operator=(const CudaKvCache&) = delete;

  int size() const { return size_; }  // tokens in the cache (the next position)
  int capacity() const { return capacity_; }
  size_t bytes() const;
  void Clear() { size_ = 0; }
  // Keeps the first n tokens (0 <= n <= size()); the rest are overwritten by what comes next.
  void Truncate(int n);

  // For Forward.
  const CudaModel* model() const { return model_; }
  float* device_data() const { return data_; }
  void Advance(int n) { size_ += n; }

 private:
  CudaKvCache() = default;
  const CudaModel* model_ = nullptr;
  float* data_ = nullptr;
  size_t bytes_ = 0;
  int capacity_ = 0;
  int size_ = 0;
};

// Device working memory and the stream of one thread's forward passes; grows to the largest
// batch run and is reused. Bound to the device of the first model it runs.
class CudaScratch {
 public:
  CudaScratch();
  ~CudaScratch();
  CudaScratch(const CudaScratch&) = delete;
  CudaScratch& operator=(const CudaScratch&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

struct CudaBatchItem {
  CudaKvCache* cache = nullptr;
  std::span<const int32_t> tokens;  // appended at cache->size(); at least one
  std::span<float> logits;          // host memory, n_vocab floats: the logits after the last token
};

// As llm::Forward: runs every item's tokens through the model, appending them to its cache, and
// copies each item's last logits back to the host. Errors in the batch (a token out of the
// vocabulary, a cache without room or of another model, the same cache twice) are values naming
// the item, checked before anything runs, so nothing is appended then; a CUDA failure while it
// runs is a value too, and appends nothing. On success the value is the number of tokens run.
// Blocks until the logits are on the host.
Expected<int, std::string> Forward(const CudaModel& model, std::span<CudaBatchItem> batch,
                                   CudaScratch& scratch);

}  // namespace infergate::llm::cuda
