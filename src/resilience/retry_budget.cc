// Retry budget: concurrent retries as a share of active requests, with a floor.
#include "infergate/resilience/retry_budget.h"

#include <algorithm>
#include <cmath>

namespace infergate::resilience {

RetryBudget::RetryBudget(const RetryBudgetConfig& config) : config_(config) {
  if (!(config_.budget_percent >= 0.0)) config_.budget_percent = 0.0;
  config_.budget_percent = std::min(config_.budget_percent, 100.0);
}

void RetryBudget::RequestEnded() {
  if (active_requests_ > 0) --active_requests_;
}

uint64_t RetryBudget::Limit() const {
  const auto share = static_cast<uint64_t>(
      std::floor(static_cast<long double>(active_requests_) * config_.budget_percent / 100.0L));
  return std::max<uint64_t>(config_.min_retry_concurrency, share);
}

bool RetryBudget::TryStartRetry() {
  if (active_retries_ >= Limit()) {
    ++rejected_;
    return false;
  }
  ++active_retries_;
  return true;
}

void RetryBudget::EndRetry() {
  if (active_retries_ > 0) --active_retries_;
}

}  // namespace infergate::resilience
