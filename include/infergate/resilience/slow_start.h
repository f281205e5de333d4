// Slow start (Envoy semantics): a host that joined or recovered at `joined` gets a weight
// multiplier that ramps up over `window`, so a cold model server is not flooded at once.
#pragma once

#include <chrono>

#include "infergate/core/clock.h"
#include "infergate/core/units.h"

namespace infergate::resilience {

struct SlowStartConfig {
  Duration window = std::chrono::seconds(30);  // 0 disables slow start
  double aggression = 1.0;                     // > 0; 1 is linear, > 1 ramps faster early
  double min_weight_percent = 10.0;            // floor of the multiplier, in percent [0, 100]
};

// Weight multiplier in [min_weight_percent / 100, 1]:
//   f = (now - joined) / window, clamped to [0, 1]
//   multiplier = max(min_weight_percent / 100, f ^ (1 / aggression))
// exactly as Envoy computes it (the floor is a max, not an offset of the ramp). Returns 1 once
// the window has passed or when the window is 0; min_weight when now <= joined. Invalid
// parameters are clamped (aggression <= 0 or NaN counts as 1). Pure; thread-safe.
double SlowStartMultiplier(const SlowStartConfig& config, TimePoint joined, TimePoint now);

// The same as thousandths (1000 = full weight), the unit BackendState publishes.
unsigned SlowStartPermille(const SlowStartConfig& config, TimePoint joined, TimePoint now);

// True while the host is still ramping (now - joined < window).
bool InSlowStart(const SlowStartConfig& config, TimePoint joined, TimePoint now);

}  // namespace infergate::resilience
