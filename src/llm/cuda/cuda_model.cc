// CudaModel::Upload (every tensor the forward pass reads, copied to the device once),
// CudaKvCache and CudaScratch.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "infergate/gguf/gguf_file.h"
#include "llm/cuda/model_impl.h"

namespace infergate::llm::cuda {
namespace {

constexpr size_t kAlign = 256;
constexpr size_t kMiB = size_t{1} << 20;
// Left free beside the weights for the CUDA context's own allocations, the KV caches and the
// scratch of the first batches; a model that only just fits would fail at its first request.
constexpr size_t kHeadroom = 256 * kMiB;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string RuntimeError(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
}

// The uploads, planned before anything is allocated so the free-memory check sees the total.
struct Plan {
  struct Piece {
    size_t offset = 0;
    const uint8_t* bytes = nullptr;  // the file's encoding, or
    std::vector<uint8_t> owned;      // values converted here (float32 vectors, double freqs)
    size_t size = 0;
  };
  std::vector<Piece> pieces;
  size_t total = 0;
  std::string error;

  size_t Add(const uint8_t* bytes, size_t size) {
    const size_t offset = total;
    pieces.push_back(Piece{offset, bytes, {}, size});
    total = AlignUp(total + size);
    return offset;
  }
  template <typename T>
  size_t AddCopy(const std::vector<T>& values) {
    const size_t offset = Add(nullptr, values.size() * sizeof(T));
    pieces.back().owned.resize(pieces.back().size);
    std::memcpy(pieces.back().owned.data(), values.data(), pieces.back().size);
    return offset;
  }
};

// The offsets found while planning become pointers once the buffer exists.
struct Fixups {
  std::vector<std::pair<const float**, size_t>> vectors;
  std::vector<std::pair<const double**, size_t>> doubles;
  std::vector<std::pair<MatrixView*, size_t>> matrices;
};

class Planner {
 public:
  Planner(const gguf::GgufFile& file, Plan& plan, Fixups& fix)
      : file_(file), plan_(plan), fix_(fix) {}

  // A matrix of n_out rows of n_in values, kept in its encoding.
  void Matrix(const std::string& name, int n_in, int n_out, MatrixView* out) {
    if (!plan_.error.empty()) return;
    const gguf::TensorInfo* t = file_.FindTensor(name);
    if (t == nullptr) return Fail("tensor '" + name + "' is missing");
    if (!KernelSupports(t->type)) {
      return Fail("tensor '" + name + "' has type " + std::string(gguf::TypeName(t->type)) +
                  ", which the CUDA kernels do not decode");
    }
    if (t->ne[0] != static_cast<uint64_t>(n_in) || t->rows() != static_cast<uint64_t>(n_out)) {
      return Fail("tensor '" + name + "' is not " + std::to_string(n_in) + " x " +
                  std::to_string(n_out));
    }
    *out = MatrixView{nullptr, t->type, n_in, n_out, static_cast<size_t>(t->row_bytes())};
    fix_.matrices.emplace_back(out, plan_.Add(t->data, static_cast<size_t>(t->n_bytes)));
  }

  // A vector of n values, converted to float32 (norm weights, biases). Absent and not
  // required: *out stays null.
  void Vector(const std::string& name, int n, bool required, const float** out) {
    if (!plan_.error.empty()) return;
    const gguf::TensorInfo* t = file_.FindTensor(name);
    if (t == nullptr) {
      if (required) Fail("tensor '" + name + "' is missing");
      return;
    }
    if (t->n_elements != static_cast<uint64_t>(n)) {
      return Fail("tensor '" + name + "' does not have " + std::to_string(n) + " values");
    }
    std::vector<float> values(static_cast<size_t>(n));
    if (!gguf::Dequantize(t->type, t->data, values.size(), values.data())) {
      return Fail("tensor '" + name + "' has type " + std::string(gguf::TypeName(t->type)) +
                  ", which cannot be converted to float");
    }
    fix_.vectors.emplace_back(out, plan_.AddCopy(values));
  }

  // The RoPE frequencies, computed here.
  void Doubles(const std::vector<double>& values, const double** out) {
    fix_.doubles.emplace_back(out, plan_.AddCopy(values));
  }

 private:
  void Fail(std::string message) { plan_.error = std::move(message); }
  const gguf::GgufFile& file_;
  Plan& plan_;
  Fixups& fix_;
};

// As the CPU pass computes them (src/llm/model.cc): base^(-2i/n_rot) / linear factor, divided by
// rope_freqs.weight[i] when the file has it; kept in double, as the CPU keeps them.
Expected<std::vector<double>, std::string> RopeFrequencies(const gguf::GgufFile& file,
                                                           const Hyper& h) {
  const int half = h.n_rot / 2;
  std::vector<float> freqs(static_cast<size_t>(half), 1.0f);
  if (const gguf::TensorInfo* t = file.FindTensor("rope_freqs.weight"); t != nullptr) {
    if (t->n_elements != static_cast<uint64_t>(half) ||
        !gguf::Dequantize(t->type, t->data, freqs.size(), freqs.data())) {
      return MakeUnexpected(std::string("tensor 'rope_freqs.weight' is not n_rot/2 floats"));
    }
  }
  std::vector<double> inv(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(h.rope_base), -2.0 * i / h.n_rot) /
               static_cast<double>(h.rope_scale);
    f /= static_cast<double>(freqs[static_cast<size_t>(i)]);
    inv[static_cast<size_t>(i)] = f;
  }
  return inv;
}

}  // namespace

