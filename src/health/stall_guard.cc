// StallGuard: notices gaps in the checking loop's ticks and suppresses convictions around them.
#include "infergate/health/stall_guard.h"

#include <algorithm>

namespace infergate::health {

StallGuard::StallGuard(StallGuardConfig config) : config_(config) {}

std::optional<Stall> StallGuard::Tick(TimePoint now) {
  if (!last_tick_) {
    last_tick_ = now;
    return std::nullopt;
  }
  if (now < *last_tick_) return std::nullopt;
  const TimePoint prev = *last_tick_;
  last_tick_ = now;
  if (now - prev <= config_.bound) return std::nullopt;

  const Stall stall{prev, now};
  const Duration after = std::min(stall.length(), std::max(config_.max_quiet_after, Duration{0}));
  const TimePoint until = now + after;
  if (quiet_until_ > prev) {  // overlaps or touches the previous quiet span: extend it
    quiet_from_ = std::min(quiet_from_, prev);
    quiet_until_ = std::max(quiet_until_, until);
  } else {
    quiet_from_ = prev;
    quiet_until_ = until;
  }
  last_stall_ = stall;
  ++stall_count_;
  return stall;
}

bool StallGuard::MayConvict(TimePoint now) const {
  if (last_tick_ && now - *last_tick_ > config_.bound) return false;
  if (now >= quiet_from_ && now < quiet_until_) return false;
  return true;
}

}  // namespace infergate::health
