// SuspicionState: conviction on phi, return only after consecutive successful probes.
#include "infergate/health/hysteresis.h"

#include <cstdio>

namespace infergate::health {

std::string_view ToString(Availability a) {
  switch (a) {
    case Availability::kAvailable:
      return "available";
    case Availability::kSuspected:
      return "suspected";
  }
  return "unknown";
}

SuspicionState::SuspicionState(SuspicionConfig config) : config_(config) {
  if (config_.healthy_threshold == 0) config_.healthy_threshold = 1;
}

std::optional<Transition> SuspicionState::Evaluate(double phi, bool may_convict) {
  if (state_ == Availability::kSuspected) return MaybeRecover(phi);
  if (!may_convict || !(phi >= config_.threshold)) return std::nullopt;
  state_ = Availability::kSuspected;
  consecutive_successes_ = 0;
  char buf[96];
  std::snprintf(buf, sizeof buf, "phi %.2f >= threshold %.2f", phi, config_.threshold);
  return Transition{Availability::kAvailable, Availability::kSuspected, buf};
}

std::optional<Transition> SuspicionState::ProbeResult(bool success, double phi) {
  if (!success) {
    consecutive_successes_ = 0;
    return std::nullopt;
  }
  if (consecutive_successes_ < UINT32_MAX) ++consecutive_successes_;
  if (state_ == Availability::kSuspected) return MaybeRecover(phi);
  return std::nullopt;
}

std::optional<Transition> SuspicionState::MaybeRecover(double phi) {
  if (consecutive_successes_ < config_.healthy_threshold || !(phi < config_.threshold)) {
    return std::nullopt;
  }
  state_ = Availability::kAvailable;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%u consecutive successful probes and phi %.2f < %.2f",
                static_cast<unsigned>(consecutive_successes_), phi, config_.threshold);
  return Transition{Availability::kSuspected, Availability::kAvailable, buf};
}

}  // namespace infergate::health
