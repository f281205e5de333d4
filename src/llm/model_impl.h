// The loaded model as the forward pass sees it: hyperparameters, each weight matrix as a view
// into the file's mapping (type, row bytes, dimensions), and the small vectors (norms, biases,
// RoPE frequencies) copied out as float once at load so the hot loops never decode them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "infergate/gguf/gguf_file.h"
#include "infergate/llm/model.h"

namespace infergate::llm {

struct PackedMatrix;  // packed.h

// A matrix with ne = [n_in, n_out]: n_out rows of n_in values, `row_bytes` apart; `packed`, when
// the model packed it, is the same rows interleaved for the AVX-512 kernels (the rows stay for
// the other kernel sets).
struct Matrix {
  std::string_view name;
  gguf::GgmlType type = gguf::GgmlType::kF32;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  int n_in = 0;
  int n_out = 0;
  const PackedMatrix* packed = nullptr;
  const uint8_t* row(int o) const { return data + static_cast<size_t>(o) * row_bytes; }
};

struct Layer {
  std::vector<float> attn_norm;
  Matrix wq, wk, wv, wo;
  std::vector<float> bq, bk, bv;  // empty when the file has none (llama)
  std::vector<float> ffn_norm;
  Matrix gate, up, down;
};

class ModelImpl final : public Model {
 public:
  const Hyper& hyper() const override { return hyper_; }
  const gguf::GgufFile& file() const override { return *file_; }
  std::shared_ptr<const gguf::GgufFile> shared_file() const override { return file_; }
  size_t kv_bytes_per_token() const override;

  Hyper hyper_;
  LoadOptions options_;
  std::shared_ptr<const gguf::GgufFile> file_;
  std::string label_;  // names the file in errors
  Matrix token_embd;
  Matrix output;  // token_embd when the file ties them
  std::vector<float> output_norm;
  std::vector<Layer> layers;
  // theta_i = pos * inv_freq[i], i < n_rot / 2: base^(-2i/n_rot), divided by rope_freqs.weight
  // and by the linear scaling factor. Double, as the angle is large at long positions.
  std::vector<double> inv_freq;
  // The first tensor whose type Dot cannot compute (LoadOptions::require_computable = false
  // lets such a file load, for inspection; Forward refuses it).
  std::string not_computable;
  // Owns what the matrices' `packed` point to.
  std::vector<std::unique_ptr<PackedMatrix>> packed_store;
  ~ModelImpl() override;
};

// Load with the name errors use for the file.
Expected<std::shared_ptr<const Model>, std::string> LoadFromFile(
    std::shared_ptr<const gguf::GgufFile> file, std::string label, const LoadOptions& options);

}  // namespace infergate::llm