CudaModel::CudaModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaModel::~CudaModel() = default;
const Hyper& CudaModel::hyper() const { return impl_->hyper; }
const DeviceInfo& CudaModel::device() const { return impl_->device; }
size_t CudaModel::weight_bytes() const { return impl_->weight_bytes; }
int CudaModel::max_context() const { return impl_->max_context; }
size_t CudaModel::kv_bytes_per_token() const {
  const Hyper& h = impl_->hyper;
  return static_cast<size_t>(h.n_layer) * 2 * h.n_head_kv * h.head_dim * sizeof(float);
}

Expected<std::shared_ptr<const CudaModel>, std::string> CudaModel::Upload(const Model& model,
                                                                          int device) {
  auto info = CheckDevice(device);
  if (!info) return MakeUnexpected(info.error());
  const std::string label = "device cuda:" + std::to_string(device) + " (" + info->name + ")";
  auto impl = std::make_unique<Impl>();
  impl->hyper = model.hyper();
  impl->device = *info;
  const Hyper& h = impl->hyper;
  if (h.n_head <= 0 || h.n_head_kv <= 0 || h.n_head % h.n_head_kv != 0 || h.n_rot > h.head_dim) {
    return MakeUnexpected(label + ": the model's head counts do not allow grouped-query attention");
  }

  const gguf::GgufFile& file = model.file();
  Plan plan;
  Fixups fix;
  Planner p(file, plan, fix);
  const int q_dim = h.n_head * h.head_dim;
  const int kv_dim = h.n_head_kv * h.head_dim;
  p.Matrix("token_embd.weight", h.n_embd, h.n_vocab, &impl->token_embd);
  p.Vector("output_norm.weight", h.n_embd, true, &impl->output_norm);
  const bool tied = file.FindTensor("output.weight") == nullptr;
  if (!tied) p.Matrix("output.weight", h.n_embd, h.n_vocab, &impl->output);
  impl->layers.resize(static_cast<size_t>(h.n_layer));
  for (int i = 0; i < h.n_layer; ++i) {
    LayerWeights& l = impl->layers[static_cast<size_t>(i)];
    const std::string b = "blk." + std::to_string(i) + ".";
    p.Vector(b + "attn_norm.weight", h.n_embd, true, &l.attn_norm);
    p.Matrix(b + "attn_q.weight", h.n_embd, q_dim, &l.wq);
    p.Matrix(b + "attn_k.weight", h.n_embd, kv_dim, &l.wk);
    p.Matrix(b + "attn_v.weight", h.n_embd, kv_dim, &l.wv);
    // qwen2 always has Q/K/V biases; a llama file may.
    const bool biases = h.arch == Arch::kQwen2;
    p.Vector(b + "attn_q.bias", q_dim, biases, &l.bq);
    p.Vector(b + "attn_k.bias", kv_dim, biases, &l.bk);
    p.Vector(b + "attn_v.bias", kv_dim, biases, &l.bv);
    p.Matrix(b + "attn_output.weight", q_dim, h.n_embd, &l.wo);
    p.Vector(b + "ffn_norm.weight", h.n_embd, true, &l.ffn_norm);
    p.Matrix(b + "ffn_gate.weight", h.n_embd, h.n_ff, &l.gate);
    p.Matrix(b + "ffn_up.weight", h.n_embd, h.n_ff, &l.up);
    p.Matrix(b + "ffn_down.weight", h.n_ff, h.n_embd, &l.down);
  }
  if (!plan.error.empty()) return MakeUnexpected(label + ": " + plan.error);
  auto freqs = RopeFrequencies(file, h);
  if (!freqs) return MakeUnexpected(label + ": " + freqs.error());
  p.Doubles(*freqs, &impl->inv_freq);

  if (plan.total + kHeadroom > info->free_bytes) {
    return MakeUnexpected(label + ": the model's weights need " +
                          std::to_string(plan.total / kMiB + 1) + " MiB of device memory (and " +
                          std::to_string(kHeadroom / kMiB) + " MiB to work in); " +
                          std::to_string(info->free_bytes / kMiB) + " MiB of " +
                          std::to_string(info->total_bytes / kMiB) + " MiB are free");
  }
  if (cudaError_t e = impl->weights.Allocate(plan.total); e != cudaSuccess) {
    return MakeUnexpected(label + ": cannot allocate " + std::to_string(plan.total / kMiB + 1) +
                          " MiB for the weights: " + RuntimeError(e));
  }
  auto* base = impl->weights.get<uint8_t>();
  for (const Plan::Piece& piece : plan.pieces) {
    const void* src = piece.bytes != nullptr ? piece.bytes : piece.owned.data();
    if (cudaError_t e = cudaMemcpy(base + piece.offset, src, piece.size, cudaMemcpyHostToDevice);
        e != cudaSuccess) {
      return MakeUnexpected(label + ": uploading the weights failed: " + RuntimeError(e));
    }
  }
  for (auto& [ptr, offset] : fix.vectors) *ptr = reinterpret_cast<const float*>(base + offset);
  for (auto& [ptr, offset] : fix.doubles) *ptr = reinterpret_cast<const double*>(base + offset);
  for (auto& [view, offset] : fix.matrices) view->data = base + offset;
  if (tied) impl->output = impl->token_embd;
  impl->weight_bytes = plan.total;
  impl->max_context = MaxAttentionPositions(info->shared_per_block_optin, h.head_dim);
  return std::shared_ptr<const CudaModel>(new CudaModel(std::move(impl)));
}

