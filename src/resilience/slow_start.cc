// Slow-start weight ramp, as Envoy computes it.
#include "infergate/resilience/slow_start.h"

#include <algorithm>
#include <cmath>

namespace infergate::resilience {

double SlowStartMultiplier(const SlowStartConfig& config, TimePoint joined, TimePoint now) {
  if (config.window <= Duration::zero() || now - joined >= config.window) return 1.0;
  double floor = config.min_weight_percent / 100.0;
  floor = std::isnan(floor) ? 0.0 : std::clamp(floor, 0.0, 1.0);
  if (now <= joined) return floor;
  const double aggression =
      (config.aggression > 0.0 && std::isfinite(config.aggression)) ? config.aggression : 1.0;
  const double f =
      std::chrono::duration<double>(now - joined) / std::chrono::duration<double>(config.window);
  return std::clamp(std::max(floor, std::pow(f, 1.0 / aggression)), 0.0, 1.0);
}

unsigned SlowStartPermille(const SlowStartConfig& config, TimePoint joined, TimePoint now) {
  return static_cast<unsigned>(std::lround(SlowStartMultiplier(config, joined, now) * 1000.0));
}

bool InSlowStart(const SlowStartConfig& config, TimePoint joined, TimePoint now) {
  return config.window > Duration::zero() && now - joined < config.window;
}

}  // namespace infergate::resilience
