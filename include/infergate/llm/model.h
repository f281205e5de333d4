// A llama-family model read from a GGUF file, and its forward pass (issue 17, README "Local model
// runner"). The weights stay in the file's read-only mapping (one per file, shared by every
// sequence and every thread); each sequence owns a KvCache. Forward runs a batch of sequences
// through one pass, so each weight row is read once for all of them.
//
// Thread safety: a Model is immutable after Load and shared freely. A KvCache belongs to one
// sequence; Forward may run on several threads at once for disjoint batches (each with its own
// Scratch).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "infergate/core/expected.h"
#include "infergate/gguf/gguf_file.h"

namespace infergate::llm {

enum class Arch { kLlama, kQwen2 };

// The hyperparameters, from the file's `{arch}.*` metadata.
struct Hyper {
  Arch arch = Arch::kLlama;
  int n_vocab = 0;
  int n_ctx_train = 0;  // {arch}.context_length
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int n_ff = 0;
  int head_dim = 0;  // n_embd / n_head unless the file says
  int n_rot = 0;     // {arch}.rope.dimension_count, default head_dim
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  float rope_scale = 1.0f;  // the linear scaling factor: positions are multiplied by 1/factor
  bool rope_neox = false;   // qwen2 pairs (i, i + n_rot/2); llama pairs (2i, 2i+1)
};

struct LoadOptions {
  // Refuse a file whose tensors are not all of a computable type (gguf::TypeTraits::computable).
  bool require_computable = true;
  // Q8_0, Q4_K and Q6_K matmuls quantize the activation vector to 8 bits (blocks of 32 or 256
  // values, one float scale each) and use integer dot products, as llama.cpp does: 4 to 16
  // times faster, at a cost in the logits of 2 to 3% of their spread, RMS (README "Local model
  // runner"). False: every matmul in float32, within float rounding of the exact result.
  bool quantize_activations = true;
  // With quantize_activations, on a CPU with AVX2 or AVX-512: copy the Q8_0 and Q4_K matrices
  // into groups of 16 interleaved rows at load (src/llm/packed.h), which the SIMD kernels
  // multiply about twice as fast at prompts; the copy is about the size of those matrices, in
  // ordinary memory, and the file's pages for them are released (README "Local model runner").
  // False: the file's rows only.
  bool pack_weights = true;
};

class Model {
 public:
  // Opens `path` (mmap), checks the architecture is llama or qwen2, reads the hyperparameters,
  // and finds every tensor the forward pass needs with the shape the hyperparameters imply.
  // The error names the file and what is wrong.
  static Expected<std::shared_ptr<const Model>, std::string> Load(const std::string& path,
                                                                  const LoadOptions& options = {});
  // From an already opened file (tests).
  static Expected<std::shared_ptr<const Model>, std::string> FromFile(
      std::shared_ptr<const gguf::GgufFile> file, const LoadOptions& options = {});
  virtual ~Model() = default;

  virtual const Hyper& hyper() const = 0;
  virtual const gguf::GgufFile& file() const = 0;
  virtual std::shared_ptr<const gguf::GgufFile> shared_file() const = 0;
  // KV-cache bytes one token of context takes (every layer, K and V).
  virtual size_t kv_bytes_per_token() const = 0;
};

// One sequence's keys and values, room for `capacity` tokens.
class KvCache {
 public:
  KvCache(const Model& model, int capacity);
  int size() const { return size_; }  // tokens in the cache (the next position)
  int capacity() const { return capacity_; }
  size_t bytes() const;
  void Clear() { size_ = 0; }
  // Keeps the first n tokens (n <= size()).
  void Truncate(int n);

  // For the forward pass (src/llm/).
  float* keys(int layer);
  float* values(int layer);
  void Advance(int n) { size_ += n; }

 private:
  int capacity_ = 0;
  int size_ = 0;
  int n_layer_ = 0;
  size_t per_layer_ = 0;  // floats per layer for K (and for V)
  std::vector<float> data_;
};

// Working memory of the forward pass; reused across calls by one thread. It grows with the
// tokens of one Forward call (at most 3 n_embd + 2 n_ff + 4 n_head head_dim floats each, and
// n_vocab per batch item) and stays at its largest: feed long prompts in chunks of a few
// hundred tokens, which costs no speed.
class Scratch {
 public:
  Scratch();
  ~Scratch();
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Splits `n` independent pieces of work across threads: calls work(i) once for each i in
// [0, n), possibly concurrently, and returns when all are done. Null: all on the caller.
using ParallelFor = std::function<void(int n, const std::function<void(int)>& work)>;

struct BatchItem {
  KvCache* cache = nullptr;
  std::span<const int32_t> tokens;  // appended at cache->size(); at least one
  std::span<float> logits;          // n_vocab floats: the logits after the last token
};

// Runs every item's tokens through the model, appending them to its cache. Errors (a token out
// of the vocabulary, a cache without room, logits shorter than n_vocab, two items with one
// cache) are values naming the item, checked before anything is computed, so nothing is
// appended then. The value on success is the number of tokens run.
Expected<int, std::string> Forward(const Model& model, std::span<BatchItem> batch, Scratch& scratch,
                                   const ParallelFor& parallel = nullptr);

}  // namespace infergate::llm
