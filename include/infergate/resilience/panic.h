// Panic mode (Envoy's healthy_panic_threshold): when too few hosts are available, balancing only
// across them would overload them, so the load balancer spreads across all hosts instead.
#pragma once

#include <cstddef>

namespace infergate::resilience {

inline constexpr double kDefaultPanicThresholdPercent = 50.0;

// True when fewer than `panic_threshold_percent` of `total` hosts are `available`
// (available / total x 100 < threshold). False for an empty pool (nothing to spread over) and
// for a threshold of 0 (panic disabled). Pure; thread-safe.
constexpr bool InPanic(size_t available, size_t total,
                       double panic_threshold_percent = kDefaultPanicThresholdPercent) {
  if (total == 0 || !(panic_threshold_percent > 0.0)) return false;
  return static_cast<double>(available) * 100.0 <
         panic_threshold_percent * static_cast<double>(total);
}

}  // namespace infergate::resilience