Expected<std::unique_ptr<CudaKvCache>, std::string> CudaKvCache::Create(const CudaModel& model,
                                                                        int capacity) {
  const std::string label = "KV cache on device cuda:" + std::to_string(model.device().index);
  if (capacity < 1 || capacity > model.max_context()) {
    return MakeUnexpected(label + ": a capacity of " + std::to_string(capacity) +
                          " tokens is not in 1.." + std::to_string(model.max_context()) +
                          " (the attention kernel's shared memory bounds the context)");
  }
  if (cudaError_t e = cudaSetDevice(model.device().index); e != cudaSuccess) {
    return MakeUnexpected(label + ": " + RuntimeError(e));
  }
  const size_t bytes = model.kv_bytes_per_token() * static_cast<size_t>(capacity);
  std::unique_ptr<CudaKvCache> cache(new CudaKvCache());
  void* data = nullptr;
  if (cudaError_t e = cudaMalloc(&data, bytes); e != cudaSuccess) {
    cudaGetLastError();
    return MakeUnexpected(label + ": cannot allocate " + std::to_string(bytes / kMiB + 1) +
                          " MiB for " + std::to_string(capacity) + " tokens: " + RuntimeError(e));
  }
  cache->model_ = &model;
  cache->data_ = static_cast<float*>(data);
  cache->bytes_ = bytes;
  cache->capacity_ = capacity;
  return cache;
}

CudaKvCache::~CudaKvCache() {
  if (data_ != nullptr) cudaFree(data_);
}
size_t CudaKvCache::bytes() const { return bytes_; }
void CudaKvCache::Truncate(int n) {
  if (n >= 0 && n < size_) size_ = n;
}

CudaScratch::CudaScratch() : impl_(std::make_unique<Impl>()) {}
CudaScratch::~CudaScratch() = default;

CudaScratch::Impl::~Impl() {
  if (stream != nullptr) cudaStreamDestroy(stream);
}

std::string CudaScratch::Impl::Prepare(const CudaModel::Impl& m, int n_tokens, int n_items) {
  if (device != m.device.index) {
    // Buffers and the stream of another device go.
    for (DeviceBuffer* b :
         {&x, &xn, &q, &k, &v, &attn, &gate, &up, &last, &logits, &rope, &ids, &slots, &rows}) {
      b->Reset();
    }
    if (stream != nullptr) cudaStreamDestroy(stream);
    stream = nullptr;
    device = -1;
    if (cudaError_t e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
        e != cudaSuccess) {
      stream = nullptr;
      return "cannot create a CUDA stream: " + RuntimeError(e);
    }
    device = m.device.index;
  }
  const Hyper& h = m.hyper;
  const size_t t = static_cast<size_t>(n_tokens);
  const size_t f = sizeof(float);
  const struct {
    DeviceBuffer* buffer;
    size_t bytes;
  } needs[] = {
      {&x, t * h.n_embd * f},
      {&xn, t * h.n_embd * f},
      {&q, t * h.n_head * h.head_dim * f},
      {&k, t * h.n_head_kv * h.head_dim * f},
      {&v, t * h.n_head_kv * h.head_dim * f},
      {&attn, t * h.n_head * h.head_dim * f},
      {&gate, t * h.n_ff * f},
      {&up, t * h.n_ff * f},
      {&last, static_cast<size_t>(n_items) * h.n_embd * f},
      {&logits, static_cast<size_t>(n_items) * h.n_vocab * f},
      {&rope, t * static_cast<size_t>(h.n_rot / 2) * 2 * f},
      {&ids, t * sizeof(int32_t)},
      {&slots, t * sizeof(TokenSlot)},
      {&rows, static_cast<size_t>(n_items) * sizeof(int32_t)},
  };
  for (const auto& need : needs) {
    if (need.buffer->bytes() >= need.bytes) continue;
    // Half again as much, so a batch that grows by a token does not reallocate every time.
    const size_t bytes = need.bytes + need.bytes / 2;
    if (cudaError_t e = need.buffer->Allocate(bytes); e != cudaSuccess) {
      return "cannot allocate " + std::to_string(bytes / kMiB + 1) + " MiB of working memory for " +
             std::to_string(n_tokens) + " tokens: " + RuntimeError(e);
    }
  }
  return {};
}

}  // namespace infergate::llm::cuda
