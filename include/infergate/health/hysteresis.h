// Per-backend availability with hysteresis: phi convicts at once, only consecutive successful
// probes (and a calm phi) bring a backend back, so it does not flap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace infergate::health {

enum class Availability { kAvailable, kSuspected };

std::string_view ToString(Availability a);

struct SuspicionConfig {
  // Same as PhiConfig::threshold for the pool.
  double threshold = 8.0;
  // Consecutive successful probes, counted from the moment of suspicion, needed to return.
  // 2: one lucky answer from a wedged backend is not enough; two at 200 ms cost only ~0.4 s.
  uint32_t healthy_threshold = 2;
};

// A state change, for logging and metrics. `reason` is human-readable, e.g.
// "phi 9.12 >= threshold 8.00" or "2 consecutive successful probes and phi 0.00 < 8.00".
struct Transition {
  Availability from;
  Availability to;
  std::string reason;
};

// Starts available (a backend is innocent until its detector has evidence against it). Not
// thread-safe: the owner serialises calls. phi values are the detector's, dimensionless.
class SuspicionState {
 public:
  explicit SuspicionState(SuspicionConfig config = {});

  // A phi evaluation. Available -> suspected when phi >= threshold and `may_convict` (pass
  // StallGuard::MayConvict(now)). Suspected -> available when the probe count is already met and
  // phi < threshold. Returns the transition, if any.
  std::optional<Transition> Evaluate(double phi, bool may_convict = true);

  // A probe result, with the detector's phi right after feeding it (a success is evidence of
  // life, so feed the detector first). A failure resets the consecutive-success count. While
  // suspected, `healthy_threshold` consecutive successes and phi < threshold return the backend.
  std::optional<Transition> ProbeResult(bool success, double phi);

  Availability state() const { return state_; }
  bool IsAvailable() const { return state_ == Availability::kAvailable; }
  uint32_t ConsecutiveSuccesses() const { return consecutive_successes_; }
  const SuspicionConfig& config() const { return config_; }

 private:
  std::optional<Transition> MaybeRecover(double phi);

  SuspicionConfig config_;
  Availability state_ = Availability::kAvailable;
  uint32_t consecutive_successes_ = 0;
};

}  // namespace infergate::health
