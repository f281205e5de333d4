// Envoy's priority load computation with overprovisioning, in real numbers.
#include "infergate/resilience/priority.h"

#include <algorithm>
#include <cmath>

namespace infergate::resilience {

double HealthyPercent(size_t healthy, size_t total) {
  if (total == 0) return 0.0;
  return static_cast<double>(std::min(healthy, total)) * 100.0 / static_cast<double>(total);
}

std::vector<double> ComputePriorityLoad(std::span<const double> healthy_percent,
                                        double overprovisioning_factor) {
  std::vector<double> load(healthy_percent.size(), 0.0);
  if (load.empty()) return load;
  const double factor = (overprovisioning_factor > 0.0 && std::isfinite(overprovisioning_factor))
                            ? overprovisioning_factor
                            : 1.0;
  std::vector<double> health(healthy_percent.size());
  double sum = 0.0;
  for (size_t i = 0; i < health.size(); ++i) {
    const double h =
        std::isnan(healthy_percent[i]) ? 0.0 : std::clamp(healthy_percent[i], 0.0, 100.0);
    health[i] = std::min(100.0, h * factor);
    sum += health[i];
  }
  const double total = std::min(100.0, sum);
  if (total <= 0.0) {
    load[0] = 100.0;  // nothing is healthy anywhere: everything to P0 (the caller panics)
    return load;
  }
  double left = 100.0;
  for (size_t i = 0; i < health.size(); ++i) {
    load[i] = std::clamp(health[i] * 100.0 / total, 0.0, left);
    left -= load[i];
  }
  return load;
}

}  // namespace infergate::resilience
