// The runner of `kind: gguf` (README "Local model runner"): a llama-family model from a GGUF
// file answering chat, legacy completions and Responses API requests on a compartment's thread
// pool. One loaded model per file, shared by every request and kept across config reloads while
// the file is unchanged; each request's KV cache is taken from the runner's kv_cache_bytes
// budget, and a request that cannot get it is refused so the fallback chain moves on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "infergate/config/config.h"
#include "infergate/degrade/runner.h"
#include "infergate/observability/metrics.h"
#include "infergate/runner/logits_source.h"
#include "infergate/tokenize/chat_template.h"
#include "infergate/tokenize/tokenizer.h"

namespace infergate::runner {

// KV-cache bytes of all of a runner's sequences together. Thread safe.
class KvBudget {
 public:
  explicit KvBudget(uint64_t limit) : limit_(limit) {}
  // Takes `bytes` if they fit; false (nothing taken) otherwise.
  bool TryTake(uint64_t bytes);
  void Give(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

// What a gguf runner generates with: the model (null with `unavailable` saying why, e.g. a build
// without the forward pass), its tokenizer and chat template.
struct GgufModel {
  std::shared_ptr<LogitsModel> logits;
  std::string unavailable;
  std::shared_ptr<const tokenize::Tokenizer> tokenizer;
  tokenize::ChatTemplate chat_template = tokenize::ChatTemplate::kChatMl;
};

// The series a gguf runner counts in (all labelled runner="NAME"); null members count nothing.
struct RunnerMetrics {
  observability::Counter* generated_tokens = nullptr;  // infergate_runner_generated_tokens_total
  // infergate_runner_refused_total{reason}: request (a parameter, the context), kv_cache (the
  // budget is full), unavailable (no model).
  observability::Counter* refused_request = nullptr;
  observability::Counter* refused_kv_cache = nullptr;
  observability::Counter* refused_unavailable = nullptr;
  observability::Gauge* kv_cache_bytes = nullptr;  // infergate_runner_kv_cache_bytes: in use
  // infergate_runner_passes_total and _pass_sequences_total: their ratio is the mean batch.
  observability::Counter* passes = nullptr;
  observability::Counter* pass_sequences = nullptr;
};
RunnerMetrics RegisterRunnerMetrics(observability::Registry& reg, const std::string& runner);

// The runner over an already loaded model (tests give a fake LogitsModel).
std::unique_ptr<degrade::Runner> MakeGgufRunner(const config::RunnerConfig& config, GgufModel model,
                                                RunnerMetrics metrics = {});

// Loads config.model_file (or takes the copy an earlier config loaded from the same unchanged
// file). A file that fails now (changed since the config was checked) gives a model whose
// `unavailable` says why.
GgufModel LoadGgufModel(const config::RunnerConfig& config);

// The runner a config entry names, of any kind (the isolation runtime's factory); a gguf runner
// counts in `reg`'s runner series when given.
std::unique_ptr<degrade::Runner> MakeRunner(const config::RunnerConfig& config,
                                            observability::Registry* reg = nullptr);

}  // namespace infergate::runner
