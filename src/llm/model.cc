// Model::Load: the architecture, the hyperparameters (with llama.cpp's defaults for absent keys)
// and every tensor the forward pass reads, each checked for the exact shape the hyperparameters
// imply, so that Forward can index the weights without further checks.
#include <cmath>
#include <sstream>

#include "llm/model_impl.h"
#include "llm/packed.h"
#include "llm/qkernels.h"

namespace infergate::llm {
namespace {

using Error = Unexpected<std::string>;

std::string ShapeText(const std::array<uint64_t, 4>& ne, uint32_t n_dims) {
  std::ostringstream out;
  out << '[';
  for (uint32_t i = 0; i < n_dims; ++i) out << (i ? ", " : "") << ne[i];
  out << ']';
  return out.str();
}

std::string ShapeText(const std::vector<uint64_t>& ne) {
  std::array<uint64_t, 4> a{1, 1, 1, 1};
  for (size_t i = 0; i < ne.size() && i < 4; ++i) a[i] = ne[i];
  return ShapeText(a, static_cast<uint32_t>(ne.size()));
}

// Reads the model's keys; everything here is positive and fits an int, or an error names the key.
class Keys {
 public:
  Keys(const gguf::GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

  // `{arch}.suffix`, or `fallback` when absent (fallback < 0: the key is required).
  Expected<int, std::string> Int(const std::string& suffix, int64_t fallback = -1) const {
    const std::string key = arch_ + "." + suffix;
    if (file_.Find(key) == nullptr) {
      if (fallback < 0) return Error{"missing metadata key " + key};
      return static_cast<int>(fallback);
    }
    auto v = file_.GetInt(key);
    if (!v) return Error{v.error()};
    if (*v <= 0 || *v > (int64_t{1} << 30)) {
      return Error{key + " = " + std::to_string(*v) + " is out of range"};
    }
    return static_cast<int>(*v);
  }
  Expected<double, std::string> Float(const std::string& suffix, double fallback) const {
    const std::string key = arch_ + "." + suffix;
    if (file_.Find(key) == nullptr) return fallback;
    auto v = file_.GetFloat(key);
    if (!v) return Error{v.error()};
    if (!std::isfinite(*v) || *v <= 0) return Error{key + " is not a positive number"};
    return *v;
  }
  bool Has(const std::string& suffix) const { return file_.Find(arch_ + "." + suffix) != nullptr; }
  std::string Key(const std::string& suffix) const { return arch_ + "." + suffix; }

 private:
  const gguf::GgufFile& file_;
  std::string arch_;
};

Expected<Hyper, std::string> ReadHyper(const gguf::GgufFile& file) {
  auto arch_name = file.GetString("general.architecture");
  if (!arch_name) return Error{arch_name.error()};
  Hyper h;
  if (*arch_name == "llama") {
    h.arch = Arch::kLlama;
  } else if (*arch_name == "qwen2") {
    h.arch = Arch::kQwen2;
    h.rope_neox = true;
  } else {
    return Error{"architecture '" + std::string(*arch_name) +
                 "' is not supported (supported: llama, qwen2)"};
  }
  const Keys keys(file, std::string(*arch_name));
  // Each field in turn; the first failure is the error.
  std::string err;
  auto get = [&err](Expected<int, std::string> v, int* out) {
    if (!err.empty()) return;
    if (v) {
      *out = *v;
    } else {
      err = v.error();
    }
  };
  get(keys.Int("context_length"), &h.n_ctx_train);
  get(keys.Int("embedding_length"), &h.n_embd);
  get(keys.Int("block_count"), &h.n_layer);
  get(keys.Int("feed_forward_length"), &h.n_ff);
  get(keys.Int("attention.head_count"), &h.n_head);
  if (!err.empty()) return Error{err};
  get(keys.Int("attention.head_count_kv", h.n_head), &h.n_head_kv);
  if (!err.empty()) return Error{err};
  if (!keys.Has("attention.key_length") && h.n_embd % h.n_head != 0) {
    return Error{"embedding_length " + std::to_string(h.n_embd) +
                 " is not a multiple of head_count " + std::to_string(h.n_head)};
  }
  get(keys.Int("attention.key_length", h.n_embd / h.n_head), &h.head_dim);
  int value_length = 0;
  get(keys.Int("attention.value_length", h.head_dim), &value_length);
  if (!err.empty()) return Error{err};
  get(keys.Int("rope.dimension_count", h.head_dim), &h.n_rot);
  if (!err.empty()) return Error{err};
  if (value_length != h.head_dim) {
    return Error{"attention.value_length " + std::to_string(value_length) +
                 " differs from key_length " + std::to_string(h.head_dim) + " (not supported)"};
  }
  if (int64_t{h.n_head} * h.head_dim > (int64_t{1} << 30)) {
    return Error{"head_count " + std::to_string(h.n_head) + " times key_length " +
                 std::to_string(h.head_dim) + " is out of range"};
  }
  if (h.n_head % h.n_head_kv != 0) {
    return Error{"head_count " + std::to_string(h.n_head) + " is not a multiple of head_count_kv " +
                 std::to_string(h.n_head_kv)};
  }
  if (h.n_rot > h.head_dim || h.n_rot % 2 != 0) {
    return Error{"rope.dimension_count " + std::to_string(h.n_rot) +
                 " must be even and at most the head size " + std::to_string(h.head_dim)};
  }
  auto eps = keys.Float("attention.layer_norm_rms_epsilon", 1e-5);
  if (!eps) return Error{eps.error()};
  h.rms_eps = static_cast<float>(*eps);
  auto base = keys.Float("rope.freq_base", 10000.0);
  if (!base) return Error{base.error()};
  h.rope_base = static_cast<float>(*base);
  // Linear scaling: the current key, or the older rope.scale_linear.
  if (keys.Has("rope.scaling.type")) {
    auto type = file.GetString(keys.Key("rope.scaling.type"));
    if (!type) return Error{type.error()};
    if (*type == "linear") {
      auto factor = keys.Float("rope.scaling.factor", 1.0);
      if (!factor) return Error{factor.error()};
      h.rope_scale = static_cast<float>(*factor);
    } else if (*type != "none") {
      return Error{"rope scaling '" + std::string(*type) +
                   "' is not supported (supported: none, linear)"};
    }
  } else if (keys.Has("rope.scale_linear")) {
    auto factor = keys.Float("rope.scale_linear", 1.0);
    if (!factor) return Error{factor.error()};
    h.rope_scale = static_cast<float>(*factor);
  }
  return h;
}

// Finds tensors and checks them; the first problem is kept in `error`.
class TensorCheck {
 public:
  TensorCheck(const gguf::GgufFile& file, const LoadOptions& options, ModelImpl& model)
      : file_(file), options_(options), model_(model) {}

