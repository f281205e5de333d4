// The synthetic runner: burns real CPU for each token (a hashing loop timed by the thread's CPU
// clock) and emits words from a fixed vocabulary, deterministically. Its prompt tokens are the
// prompt's whitespace-separated words (prompt_words.h).
#include "infergate/degrade/runner.h"

#include <time.h>

#include <array>
#include <chrono>
#include <cstdint>

#include "infergate/degrade/prompt_words.h"

namespace infergate::degrade {
namespace {

constexpr std::array<std::string_view, 16> kVocabulary = {
    "The",   "gateway",  "answered", "this", "request", "itself", "while", "the",
    "model", "backends", "were",     "busy", "so",      "here",   "are",   "tokens"};

// CPU time consumed by the calling thread.
std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Receives the hash after each token so the burn loop has an observable result.
thread_local volatile uint64_t burn_sink = 0;

// Spins on a multiply-xorshift hash until this thread has consumed `cost` of CPU time (not wall
// time: a preempted thread keeps working until it has really done the work). Returns the hash
// so the work cannot be optimized away.
uint64_t BurnCpu(std::chrono::nanoseconds cost, uint64_t state) {
  if (cost <= std::chrono::nanoseconds::zero()) return state;
  const std::chrono::nanoseconds deadline = ThreadCpuTime() + cost;
  do {
    for (int i = 0; i < 4096; ++i) {
      state ^= state >> 33;
      state *= 0xff51afd7ed558ccdULL;
      state ^= state >> 29;
      state += 0x9e3779b97f4a7c15ULL;
    }
  } while (ThreadCpuTime() < deadline);
  return state;
}

class SyntheticRunner final : public Runner {
 public:
  explicit SyntheticRunner(const config::RunnerConfig& config)
      : tokens_(config.tokens),
        token_cost_(std::chrono::duration_cast<std::chrono::nanoseconds>(config.token_cost)) {}

  RunResult Generate(const RunRequest& request,
                     const std::function<bool(const RunPiece& piece)>& emit) override {
    RunResult result;
    result.prompt_tokens = CountPromptWords(request.prompt);
    uint64_t state = 0x2545f4914f6cdd1dULL;
    std::string piece;
    for (uint32_t i = 0; i < tokens_; ++i) {
      state = BurnCpu(token_cost_, state);
      burn_sink = state;
      piece.clear();
      if (i > 0) piece += ' ';
      piece += kVocabulary[i % kVocabulary.size()];
      if (!emit(RunPiece{piece})) return result;
    }
    result.completed = true;
    return result;
  }

 private:
  const uint32_t tokens_;
  const std::chrono::nanoseconds token_cost_;
};

// Stands in for a runner this part cannot build (a gguf runner needs the model parts): every
// request fails before its first piece, so the fallback chain moves on.
class UnavailableRunner final : public Runner {
 public:
  RunResult Generate(const RunRequest&, const std::function<bool(const RunPiece&)>&) override {
    RunResult r;
    r.error = "this build of the gateway has no model runner";
    return r;
  }
};

}  // namespace

std::string_view FinishReasonName(FinishReason reason) {
  return reason == FinishReason::kLength ? "length" : "stop";
}

std::unique_ptr<Runner> MakeRunner(const config::RunnerConfig& config) {
  switch (config.kind) {
    case config::RunnerConfig::Kind::kSynthetic:
      return std::make_unique<SyntheticRunner>(config);
    case config::RunnerConfig::Kind::kGguf:
      return std::make_unique<UnavailableRunner>();
  }
  return nullptr;
}

}  // namespace infergate::degrade
