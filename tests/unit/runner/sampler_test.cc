// The sampler with fixed logits and seeds: greedy, top_k, top_p, seed reproducibility, and the
// log probabilities (log-softmax of the raw logits) with the top alternatives.
#include "infergate/runner/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

namespace infergate::runner {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f};

TEST(Sampler, TemperatureZeroIsArgmaxLowestIdOnTie) {
  Sampler s({0.0, 1.0, 0}, 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.Sample(kLogits), 1);
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  Sampler s({1.5, 1.0, 1}, 7);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.Sample(kLogits), 1);
}

TEST(Sampler, SameSeedSameTokens) {
  auto draw = [](uint64_t seed) {
    Sampler s({1.0, 1.0, 0}, seed);
    std::vector<TokenId> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.Sample(kLogits));
    return out;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampler, TopKKeepsOnlyTheKLikeliest) {
  Sampler s({2.0, 1.0, 3}, 5);
  std::set<TokenId> seen;
  for (int i = 0; i < 500; ++i) seen.insert(s.Sample(kLogits));
  EXPECT_EQ(seen, (std::set<TokenId>{1, 2, 3}));
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingTheMass) {
  // Tokens 1 and 3 (logit 3) hold 0.384 each: together 0.768 < 0.8, so token 2 (0.141) joins.
  Sampler s({1.0, 0.8, 0}, 9);
  std::set<TokenId> seen;
  for (int i = 0; i < 500; ++i) seen.insert(s.Sample(kLogits));
  EXPECT_EQ(seen, (std::set<TokenId>{1, 2, 3}));
  Sampler tiny({1.0, 0.01, 0}, 9);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(tiny.Sample(kLogits), 1);  // the first of the tie
}

TEST(Sampler, FrequenciesFollowTheSoftmax) {
  const std::vector<float> logits = {0.0f, std::log(3.0f)};  // probabilities 1/4, 3/4
  Sampler s({1.0, 1.0, 0}, 11);
  int ones = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) ones += s.Sample(logits) == 1;
  EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.03);
}

TEST(Logprobs, LogSoftmaxOfTheRawLogits) {
  const float lse = LogSumExp(kLogits);
  double total = 0;
  for (float l : kLogits) total += std::exp(l - lse);
  EXPECT_NEAR(total, 1.0, 1e-6);
  const auto top = TopLogprobs(kLogits, 3, lse);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);  // the tie: lower id first
  EXPECT_EQ(top[1].first, 3);
  EXPECT_EQ(top[2].first, 2);
  EXPECT_FLOAT_EQ(top[0].second, 3.0f - lse);
  EXPECT_FLOAT_EQ(top[2].second, 2.0f - lse);
  EXPECT_TRUE(TopLogprobs(kLogits, 0, lse).empty());
  EXPECT_EQ(TopLogprobs(kLogits, 100, lse).size(), kLogits.size());
}

}  // namespace
}  // namespace infergate::runner
