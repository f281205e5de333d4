// Priority levels (Envoy semantics): traffic stays on the highest priority while it is healthy
// enough after overprovisioning, and spills down to lower priorities as it degrades.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace infergate::resilience {

inline constexpr double kDefaultOverprovisioningFactor = 1.4;

// healthy / total x 100 in [0, 100]; 0 for an empty priority.
double HealthyPercent(size_t healthy, size_t total);

// The share of traffic (percent, summing to 100) for each priority, P0 first. Pure; thread-safe.
//
// Rule (Envoy's, in real numbers instead of Envoy's integer percents):
//   health_i = min(100, healthy_percent_i x overprovisioning_factor)
//   total    = min(100, sum of health_i)
//   load_i   = min(left, health_i x 100 / total), taken in priority order from left = 100.
// While total reaches 100 this is pure spill-down: each priority takes its health of what is
// left and the rest goes lower. When the overprovisioned health of all priorities together is
// below 100, every priority's health is scaled by 100 / total so the whole load is still placed
// in proportion to health (three priorities at 10% healthy get a third each).
// When every priority has 0 health the whole load goes to P0 (as Envoy does); the caller should
// then be in panic mode. Examples with P1 fully healthy: P0 100% -> 100/0, 50% -> 70/30,
// 0% -> 0/100. Inputs are clamped to [0, 100] (NaN counts as 0); a factor <= 0 counts as 1.
// An empty input gives an empty result.
std::vector<double> ComputePriorityLoad(
    std::span<const double> healthy_percent,
    double overprovisioning_factor = kDefaultOverprovisioningFactor);

}  // namespace infergate::resilience
