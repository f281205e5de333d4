// The forward pass against scripts/gguf/ref_llama.py (float64 numpy) on generated llama and
// qwen2 files: prompt logits, logits after each greedy token fed one at a time, greedy
// continuations, and every tensor type, within the tolerances scripts/gguf/README.md states.
#include <gtest/gtest.h>

#include "unit/llm/llm_fixture.h"

namespace infergate::llm::test {
namespace {

// Float32 against float64 with the same weights (README: "expect |d| < 1e-4").
constexpr double kFloatTolerance = 1e-4;
const std::vector<int32_t> kPrompt = {1, 5, 9, 14, 3, 77, 200};
constexpr int kSteps = 6;

// Feeds the prompt in one Forward, then each of the reference's greedy tokens one at a time,
// checking the logits at each point; returns the largest difference seen.
double CompareWithReference(const std::string& args, bool quantize, double tolerance) {
  const std::string path = Generated::Get().Model(args);
  auto model = LoadOrFail(path, quantize);
  if (model == nullptr) return 1e9;
  const Reference ref = Generated::Ref(path, kPrompt, kSteps);
  EXPECT_EQ(ref.logits.size(), static_cast<size_t>(kSteps));
  KvCache cache(*model, 64);
  Scratch scratch;
  std::vector<float> logits = RunTokens(*model, cache, kPrompt, scratch);
  double worst = 0;
  for (size_t k = 0; k < ref.logits.size(); ++k) {
    const double diff = MaxAbsDiff(logits, ref.logits[k]);
    EXPECT_LT(diff, tolerance) << path << " step " << k;
    worst = std::max(worst, diff);
    // Where the reference's choice is clear, it is ours too.
    if (ref.margins[k] > 10 * tolerance) {
      EXPECT_EQ(Argmax(logits), ref.greedy[k]) << path << " step " << k;
    }
    logits = RunTokens(*model, cache, {ref.greedy[k]}, scratch);
  }
  EXPECT_EQ(cache.size(), static_cast<int>(kPrompt.size()) + kSteps);
  std::printf("[ measure  ] %s: max |logit - reference| %.2e\n", args.c_str(), worst);
  return worst;
}

class ReferenceTypes : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { LLM_SKIP_WITHOUT_NUMPY(); }
};

TEST(ReferenceF32, LlamaMatchesReference) {
  LLM_SKIP_WITHOUT_NUMPY();
  const double worst = CompareWithReference("--arch llama --type f32", false, kFloatTolerance);
  RecordProperty("max_abs_diff", std::to_string(worst));
}

TEST(ReferenceF32, Qwen2MatchesReference) {
  LLM_SKIP_WITHOUT_NUMPY();
  const double worst = CompareWithReference("--arch qwen2 --type f32", false, kFloatTolerance);
  RecordProperty("max_abs_diff", std::to_string(worst));
}

TEST(ReferenceF32, UntiedQwen2AndTiedLlama) {
  LLM_SKIP_WITHOUT_NUMPY();
  CompareWithReference("--arch qwen2 --type f32 --untied", false, kFloatTolerance);
  CompareWithReference("--arch llama --type f32 --tied", false, kFloatTolerance);
}

TEST(ReferenceF32, OtherDimensionsAndRopeBase) {
  LLM_SKIP_WITHOUT_NUMPY();
  // Eight heads of 32 sharing one KV head, three layers, another base and epsilon.
  CompareWithReference(
      "--arch llama --type f32 --n-head 8 --n-head-kv 1 "
      "--n-layer 3 --rope-base 500000 --eps 1e-6",
      false, kFloatTolerance);
  CompareWithReference(
      "--arch qwen2 --type f32 --n-head 8 --n-head-kv 4 "
      "--n-ff 768 --rope-base 1000000",
      false, kFloatTolerance);
}

// Free-running greedy generation equals the reference's up to the first step whose margin is
// too small to call.
TEST(ReferenceF32, GreedyContinuationMatches) {
  LLM_SKIP_WITHOUT_NUMPY();
  for (const char* arch : {"llama", "qwen2"}) {
    const std::string path = Generated::Get().Model(std::string("--arch ") + arch + " --type f32");
    auto model = LoadOrFail(path);
    ASSERT_NE(model, nullptr);
    const Reference ref = Generated::Ref(path, kPrompt, 12);
    KvCache cache(*model, 64);
    Scratch scratch;
    std::vector<float> logits = RunTokens(*model, cache, kPrompt, scratch);
    for (size_t k = 0; k < ref.greedy.size() && ref.margins[k] > 1e-3; ++k) {
      const int32_t next = Argmax(logits);
      EXPECT_EQ(next, ref.greedy[k]) << arch << " step " << k;
      logits = RunTokens(*model, cache, {next}, scratch);
    }
  }
}

// Every type with float activations: the reference dequantizes exactly, so only float32
// rounding separates them.
TEST_P(ReferenceTypes, EveryTypeWithinFloatRounding) {
  for (const char* arch : {"llama", "qwen2"}) {
    const double worst = CompareWithReference(
        std::string("--arch ") + arch + " --type " + GetParam(), false, kFloatTolerance);
    RecordProperty(std::string(arch) + "_max_abs_diff", std::to_string(worst));
  }
}

INSTANTIATE_TEST_SUITE_P(Types, ReferenceTypes,
                         ::testing::Values("f16", "bf16", "q8_0", "q4_0", "q4_k", "q4_k_m", "q6_k"),
                         [](const auto& info) { return info.param; });

// Quantized activations (the default for Q8_0, Q4_K and Q6_K): within what 8-bit rounding of the
// activations costs, measured as RMS over the logits' spread (README: about 2%).
TEST(ReferenceQuantized, ActivationQuantizationCostsAFewPercent) {
  LLM_SKIP_WITHOUT_NUMPY();
  for (const char* type : {"q8_0", "q4_k", "q4_k_m", "q6_k"}) {
    for (const char* arch : {"llama", "qwen2"}) {
      const std::string path =
          Generated::Get().Model(std::string("--arch ") + arch + " --type " + type);
      auto model = LoadOrFail(path, /*quantize_activations=*/true);
      ASSERT_NE(model, nullptr);
      const Reference ref = Generated::Ref(path, kPrompt, 3);
      KvCache cache(*model, 64);
      Scratch scratch;
      std::vector<float> logits = RunTokens(*model, cache, kPrompt, scratch);
      for (size_t k = 0; k < ref.logits.size(); ++k) {
        const double rel = RelativeRms(logits, ref.logits[k]);
        EXPECT_LT(rel, 0.05) << type << " " << arch << " step " << k;
        std::printf("[ measure  ] %s %s step %zu: rms/spread %.4f, max abs %.4f\n", type, arch, k,
                    rel, MaxAbsDiff(logits, ref.logits[k]));
        logits = RunTokens(*model, cache, {ref.greedy[k]}, scratch);
      }
    }
  }
}

}  // namespace
}  // namespace infergate::llm::test
