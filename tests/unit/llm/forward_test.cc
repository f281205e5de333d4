// Forward's batching contracts: a prompt in one call equals it token by token; a batch of
// sequences of different lengths equals running them one by one; threads change nothing; the
// quantized-activation kernels (AVX2 and scalar) agree; errors leave every cache as it was.
#include <gtest/gtest.h>

#include "llm/scratch.h"
#include "unit/llm/llm_fixture.h"

namespace infergate::llm::test {
namespace {

const std::vector<int32_t> kPrompt = {1, 5, 9, 14, 3, 77, 200, 31, 8};

class ForwardTest : public ::testing::TestWithParam<std::pair<std::string, bool>> {
 protected:
  void SetUp() override {
    LLM_SKIP_WITHOUT_NUMPY();
    model_ = LoadOrFail(Generated::Get().Model(GetParam().first), GetParam().second);
    ASSERT_NE(model_, nullptr);
  }
  std::shared_ptr<const llm::Model> model_;
};

TEST_P(ForwardTest, PromptInOneCallEqualsTokenByToken) {
  KvCache whole(*model_, 32), stepwise(*model_, 32);
  Scratch scratch;
  const std::vector<float> once = RunTokens(*model_, whole, kPrompt, scratch);
  std::vector<float> last;
  for (int32_t t : kPrompt) last = RunTokens(*model_, stepwise, {t}, scratch);
  EXPECT_LT(MaxAbsDiff(once, last), 1e-5);
  EXPECT_EQ(whole.size(), stepwise.size());
  // And the next token continues both the same way.
  EXPECT_LT(MaxAbsDiff(RunTokens(*model_, whole, {42}, scratch),
                       RunTokens(*model_, stepwise, {42}, scratch)),
            1e-5);
}

TEST_P(ForwardTest, BatchOfSequencesEqualsOneByOne) {
  const int n_vocab = model_->hyper().n_vocab;
  // Three sequences, one of them with history already in its cache.
  const std::vector<std::vector<int32_t>> prompts = {{7, 8, 9, 10, 11}, {3}, {100, 101, 102}};
  const std::vector<int32_t> history = {50, 60};
  std::vector<std::vector<float>> alone;
  {
    Scratch scratch;
    for (size_t i = 0; i < prompts.size(); ++i) {
      KvCache cache(*model_, 32);
      if (i == 2) RunTokens(*model_, cache, history, scratch);
      std::vector<float> logits = RunTokens(*model_, cache, prompts[i], scratch);
      alone.push_back(logits);
      alone.push_back(RunTokens(*model_, cache, {static_cast<int32_t>(i + 20)}, scratch));
    }
  }
  for (const ParallelFor& parallel : {ParallelFor(), Threads(3)}) {
    Scratch scratch;
    std::vector<KvCache> caches;
    for (int i = 0; i < 3; ++i) caches.emplace_back(*model_, 32);
    RunTokens(*model_, caches[2], history, scratch);
    std::vector<std::vector<float>> logits(3, std::vector<float>(static_cast<size_t>(n_vocab)));
    std::vector<BatchItem> batch;
    for (size_t i = 0; i < 3; ++i) batch.push_back({&caches[i], prompts[i], logits[i]});
    auto r = Forward(*model_, batch, scratch, parallel);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(*r, 9);
    for (size_t i = 0; i < 3; ++i) EXPECT_LT(MaxAbsDiff(logits[i], alone[2 * i]), 1e-5) << i;
    // A decode step for all three at once.
    std::vector<int32_t> next = {20, 21, 22};
    for (size_t i = 0; i < 3; ++i) batch[i].tokens = std::span<const int32_t>(&next[i], 1);
    r = Forward(*model_, batch, scratch, parallel);
    ASSERT_TRUE(r.ok()) << r.error();
    for (size_t i = 0; i < 3; ++i) EXPECT_LT(MaxAbsDiff(logits[i], alone[2 * i + 1]), 1e-5) << i;
    EXPECT_EQ(caches[0].size(), 6);
    EXPECT_EQ(caches[1].size(), 2);
    EXPECT_EQ(caches[2].size(), 6);
  }
}

TEST_P(ForwardTest, ThreadsGiveTheSameLogits) {
  KvCache a(*model_, 32), b(*model_, 32);
  Scratch scratch;
  EXPECT_EQ(RunTokens(*model_, a, kPrompt, scratch),
            RunTokens(*model_, b, kPrompt, scratch, Threads(4)));
}

TEST_P(ForwardTest, TruncateAndClearRewind) {
  KvCache cache(*model_, 32), fresh(*model_, 32);
  Scratch scratch;
  RunTokens(*model_, cache, kPrompt, scratch);
  cache.Truncate(3);
  EXPECT_EQ(cache.size(), 3);
  const std::vector<float> after = RunTokens(*model_, cache, {99}, scratch);
  const std::vector<float> direct =
      RunTokens(*model_, fresh, {kPrompt[0], kPrompt[1], kPrompt[2], 99}, scratch);
  EXPECT_LT(MaxAbsDiff(after, direct), 1e-5);
  cache.Clear();
  EXPECT_EQ(cache.size(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Models, ForwardTest,
    ::testing::Values(std::pair<std::string, bool>{"--arch llama --type f32", false},
                      std::pair<std::string, bool>{"--arch qwen2 --type f32", false},
                      std::pair<std::string, bool>{"--arch llama --type q4_k_m", true},
                      std::pair<std::string, bool>{"--arch qwen2 --type q8_0", true}),
    [](const auto& info) {
      std::string name = info.param.first.substr(7);
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name + (info.param.second ? "_qact" : "");
    });

// The whole pass with each SIMD kernel set, over the file's rows and over the packed copy
// (llm/packed.h), and with the scalar one: same integers, float sums in another order.
TEST(ForwardKernels, SimdAndScalarAgree) {
  LLM_SKIP_WITHOUT_NUMPY();
  if (Avx2Kernels() == nullptr) GTEST_SKIP() << "no AVX2 on this CPU";
  for (const char* type : {"q8_0", "q4_k_m"}) {
    const std::string path = Generated::Get().Model(std::string("--arch llama --type ") + type);
    auto packed = LoadOrFail(path, true), rows = LoadOrFail(path, true, /*pack_weights=*/false);
    ASSERT_NE(packed, nullptr);
    ASSERT_NE(rows, nullptr);
    std::vector<std::vector<float>> logits;
    std::vector<std::string> names;
    for (const QKernels* k : {&ScalarKernels(), Avx2Kernels(), Avx512Kernels()}) {
      if (k == nullptr) continue;
      for (const Model* model : {rows.get(), packed.get()}) {
        // Nine tokens: groups of eight and one for AVX-512, 4 + 4 + 1 for AVX2.
        KvCache cache(*model, 32);
        Scratch scratch;
        logits.emplace_back(static_cast<size_t>(model->hyper().n_vocab));
        names.push_back(std::string(k->name) + (model == rows.get() ? " rows" : " packed"));
        BatchItem item{&cache, kPrompt, logits.back()};
        ASSERT_TRUE(ForwardWith(*model, std::span<BatchItem>(&item, 1), scratch, nullptr, k).ok());
      }
    }
    for (size_t i = 1; i < logits.size(); ++i) {
      EXPECT_LT(MaxAbsDiff(logits[0], logits[i]), 1e-4) << type << " " << names[i];
    }
  }
}

}  // namespace
}  // namespace infergate::llm::test
