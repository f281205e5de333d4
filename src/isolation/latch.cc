// ConditionLatch: latch at once on the condition, release only after it stayed clear for
// recover_after.
#include "infergate/isolation/latch.h"

namespace infergate::isolation {

bool ConditionLatch::Observe(bool condition, TimePoint now) {
  if (condition) {
    latched_ = true;
    clear_ = false;  // any recurrence restarts the clear period
    return true;
  }
  if (!latched_) return false;
  if (!clear_) {
    clear_ = true;
    clear_since_ = now;
  }
  if (now - clear_since_ >= recover_after_) {
    latched_ = false;
    clear_ = false;
  }
  return latched_;
}

bool ConditionLatch::ObserveLevel(double value, double enter, double exit, TimePoint now) {
  // NaN compares false: an unknown level counts as clear.
  return Observe(latched_ ? value > exit : value > enter, now);
}

}  // namespace infergate::isolation
