// Envoy-style retry budget: concurrent retries are limited to a share of the requests in flight,
// so retries cannot multiply load during an outage (a retry storm).
#pragma once

#include <cstdint>

namespace infergate::resilience {

struct RetryBudgetConfig {
  double budget_percent = 20.0;        // of active requests, in percent [0, 100]
  uint32_t min_retry_concurrency = 3;  // retries always allowed up to this many at once
  bool operator==(const RetryBudgetConfig&) const = default;
};

// Counts active requests and active retries and admits a retry while
//   active_retries < max(min_retry_concurrency, floor(budget_percent / 100 x active_requests)).
// "Active requests" are client requests in flight (RequestStarted .. RequestEnded, once per
// client request however many attempts it makes); a retry is an extra attempt
// (TryStartRetry .. EndRetry). Not thread-safe: the owner serialises calls (one per worker, or
// one guarded by the owner's lock).
class RetryBudget {
 public:
  explicit RetryBudget(const RetryBudgetConfig& config = {});

  void RequestStarted() { ++active_requests_; }
  // Saturates at zero.
  void RequestEnded();

  // True, and counts the retry as active, when the budget allows one more retry.
  bool TryStartRetry();
  // Ends a retry admitted by TryStartRetry. Saturates at zero.
  void EndRetry();

  // max(min_retry_concurrency, floor(budget_percent% of active requests)).
  uint64_t Limit() const;
  uint64_t active_requests() const { return active_requests_; }
  uint64_t active_retries() const { return active_retries_; }
  // Retries refused since construction (for a metric).
  uint64_t rejected() const { return rejected_; }
  const RetryBudgetConfig& config() const { return config_; }

 private:
  RetryBudgetConfig config_;
  uint64_t active_requests_ = 0;
  uint64_t active_retries_ = 0;
  uint64_t rejected_ = 0;
};

}  // namespace infergate::resilience