  const gguf::TensorInfo* Find(const std::string& name, const std::vector<uint64_t>& shape,
                               bool required) {
    if (!error.empty()) return nullptr;
    const gguf::TensorInfo* t = file_.FindTensor(name);
    if (t == nullptr) {
      if (required)
        error = "tensor " + name + " is missing (expected shape " + ShapeText(shape) + ")";
      return nullptr;
    }
    bool same = t->n_dims <= 4 && t->n_dims >= 1;
    for (size_t i = 0; i < 4 && same; ++i) {
      same = t->ne[i] == (i < shape.size() ? shape[i] : 1);
    }
    if (!same) {
      error = "tensor " + name + " has shape " + ShapeText(t->ne, t->n_dims) + ", expected " +
              ShapeText(shape);
      return nullptr;
    }
    if (!gguf::Traits(t->type).computable) {
      const std::string what = "tensor " + name + " has type " +
                               std::string(gguf::TypeName(t->type)) +
                               ", which the runner cannot compute with (f32, f16, bf16, q8_0, "
                               "q4_0, q4_K, q6_K)";
      if (options_.require_computable) {
        error = what;
        return nullptr;
      }
      if (model_.not_computable.empty()) model_.not_computable = what;
    }
    return t;
  }

  Matrix Mat(const std::string& name, int n_in, int n_out, bool required = true) {
    Matrix m;
    const gguf::TensorInfo* t = Find(name, {uint64_t(n_in), uint64_t(n_out)}, required);
    if (t == nullptr) return m;
    m.name = t->name;
    m.type = t->type;
    m.data = t->data;
    m.row_bytes = t->row_bytes();
    m.n_in = n_in;
    m.n_out = n_out;
    return m;
  }

  std::vector<float> Vec(const std::string& name, int n, bool required = true) {
    const gguf::TensorInfo* t = Find(name, {uint64_t(n)}, required);
    if (t == nullptr) return {};
    std::vector<float> v(static_cast<size_t>(n));
    if (!gguf::Dequantize(t->type, t->data, v.size(), v.data())) {
      if (error.empty()) error = "tensor " + name + " cannot be decoded";
      return {};
    }
    return v;
  }

  std::string error;

