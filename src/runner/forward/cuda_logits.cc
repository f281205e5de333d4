// The LogitsModel on a CUDA device (`device: cuda:N`): the llm part's model uploaded once with
// llm::cuda::CudaModel::Upload, a device KV cache per sequence and a CudaScratch per thread and
// device. Built only when the CUDA backend is (CMake: if(TARGET infergate_llm_cuda)).
#include <map>
#include <vector>

#include "infergate/llm/cuda/cuda_model.h"
#include "infergate/llm/model.h"
#include "infergate/runner/logits_source.h"
#include "runner/forward/discard_logits.h"

namespace infergate::runner {
namespace {

namespace cuda = llm::cuda;

class CudaSequence final : public LogitsSequence {
 public:
  CudaSequence(std::shared_ptr<const cuda::CudaModel> model, int capacity)
      : model_(std::move(model)), capacity_(capacity) {
    auto cache = cuda::CudaKvCache::Create(*model_, capacity);
    if (cache) {
      cache_ = std::move(*cache);
    } else {
      error_ = cache.error();
    }
  }

  int size() const override { return cache_ ? cache_->size() : 0; }
  int capacity() const override { return capacity_; }

  std::optional<std::string> Append(std::span<const TokenId> tokens,
                                    std::span<float> logits) override {
    const SequenceStep step{this, tokens, logits};
    return Run(*model_, std::span(&step, 1));
  }

  // Every step's sequence is a CudaSequence of `model` (LogitsModel::AppendBatch's contract).
  static std::optional<std::string> Run(const cuda::CudaModel& model,
                                        std::span<const SequenceStep> steps) {
    // Per thread and device: a scratch is bound to the device of the first model it runs.
    thread_local std::map<int, cuda::CudaScratch> scratch;
    std::vector<cuda::CudaBatchItem> items(steps.size());
    for (size_t i = 0; i < steps.size(); ++i) {
      auto* seq = static_cast<CudaSequence*>(steps[i].sequence);
      if (!seq->cache_) return "KV cache on " + model.device().name + ": " + seq->error_;
      items[i].cache = seq->cache_.get();
      items[i].tokens = steps[i].tokens;
      items[i].logits = detail::LogitsOrDiscard(steps[i].logits, i, model.hyper().n_vocab);
    }
    auto ran = cuda::Forward(model, items, scratch[model.device().index]);
    if (!ran) return ran.error();
    return std::nullopt;
  }

 private:
  std::shared_ptr<const cuda::CudaModel> model_;
  int capacity_;
  std::unique_ptr<cuda::CudaKvCache> cache_;
  std::string error_;
};

class CudaLogits final : public LogitsModel {
 public:
  CudaLogits(std::shared_ptr<const llm::Model> host, std::shared_ptr<const cuda::CudaModel> model)
      : host_(std::move(host)), model_(std::move(model)) {}
  int n_vocab() const override { return model_->hyper().n_vocab; }
  size_t kv_bytes_per_token() const override { return model_->kv_bytes_per_token(); }
  std::unique_ptr<LogitsSequence> NewSequence(int capacity) override {
    return std::make_unique<CudaSequence>(model_, capacity);
  }
  std::optional<std::string> AppendBatch(std::span<const SequenceStep> steps,
                                         const ParallelFor& /*parallel*/) override {
    return CudaSequence::Run(*model_, steps);
  }

 private:
  std::shared_ptr<const llm::Model> host_;  // the mapping the upload was made from
  std::shared_ptr<const cuda::CudaModel> model_;
};

}  // namespace

Expected<std::shared_ptr<LogitsModel>, std::string> LoadCudaLogitsModel(
    std::shared_ptr<const llm::Model> host, int device) {
  auto model = cuda::CudaModel::Upload(*host, device);
  if (!model) return Unexpected<std::string>{model.error()};
  return std::shared_ptr<LogitsModel>(std::make_shared<CudaLogits>(std::move(host), *model));
}

}  // namespace infergate::runner
