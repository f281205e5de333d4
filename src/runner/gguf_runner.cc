// GgufRunner: request -> prompt tokens -> KV budget -> sequence -> the generation loop. The
// loaded models are cached by file identity (device, inode, size, modification time) in a map of
// weak references: a reload that keeps the file shares the mapping and the tokenizer with the
// runner it replaces, and the last runner to let go unmaps it.
#include "infergate/runner/gguf_runner.h"

#include <sys/stat.h>

#include <map>
#include <mutex>
#include <tuple>

#include "infergate/core/log.h"
#include "infergate/gguf/gguf_file.h"
#include "infergate/gguf/vocab_reader.h"
#include "infergate/runner/generate.h"
#include "infergate/runner/group_step.h"
#include "infergate/runner/prompt.h"

namespace infergate::runner {

bool KvBudget::TryTake(uint64_t bytes) {
  uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ || used > limit_ - bytes) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return true;
}

namespace {

void Count(observability::Counter* c, uint64_t n = 1) {
  if (c != nullptr) c->Inc(n);
}

// Gives a sequence's bytes back to the budget (and the gauge) when the request ends, however it
// ends.
class KvLease {
 public:
  KvLease(KvBudget& budget, uint64_t bytes, observability::Gauge* gauge)
      : budget_(budget), bytes_(bytes), gauge_(gauge) {
    if (gauge_ != nullptr) gauge_->Add(static_cast<int64_t>(bytes_));
  }
  ~KvLease() {
    budget_.Give(bytes_);
    if (gauge_ != nullptr) gauge_->Add(-static_cast<int64_t>(bytes_));
  }
  KvLease(const KvLease&) = delete;
  KvLease& operator=(const KvLease&) = delete;

 private:
  KvBudget& budget_;
  uint64_t bytes_;
  observability::Gauge* gauge_;
};

class GgufRunner final : public degrade::Runner {
 public:
  GgufRunner(const config::RunnerConfig& config, GgufModel model, RunnerMetrics metrics)
      : name_(config.name),
        context_(static_cast<int>(config.context)),
        default_max_tokens_(static_cast<int>(config.max_tokens)),
        model_(std::move(model)),
        budget_(BudgetBytes(config, model_)),
        metrics_(metrics) {
    if (model_.logits) {
      group_ =
          std::make_unique<GroupStep>(*model_.logits, metrics_.passes, metrics_.pass_sequences);
    }
    if (!model_.logits) {
      IG_WARN("runner %s cannot generate: %s", name_.c_str(), model_.unavailable.c_str());
    }
  }

  degrade::RunResult Generate(const degrade::RunRequest& run,
                              const std::function<bool(const degrade::RunPiece&)>& emit) override {
    degrade::RunResult result;
    if (!model_.logits) {
      Count(metrics_.refused_unavailable);
      result.error = model_.unavailable;
      return result;
    }
    auto request = ParseGenerationRequest(run.prompt, run.endpoint);
    if (!request) return Refuse(request.error());
    auto prompt = BuildPrompt(*model_.tokenizer, model_.chat_template, *request);
    if (!prompt) return Refuse(prompt.error());
    const int n_prompt = static_cast<int>(prompt->size());
    result.prompt_tokens = prompt->size();
    const std::string param = PromptParam(run.endpoint);
    if (n_prompt == 0) return Refuse({"the prompt is empty", param, false});
    if (n_prompt > context_ - 1) {
      // OpenAI's context_length_exceeded (a 400 when no later fallback answers; see README).
      return Refuse(
          {"This model's maximum context length is " + std::to_string(context_) +
               " tokens, of which at most " + std::to_string(context_ - 1) +
               " can be the prompt. However, your " + param + " resulted in " +
               std::to_string(n_prompt) + " tokens. Please reduce the length of the " + param + ".",
           param, /*context_length_exceeded=*/true},
          prompt->size());
    }
    const int wanted = request->max_tokens
                           ? static_cast<int>(std::min<uint32_t>(*request->max_tokens, 1u << 30))
                           : default_max_tokens_;
    GenerateLimits limits;
    limits.max_tokens = std::min(wanted, context_ - n_prompt);
    limits.seed = request->seed ? *request->seed : RandomSeed();
    const int capacity = n_prompt + limits.max_tokens;
    const uint64_t bytes = static_cast<uint64_t>(capacity) * model_.logits->kv_bytes_per_token();
    if (!budget_.TryTake(bytes)) {
      Count(metrics_.refused_kv_cache);
      result.error = "its KV cache budget is full (" + std::to_string(budget_.used()) + " of " +
                     std::to_string(budget_.limit()) + " bytes in use, this request needs " +
                     std::to_string(bytes) + ")";
      return result;
    }
    KvLease lease(budget_, bytes, metrics_.kv_cache_bytes);
    // Concurrent requests of this runner decode together (group_step.h).
    std::unique_ptr<LogitsSequence> sequence = group_->Wrap(model_.logits->NewSequence(capacity));
    degrade::RunResult r = runner::Generate(*sequence, model_.logits->n_vocab(), *model_.tokenizer,
                                            *prompt, *request, limits, emit);
    Count(metrics_.generated_tokens, r.completion_tokens.value_or(0));
    return r;
  }

