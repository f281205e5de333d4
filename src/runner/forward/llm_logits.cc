// The LogitsModel over the llm part's forward pass: a KvCache per sequence and a Scratch per
// thread (the compartment's pool threads each keep theirs between requests). Built only when the
// llm part is (CMake: if(TARGET infergate_llm)); `device: cuda:N` goes to cuda_logits.cc when
// the CUDA backend is built too.
#include <vector>

#include "infergate/llm/model.h"
#include "infergate/runner/logits_source.h"
#include "runner/forward/discard_logits.h"

namespace infergate::runner {
namespace {

class LlmSequence final : public LogitsSequence {
 public:
  LlmSequence(std::shared_ptr<const llm::Model> model, int capacity)
      : model_(std::move(model)), cache_(*model_, capacity) {}

  int size() const override { return cache_.size(); }
  int capacity() const override { return cache_.capacity(); }

  std::optional<std::string> Append(std::span<const TokenId> tokens,
                                    std::span<float> logits) override {
    const SequenceStep step{this, tokens, logits};
    return Run(*model_, std::span(&step, 1), nullptr);
  }

  // Every step's sequence is an LlmSequence of `model` (LogitsModel::AppendBatch's contract).
  static std::optional<std::string> Run(const llm::Model& model,
                                        std::span<const SequenceStep> steps,
                                        const ParallelFor& parallel) {
    // Per thread: the pool threads keep their working memory between passes.
    thread_local llm::Scratch scratch;
    std::vector<llm::BatchItem> items(steps.size());
    for (size_t i = 0; i < steps.size(); ++i) {
      items[i].cache = &static_cast<LlmSequence*>(steps[i].sequence)->cache_;
      items[i].tokens = steps[i].tokens;
      items[i].logits = detail::LogitsOrDiscard(steps[i].logits, i, model.hyper().n_vocab);
    }
    auto ran = llm::Forward(model, items, scratch, parallel);
    if (!ran) return ran.error();
    return std::nullopt;
  }

 private:
  std::shared_ptr<const llm::Model> model_;
  llm::KvCache cache_;
};

class LlmLogits final : public LogitsModel {
 public:
  explicit LlmLogits(std::shared_ptr<const llm::Model> model) : model_(std::move(model)) {}
  int n_vocab() const override { return model_->hyper().n_vocab; }
  size_t kv_bytes_per_token() const override { return model_->kv_bytes_per_token(); }
  std::unique_ptr<LogitsSequence> NewSequence(int capacity) override {
    return std::make_unique<LlmSequence>(model_, capacity);
  }
  std::optional<std::string> AppendBatch(std::span<const SequenceStep> steps,
                                         const ParallelFor& parallel) override {
    return LlmSequence::Run(*model_, steps, parallel);
  }

 private:
  std::shared_ptr<const llm::Model> model_;
};

}  // namespace

#ifdef INFERGATE_HAVE_LLM_CUDA
// cuda_logits.cc.
Expected<std::shared_ptr<LogitsModel>, std::string> LoadCudaLogitsModel(
    std::shared_ptr<const llm::Model> host, int device);
#endif

Expected<std::shared_ptr<LogitsModel>, std::string> LoadLogitsModel(
    std::shared_ptr<const gguf::GgufFile> file, int cuda_device) {
  // A CUDA runner reads the host model only to upload it: no packed copy for the CPU kernels.
  llm::LoadOptions options;
  options.pack_weights = cuda_device < 0;
  auto model = llm::Model::FromFile(std::move(file), options);
  if (!model) return Unexpected<std::string>{model.error()};
  if (cuda_device >= 0) {
#ifdef INFERGATE_HAVE_LLM_CUDA
    return LoadCudaLogitsModel(*model, cuda_device);
#else
    return Unexpected<std::string>{"this build has no CUDA support"};
#endif
  }
  return std::shared_ptr<LogitsModel>(std::make_shared<LlmLogits>(*model));
}

}  // namespace infergate::runner
