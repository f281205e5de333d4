// Picking the next token from a model's logits (temperature, top_k, top_p, a seeded generator)
// and the log probabilities OpenAI reports (the model's own, before temperature). Pure: the same
// logits, parameters and seed give the same token on every machine this build runs on.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "infergate/tokenize/vocab.h"

namespace infergate::runner {

using tokenize::TokenId;

struct SamplingParams {
  double temperature = 1.0;  // 0: greedy (the most likely token, the lowest id on a tie)
  double top_p = 1.0;        // (0, 1]: the smallest set of likeliest tokens whose mass reaches it
  int top_k = 0;             // 0: off; else only the k likeliest tokens
};

// Not thread safe: one per generated sequence.
class Sampler {
 public:
  Sampler(const SamplingParams& params, uint64_t seed);
  TokenId Sample(std::span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, TokenId>> candidates_;  // reused between calls
  double Uniform();                                    // [0, 1)
};

// A seed for a request that gives none.
uint64_t RandomSeed();

// log(sum(exp(logits))): a token's natural log probability is its logit minus this.
float LogSumExp(std::span<const float> logits);

// The k likeliest tokens with their log probabilities, likeliest first (lower id on a tie).
std::vector<std::pair<TokenId, float>> TopLogprobs(std::span<const float> logits, int k,
                                                   float log_sum_exp);

}  // namespace infergate::runner