 private:
  const gguf::GgufFile& file_;
  const LoadOptions& options_;
  ModelImpl& model_;
};

}  // namespace

ModelImpl::~ModelImpl() = default;

namespace {

// Packs every matrix the best kernel set can take in packed form (packed.h), when that set is the
// one Forward will use.
void PackWeights(ModelImpl& model) {
  const QKernels& kernels = BestKernels();
  if (kernels.packed.q8_0 == nullptr) return;
  auto pack = [&model, &kernels](Matrix& m) {
    if (!Packable(m) || (m.type == gguf::GgmlType::kQ6_K && kernels.packed.q6_k == nullptr)) return;
    auto packed = Pack(m);
    if (packed == nullptr) return;  // no memory for the copy: the rows still serve
    m.packed = packed.get();
    model.packed_store.push_back(std::move(packed));
    // The rows are not read again by this kernel set: their pages can leave memory.
    model.file_->shared_mapping()->Release(m.data, m.row_bytes * static_cast<size_t>(m.n_out));
  };
  for (Layer& l : model.layers) {
    for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) pack(*m);
  }
  pack(model.output);
}

}  // namespace

size_t ModelImpl::kv_bytes_per_token() const {
  return 2 * sizeof(float) * static_cast<size_t>(hyper_.n_layer) * hyper_.n_head_kv *
         hyper_.head_dim;
}

Expected<std::shared_ptr<const Model>, std::string> LoadFromFile(
    std::shared_ptr<const gguf::GgufFile> file, std::string label, const LoadOptions& options) {
  if (file == nullptr) return Error{label + ": no file"};
  auto hyper = ReadHyper(*file);
  if (!hyper) return Error{label + ": " + hyper.error()};
  auto model = std::make_shared<ModelImpl>();
  model->hyper_ = *hyper;
  model->options_ = options;
  model->file_ = file;
  model->label_ = label;
  Hyper& h = model->hyper_;

  // The vocabulary is token_embd's row count; its row length must be n_embd.
  const gguf::TensorInfo* embd = file->FindTensor("token_embd.weight");
  if (embd == nullptr) return Error{label + ": tensor token_embd.weight is missing"};
  if (embd->n_dims != 2 || embd->ne[1] == 0 || embd->ne[1] > (uint64_t{1} << 30)) {
    return Error{label + ": tensor token_embd.weight has shape " +
                 ShapeText(embd->ne, embd->n_dims) + ", expected [" + std::to_string(h.n_embd) +
                 ", n_vocab]"};
  }
  h.n_vocab = static_cast<int>(embd->ne[1]);

  TensorCheck check(*file, options, *model);
  const int q_dim = h.n_head * h.head_dim;
  const int kv_dim = h.n_head_kv * h.head_dim;
  model->token_embd = check.Mat("token_embd.weight", h.n_embd, h.n_vocab);
  model->output_norm = check.Vec("output_norm.weight", h.n_embd);
  model->output = check.Mat("output.weight", h.n_embd, h.n_vocab, /*required=*/false);
  if (model->output.data == nullptr) model->output = model->token_embd;
  const bool biases = h.arch == Arch::kQwen2;
  model->layers.resize(static_cast<size_t>(h.n_layer));
  for (int i = 0; i < h.n_layer && check.error.empty(); ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    Layer& l = model->layers[static_cast<size_t>(i)];
    l.attn_norm = check.Vec(p + "attn_norm.weight", h.n_embd);
    l.wq = check.Mat(p + "attn_q.weight", h.n_embd, q_dim);
    l.wk = check.Mat(p + "attn_k.weight", h.n_embd, kv_dim);
    l.wv = check.Mat(p + "attn_v.weight", h.n_embd, kv_dim);
    // qwen2 always has Q/K/V biases; a llama file may (llama.cpp reads them when present).
    l.bq = check.Vec(p + "attn_q.bias", q_dim, biases);
    l.bk = check.Vec(p + "attn_k.bias", kv_dim, biases);
    l.bv = check.Vec(p + "attn_v.bias", kv_dim, biases);
    l.wo = check.Mat(p + "attn_output.weight", q_dim, h.n_embd);
    l.ffn_norm = check.Vec(p + "ffn_norm.weight", h.n_embd);
    l.gate = check.Mat(p + "ffn_gate.weight", h.n_embd, h.n_ff);
    l.up = check.Mat(p + "ffn_up.weight", h.n_embd, h.n_ff);
    l.down = check.Mat(p + "ffn_down.weight", h.n_ff, h.n_embd);
  }
  const std::vector<float> freqs = check.Vec("rope_freqs.weight", h.n_rot / 2, false);
  if (!check.error.empty()) return Error{label + ": " + check.error};

  model->inv_freq.resize(static_cast<size_t>(h.n_rot / 2));
  for (int i = 0; i < h.n_rot / 2; ++i) {
    double f = std::pow(static_cast<double>(h.rope_base), -2.0 * i / h.n_rot) /
               static_cast<double>(h.rope_scale);
    if (!freqs.empty()) f /= static_cast<double>(freqs[static_cast<size_t>(i)]);
    model->inv_freq[static_cast<size_t>(i)] = f;
  }
  if (options.quantize_activations && options.pack_weights) PackWeights(*model);
  return std::shared_ptr<const Model>(std::move(model));
}

Expected<std::shared_ptr<const Model>, std::string> Model::Load(const std::string& path,
                                                                const LoadOptions& options) {
  auto file = gguf::GgufFile::Open(path);
  if (!file) return Error{file.error()};  // already starts with the path
  return LoadFromFile(*file, path, options);
}

Expected<std::shared_ptr<const Model>, std::string> Model::FromFile(
    std::shared_ptr<const gguf::GgufFile> file, const LoadOptions& options) {
  return LoadFromFile(std::move(file), "gguf file", options);
}

}  // namespace infergate::llm