 private:
  // A request this runner cannot answer as sent: a client fault the chain may turn into a 400
  // (RunResult::invalid), its text also in `error` for the 503 when a later step fails otherwise.
  degrade::RunResult Refuse(const RequestError& e, uint64_t prompt_tokens = 0) const {
    Count(metrics_.refused_request);
    degrade::RunResult r;
    r.prompt_tokens = prompt_tokens;
    r.error = (e.context_length_exceeded ? "context_length_exceeded: "
               : e.param.empty()         ? ""
                                         : e.param + ": ") +
              e.message;
    r.invalid = Error{e.context_length_exceeded ? ErrorKind::kContextLengthExceeded
                                                : ErrorKind::kInvalidParameter,
                      e.message, e.param};
    return r;
  }

  // The parameter that holds the prompt: OpenAI's `param` for a prompt that does not fit.
  static std::string PromptParam(degrade::Endpoint endpoint) {
    switch (endpoint) {
      case degrade::Endpoint::kCompletions:
        return "prompt";
      case degrade::Endpoint::kResponses:
        return "input";
      default:
        return "messages";
    }
  }

  static uint64_t BudgetBytes(const config::RunnerConfig& c, const GgufModel& m) {
    if (c.kv_cache_bytes != 0) return c.kv_cache_bytes;
    if (!m.logits) return 0;
    return static_cast<uint64_t>(config::RunnerConfig::kDefaultKvSequences) * c.context *
           m.logits->kv_bytes_per_token();
  }

  const std::string name_;
  const int context_;
  const int default_max_tokens_;
  const GgufModel model_;
  KvBudget budget_;
  const RunnerMetrics metrics_;
  std::unique_ptr<GroupStep> group_;
};

struct FileKey {
  dev_t dev;
  ino_t ino;
  off_t size;
  int64_t mtime_ns;
  std::string template_name;
  int cuda_device;
  auto operator<=>(const FileKey&) const = default;
};

// The parts of a GgufModel worth sharing between runners of one file.
struct Loaded {
  std::shared_ptr<const gguf::GgufFile> file;
  std::shared_ptr<const tokenize::Tokenizer> tokenizer;
  std::shared_ptr<LogitsModel> logits;
  std::string unavailable;
};

std::mutex cache_mu;
std::map<FileKey, std::weak_ptr<Loaded>> cache;

GgufModel Unavailable(std::string why) {
  GgufModel m;
  m.unavailable = std::move(why);
  return m;
}

}  // namespace

