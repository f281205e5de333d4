// Temperature, top-k and top-p sampling over a logits row, and log probabilities. Probabilities
// are accumulated in double so a 150k-token vocabulary sums the same way everywhere.
#include "infergate/runner/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infergate::runner {
namespace {

// Likelier first; the lower id first on a tie, so ties never depend on the sort's whims.
bool Likelier(const std::pair<float, TokenId>& a, const std::pair<float, TokenId>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

TokenId Argmax(std::span<const float> logits) {
  TokenId best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<TokenId>(i);
  }
  return best;
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, uint64_t seed) : params_(params), rng_(seed) {}

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

TokenId Sampler::Sample(std::span<const float> logits) {
  if (logits.empty()) return 0;
  if (params_.temperature <= 0 || params_.top_k == 1) return Argmax(logits);
  const size_t n = logits.size();
  candidates_.clear();
  candidates_.reserve(n);
  for (size_t i = 0; i < n; ++i) candidates_.emplace_back(logits[i], static_cast<TokenId>(i));
  size_t keep = n;
  const bool truncate_p = params_.top_p < 1.0;
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
    keep = static_cast<size_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), Likelier);
  } else if (truncate_p) {
    std::sort(candidates_.begin(), candidates_.end(), Likelier);
  }
  float max = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < keep; ++i) max = std::max(max, candidates_[i].first);
  if (!std::isfinite(max)) return Argmax(logits);
  // Weights exp((l - max) / T); the candidates are sorted whenever top_p needs them to be.
  std::vector<double> weights(keep);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    weights[i] = std::exp((static_cast<double>(candidates_[i].first) - max) / params_.temperature);
    total += weights[i];
  }
  if (truncate_p) {
    double mass = 0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      mass += weights[i];
      if (mass >= params_.top_p * total) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    total = mass;
  }
  const double target = Uniform() * total;
  double acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += weights[i];
    if (target < acc) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;  // rounding left the target at the very end
}

uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

float LogSumExp(std::span<const float> logits) {
  float max = -std::numeric_limits<float>::infinity();
  for (float l : logits) max = std::max(max, l);
  if (!std::isfinite(max)) return max;
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
  return static_cast<float>(max + std::log(sum));
}

std::vector<std::pair<TokenId, float>> TopLogprobs(std::span<const float> logits, int k,
                                                   float log_sum_exp) {
  std::vector<std::pair<TokenId, float>> top;
  if (k <= 0) return top;
  const size_t keep = std::min(static_cast<size_t>(k), logits.size());
  // A bounded heap of the best `keep` so far: one pass over the vocabulary, no copy of it.
  std::vector<std::pair<float, TokenId>> heap;
  heap.reserve(keep + 1);
  auto worse_on_top = [](const auto& a, const auto& b) { return Likelier(a, b); };
  for (size_t i = 0; i < logits.size(); ++i) {
    std::pair<float, TokenId> c{logits[i], static_cast<TokenId>(i)};
    if (heap.size() < keep) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), worse_on_top);
    } else if (Likelier(c, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), worse_on_top);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), worse_on_top);
    }
  }
  std::sort(heap.begin(), heap.end(), Likelier);
  for (const auto& [logit, id] : heap) top.emplace_back(id, logit - log_sum_exp);
  return top;
}

}  // namespace infergate::runner
