// The runner's group step with N requests generating at once (issue 17): each of N threads
// prefills a 64-token prompt and generates 64 tokens through one GroupStep, as N concurrent
// requests of a runner with N compartment threads do. "lend:1" is the runner as it is, the
// threads waiting for a pass running pieces of it; "lend:0" hands the model no ParallelFor, so
// each pass runs on its leader alone (before that change). Reported: tokens per second of wall
// clock over all requests (prompt and generated tokens). On the 768-wide model most steps are
// below the splitting threshold; the 2048-wide one has a 1B model's matrix sizes.
//
//   build-cc/bin/infergate-runner-bench
#include <benchmark/benchmark.h>

#include <thread>
#include <vector>

#include "infergate/gguf/gguf_file.h"
#include "infergate/runner/group_step.h"
#include "infergate/runner/logits_source.h"
#include "llm_models.h"

namespace infergate::runner {
namespace {

// The model with the group's ParallelFor dropped: every pass on its leader's thread.
class NoLending final : public LogitsModel {
 public:
  explicit NoLending(LogitsModel& inner) : inner_(inner) {}
  int n_vocab() const override { return inner_.n_vocab(); }
  size_t kv_bytes_per_token() const override { return inner_.kv_bytes_per_token(); }
  std::unique_ptr<LogitsSequence> NewSequence(int capacity) override {
    return inner_.NewSequence(capacity);
  }
  std::optional<std::string> AppendBatch(std::span<const SequenceStep> steps,
                                         const ParallelFor&) override {
    return inner_.AppendBatch(steps, nullptr);
  }

 private:
  LogitsModel& inner_;
};

std::shared_ptr<LogitsModel> Load(bench::Shape shape) {
  const std::string path = bench::LlmModelPath("q4_k", shape);
  auto file = gguf::GgufFile::Open(path);
  if (!file) return nullptr;
  auto model = LoadLogitsModel(*file);
  return model ? *model : nullptr;
}

void BM_RunnerGroup(benchmark::State& state) {
  const auto shape = state.range(0) == 0 ? bench::Shape::k768x12 : bench::Shape::k2048x4;
  static std::shared_ptr<LogitsModel> models[2];
  auto& loaded = models[state.range(0)];
  if (loaded == nullptr) loaded = Load(shape);
  if (loaded == nullptr) return state.SkipWithError("cannot load the generated model");
  NoLending without(*loaded);
  LogitsModel& model = state.range(2) != 0 ? *loaded : without;
  const int requests = static_cast<int>(state.range(1));
  for (auto _ : state) {
    GroupStep group(model);
    std::vector<std::unique_ptr<LogitsSequence>> sequences;
    for (int i = 0; i < requests; ++i) sequences.push_back(group.Wrap(model.NewSequence(160)));
    std::vector<std::thread> threads;
    for (int i = 0; i < requests; ++i) {
      threads.emplace_back([&, i] {
        std::vector<float> logits(static_cast<size_t>(model.n_vocab()));
        const std::vector<TokenId> prompt(64, 7 + i);
        (void)sequences[static_cast<size_t>(i)]->Append(prompt, logits);
        for (TokenId t = 0; t < 64; ++t) {
          const TokenId next = 9 + t;
          (void)sequences[static_cast<size_t>(i)]->Append(std::span(&next, 1), logits);
        }
        sequences[static_cast<size_t>(i)].reset();  // leaves the group
      });
    }
    for (std::thread& t : threads) t.join();
  }
  state.counters["tok/s"] = benchmark::Counter(
      static_cast<double>(requests) * 128.0 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

// shape (0: 768x12, 1: 2048x4), concurrent requests, lend the waiting threads
BENCHMARK(BM_RunnerGroup)
    ->ArgsProduct({{0, 1}, {2, 4}, {0, 1}})
    ->ArgNames({"shape", "requests", "lend"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace infergate::runner

BENCHMARK_MAIN();
