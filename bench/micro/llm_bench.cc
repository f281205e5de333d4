// Tokens per second of the llm forward pass (issue 17) on a generated ~120M-parameter llama
// (768 wide, 12 layers, 12 heads / 4 KV heads, FFN 2048, 32,000-token vocabulary, untied):
// prompt processing (64 tokens in one Forward) and generation at batch 1 and 4, in Q8_0 and
// Q4_K (and Q4_K_M, the usual download: Q6_K output and half the attn_v/ffn_down), with float
// activations (gguf::Dot) and with 8-bit activations (the integer kernels).
//
//   build-cc/bin/infergate-llm-bench --benchmark_counters_tabular=true
//
// The models are written once by scripts/gguf/gen_gguf.py into $TMPDIR/infergate-llm-bench/
// (about 4 s each). Arguments: type (0 q8_0, 1 q4_k, 2 q4_k_m), activations (0 float, 1 8-bit),
// threads, and for generation the batch. INFERGATE_LLM_PACK=0 loads without the packed weights
// (LoadOptions::pack_weights), to compare; INFERGATE_LLM_KERNELS picks the kernel set.
#include <benchmark/benchmark.h>

#include <time.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "infergate/llm/model.h"
#include "llm_models.h"

namespace infergate::llm {
namespace {

const char* const kTypes[] = {"q8_0", "q4_k", "q4_k_m"};

std::string ModelPath(const std::string& type) { return bench::LlmModelPath(type); }

std::shared_ptr<const Model> Get(int type, bool quantize) {
  static std::map<std::pair<int, bool>, std::shared_ptr<const Model>> models;
  auto& m = models[{type, quantize}];
  if (m == nullptr) {
    LoadOptions options;
    options.quantize_activations = quantize;
    const char* pack = std::getenv("INFERGATE_LLM_PACK");
    options.pack_weights = pack == nullptr || std::string_view(pack) != "0";
    auto loaded = Model::Load(ModelPath(kTypes[type]), options);
    if (loaded) m = *loaded;
  }
  return m;
}

// CPU seconds of the calling thread: with one thread, tokens per CPU second is the pass's
// throughput on an uncontended core, whatever else the (shared) machine is running.
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void SetCounters(benchmark::State& state, double tokens, double cpu_seconds) {
  state.counters["tok/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
  if (state.range(2) == 1 && cpu_seconds > 0) state.counters["tok/cpu_s"] = tokens / cpu_seconds;
}

// A fixed pool: the caller and threads - 1 workers take indices from a shared counter.
class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~Pool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  ParallelFor Function() {
    if (workers_.empty()) return nullptr;
    return [this](int n, const std::function<void(int)>& work) { Run(n, work); };
  }

 private:
  void Run(int n, const std::function<void(int)>& work) {
    std::unique_lock lock(mu_);
    work_ = &work;
    n_ = n;
    next_ = 0;
    active_ = static_cast<int>(workers_.size());
    ++generation_;
    lock.unlock();
    cv_.notify_all();
    Drain();
    lock.lock();
    done_.wait(lock, [this] { return active_ == 0; });
  }
  void Drain() {
    for (;;) {
      int i;
      {
        std::lock_guard lock(mu_);
        if (next_ >= n_) return;
        i = next_++;
      }
      (*work_)(i);
    }
  }
  void Work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      Drain();
      std::lock_guard lock(mu_);
      if (--active_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  const std::function<void(int)>* work_ = nullptr;
  int n_ = 0, next_ = 0, active_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

void BM_LlmPrompt64(benchmark::State& state) {
  auto model = Get(static_cast<int>(state.range(0)), state.range(1) != 0);
  if (model == nullptr) return state.SkipWithError("no model (is numpy installed?)");
  Pool pool(static_cast<int>(state.range(2)));
  const ParallelFor parallel = pool.Function();
  std::vector<int32_t> prompt(64);
  for (int i = 0; i < 64; ++i) prompt[static_cast<size_t>(i)] = 100 + 37 * i;
  KvCache cache(*model, 128);
  Scratch scratch;
  std::vector<float> logits(static_cast<size_t>(model->hyper().n_vocab));
  const double cpu0 = ThreadCpuSeconds();
  for (auto _ : state) {
    cache.Clear();
    BatchItem item{&cache, prompt, logits};
    auto r = Forward(*model, std::span<BatchItem>(&item, 1), scratch, parallel);
    if (!r) return state.SkipWithError(r.error().c_str());
  }
  SetCounters(state, 64.0 * static_cast<double>(state.iterations()), ThreadCpuSeconds() - cpu0);
}

// One token for each of `batch` sequences per Forward, at context 64 to 192.
void BM_LlmGenerate(benchmark::State& state) {
  auto model = Get(static_cast<int>(state.range(0)), state.range(1) != 0);
  if (model == nullptr) return state.SkipWithError("no model (is numpy installed?)");
  Pool pool(static_cast<int>(state.range(2)));
  const ParallelFor parallel = pool.Function();
  const int batch = static_cast<int>(state.range(3));
  const size_t n_vocab = static_cast<size_t>(model->hyper().n_vocab);
  std::vector<KvCache> caches;
  for (int i = 0; i < batch; ++i) caches.emplace_back(*model, 192);
  std::vector<std::vector<float>> logits(static_cast<size_t>(batch), std::vector<float>(n_vocab));
  std::vector<int32_t> tokens(static_cast<size_t>(batch));
  std::vector<int32_t> prompt(64, 7);
  Scratch scratch;
  std::vector<BatchItem> items(static_cast<size_t>(batch));
  double cpu = 0;
  for (auto _ : state) {
    if (caches[0].size() == 0 || caches[0].size() == caches[0].capacity()) {
      state.PauseTiming();
      for (int i = 0; i < batch; ++i) {
        caches[static_cast<size_t>(i)].Clear();
        BatchItem p{&caches[static_cast<size_t>(i)], prompt, logits[static_cast<size_t>(i)]};
        (void)Forward(*model, std::span<BatchItem>(&p, 1), scratch, parallel);
      }
      state.ResumeTiming();
    }
    for (int i = 0; i < batch; ++i) {
      const size_t s = static_cast<size_t>(i);
      tokens[s] = 1000 + i + caches[s].size();
      items[s] = {&caches[s], std::span<const int32_t>(&tokens[s], 1), logits[s]};
    }
    const double cpu0 = ThreadCpuSeconds();
    auto r = Forward(*model, items, scratch, parallel);
    cpu += ThreadCpuSeconds() - cpu0;
    if (!r) return state.SkipWithError(r.error().c_str());
  }
  SetCounters(state, static_cast<double>(batch) * static_cast<double>(state.iterations()), cpu);
}

// type, 8-bit activations, threads [, batch]
BENCHMARK(BM_LlmPrompt64)
    ->ArgsProduct({{0, 1, 2}, {0, 1}, {1, 2}})
    ->ArgNames({"type", "qact", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_LlmGenerate)
    ->ArgsProduct({{0, 1, 2}, {0, 1}, {1, 2}, {1, 4}})
    ->ArgNames({"type", "qact", "threads", "batch"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace infergate::llm

BENCHMARK_MAIN();
