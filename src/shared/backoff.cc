// Reconnect backoff schedule.
#include "infergate/shared/backoff.h"

#include <algorithm>

#include "infergate/core/random.h"

namespace infergate::shared {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(std::max(initial, std::chrono::milliseconds(1))), max_(std::max(max, initial_)) {}

std::chrono::milliseconds Backoff::Base() const {
  // Doubling stops at max_, so the loop runs at most log2(max/initial) + 1 times.
  auto base = initial_;
  for (int i = 0; i < failures_ && base < max_; ++i) {
    base *= 2;
  }
  return std::min(base, max_);
}

std::chrono::milliseconds Backoff::Next(Rng& rng) {
  const auto base = Base();
  if (base < max_) {
    ++failures_;
  }
  const auto half = base.count() / 2;
  const auto spread = base.count() - half;
  return std::chrono::milliseconds(half + static_cast<int64_t>(rng.Below(spread + 1)));
}

}  // namespace infergate::shared
