// Test helpers for unit_llm: models written by scripts/gguf/gen_gguf.py into a temporary
// directory (once per dimensions and type), the reference's logits from ref_llama.py, running a
// prompt through Forward, and a small thread pool for ParallelFor. Skips when /usr/bin/python3
// has no numpy (`make test` installs it).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "infergate/llm/model.h"

namespace infergate::llm::test {

constexpr const char* kPython = "/usr/bin/python3";

struct Reference {
  std::vector<int32_t> greedy;
  std::vector<double> margins;
  // [0]: the prompt's last position; [k]: after greedy[k - 1].
  std::vector<std::vector<double>> logits;
};

class Generated {
 public:
  static Generated& Get() {
    static Generated g;
    return g;
  }
  bool has_numpy() const { return has_numpy_; }

  // The path of a file gen_gguf.py wrote with these arguments (cached by them).
  std::string Model(const std::string& args) {
    auto it = files_.find(args);
    if (it != files_.end()) return it->second;
    const std::string out = dir_ + "/m" + std::to_string(files_.size()) + ".gguf";
    const std::string cmd = std::string(kPython) +
                            " -B " INFERGATE_SOURCE_DIR "/scripts/gguf/gen_gguf.py --seed 3 " +
                            args + " --out " + out;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    files_[args] = out;
    return out;
  }

  static Reference Ref(const std::string& path, const std::vector<int32_t>& prompt, int steps) {
    std::string tokens;
    for (int32_t t : prompt) tokens += (tokens.empty() ? "" : ",") + std::to_string(t);
    const std::string cmd = std::string(kPython) +
                            " -B " INFERGATE_SOURCE_DIR "/tests/unit/llm/ref_to_text.py " + path +
                            " --tokens " + tokens + " --steps " + std::to_string(steps);
    Reference ref;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return ref;
    char word[32];
    int n = 0, rows = 0, cols = 0;
    if (std::fscanf(p, "%31s %d", word, &n) == 2) {
      ref.greedy.resize(static_cast<size_t>(n));
      for (int32_t& t : ref.greedy) EXPECT_EQ(std::fscanf(p, "%d", &t), 1);
    }
    if (std::fscanf(p, "%31s %d", word, &n) == 2) {
      ref.margins.resize(static_cast<size_t>(n));
      for (double& m : ref.margins) EXPECT_EQ(std::fscanf(p, "%lf", &m), 1);
    }
    if (std::fscanf(p, "%31s %d %d", word, &rows, &cols) == 3) {
      ref.logits.assign(static_cast<size_t>(rows), std::vector<double>(static_cast<size_t>(cols)));
      for (auto& row : ref.logits) {
        for (double& v : row) EXPECT_EQ(std::fscanf(p, "%lf", &v), 1);
      }
    }
    EXPECT_EQ(pclose(p), 0) << cmd;
    return ref;
  }

 private:
  Generated() {
    const std::string probe = std::string(kPython) + " -c 'import numpy' >/dev/null 2>&1";
    has_numpy_ = std::system(probe.c_str()) == 0;
    char dir[] = "/tmp/llm_test_XXXXXX";
    if (mkdtemp(dir) != nullptr) dir_ = dir;
  }
  ~Generated() {
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  bool has_numpy_ = false;
  std::string dir_;
  std::map<std::string, std::string> files_;
};

#define LLM_SKIP_WITHOUT_NUMPY()                             \
  if (!::infergate::llm::test::Generated::Get().has_numpy()) \
  GTEST_SKIP() << ::infergate::llm::test::kPython << " has no numpy: apt-get install python3-numpy"

inline std::shared_ptr<const llm::Model> LoadOrFail(const std::string& path,
                                                    bool quantize_activations = false,
                                                    bool pack_weights = true) {
  LoadOptions options;
  options.quantize_activations = quantize_activations;
  options.pack_weights = pack_weights;
  auto m = llm::Model::Load(path, options);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error());
  return m.ok() ? *m : nullptr;
}

// Runs `tokens` as one batch item; the logits after the last.
inline std::vector<float> RunTokens(const llm::Model& model, KvCache& cache,
                                    const std::vector<int32_t>& tokens, Scratch& scratch,
                                    const ParallelFor& parallel = nullptr) {
  std::vector<float> logits(static_cast<size_t>(model.hyper().n_vocab));
  BatchItem item{&cache, tokens, logits};
  auto r = Forward(model, std::span<BatchItem>(&item, 1), scratch, parallel);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error());
  return logits;
}

template <typename A, typename B>
double MaxAbsDiff(const std::vector<A>& a, const std::vector<B>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  }
  return m;
}

// RMS of the difference over the reference's standard deviation (the README's measure).
inline double RelativeRms(const std::vector<float>& got, const std::vector<double>& ref) {
  double mean = 0, var = 0, err = 0;
  for (double v : ref) mean += v;
  mean /= static_cast<double>(ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    var += (ref[i] - mean) * (ref[i] - mean);
    err += (got[i] - ref[i]) * (got[i] - ref[i]);
  }
  return std::sqrt(err / var);
}

inline int32_t Argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// `threads` workers pulling indices from a counter (the caller among them).
inline ParallelFor Threads(int threads) {
  return [threads](int n, const std::function<void(int)>& work) {
    std::atomic<int> next{0};
    auto loop = [&] {
      for (int i = next++; i < n; i = next++) work(i);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(loop);
    loop();
    for (std::thread& t : pool) t.join();
  };
}

}  // namespace infergate::llm::test
