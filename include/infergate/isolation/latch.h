// Hysteresis for degradation triggers: a condition sends traffic to the fallback at once and
// must stay clear for `recover_after` before traffic returns to the primary, so a primary that
// hovers at the threshold does not flap. Not thread-safe (one per worker per route).
#pragma once

#include <chrono>

#include "infergate/core/clock.h"

namespace infergate::isolation {

class ConditionLatch {
 public:
  explicit ConditionLatch(std::chrono::nanoseconds recover_after) : recover_after_(recover_after) {}
  // Feeds the condition observed at `now`; returns whether the trigger holds (degrade).
  bool Observe(bool condition, TimePoint now);
  // A level with two thresholds: it enters above `enter`, and while latched the condition holds
  // above `exit` (exit <= enter), then recover_after applies.
  bool ObserveLevel(double value, double enter, double exit, TimePoint now);
  bool latched() const { return latched_; }

 private:
  std::chrono::nanoseconds recover_after_;
  bool latched_ = false;
  TimePoint clear_since_{};
  bool clear_ = false;
};

}  // namespace infergate::isolation