RunnerMetrics RegisterRunnerMetrics(observability::Registry& reg, const std::string& runner) {
  const std::string label = "runner=\"" + observability::Registry::EscapeLabel(runner) + "\"";
  auto refused = [&](std::string_view reason) {
    return reg.GetCounter("infergate_runner_refused_total",
                          "Requests a model runner refused before generating, by reason (request: "
                          "a parameter or the context; kv_cache: the budget is full; "
                          "unavailable: no model).",
                          label + ",reason=\"" + std::string(reason) + "\"");
  };
  RunnerMetrics m;
  m.generated_tokens = reg.GetCounter("infergate_runner_generated_tokens_total",
                                      "Tokens a model runner generated.", label);
  m.refused_request = refused("request");
  m.refused_kv_cache = refused("kv_cache");
  m.refused_unavailable = refused("unavailable");
  m.kv_cache_bytes = reg.GetGauge("infergate_runner_kv_cache_bytes",
                                  "KV-cache bytes a model runner's requests hold now.", label);
  m.passes =
      reg.GetCounter("infergate_runner_passes_total",
                     "Forward passes a model runner ran (each over one or more requests).", label);
  m.pass_sequences = reg.GetCounter(
      "infergate_runner_pass_sequences_total",
      "Sequences in a model runner's passes (divided by passes: the mean batch).", label);
  return m;
}

std::unique_ptr<degrade::Runner> MakeGgufRunner(const config::RunnerConfig& config, GgufModel model,
                                                RunnerMetrics metrics) {
  return std::make_unique<GgufRunner>(config, std::move(model), metrics);
}

GgufModel LoadGgufModel(const config::RunnerConfig& config) {
  const std::string& path = config.model_file;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Unavailable("cannot stat " + path);
  auto chat_template = tokenize::ChatTemplateNamed(config.resolved_template);
  if (!chat_template) return Unavailable(chat_template.error().message);
  const FileKey key{st.st_dev,
                    st.st_ino,
                    st.st_size,
                    static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                    config.resolved_template,
                    config.cuda_device};
  std::lock_guard<std::mutex> lock(cache_mu);
  std::shared_ptr<Loaded> loaded = cache[key].lock();
  if (!loaded) {
    loaded = std::make_shared<Loaded>();
    auto file = gguf::GgufFile::Open(path);
    if (!file) return Unavailable(file.error());
    loaded->file = *file;
    auto vocab = gguf::ReadVocab(**file);
    if (!vocab) return Unavailable(path + ": " + vocab.error());
    auto tokenizer = tokenize::Tokenizer::Create(std::move(*vocab));
    if (!tokenizer) return Unavailable(path + ": " + tokenizer.error().message);
    loaded->tokenizer = std::make_shared<const tokenize::Tokenizer>(std::move(*tokenizer));
    auto logits = LoadLogitsModel(loaded->file, config.cuda_device);
    if (logits) {
      loaded->logits = *logits;
    } else {
      loaded->unavailable = logits.error();
    }
    cache[key] = loaded;
    std::erase_if(cache, [](const auto& entry) { return entry.second.expired(); });
  }
  GgufModel m;
  // The runner's pieces keep `loaded` alive through aliasing pointers: the file's mapping lives
  // as long as any of them.
  m.logits = loaded->logits ? std::shared_ptr<LogitsModel>(loaded, loaded->logits.get()) : nullptr;
  m.unavailable = loaded->unavailable;
  m.tokenizer = std::shared_ptr<const tokenize::Tokenizer>(loaded, loaded->tokenizer.get());
  m.chat_template = *chat_template;
  return m;
}

std::unique_ptr<degrade::Runner> MakeRunner(const config::RunnerConfig& config,
                                            observability::Registry* reg) {
  if (config.kind == config::RunnerConfig::Kind::kGguf) {
    return MakeGgufRunner(
        config, LoadGgufModel(config),
        reg != nullptr ? RegisterRunnerMetrics(*reg, config.name) : RunnerMetrics{});
  }
  return degrade::MakeRunner(config);
}

}  // namespace infergate::runner
