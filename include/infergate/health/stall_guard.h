// Guard against the gateway's own stalls (CPU starvation, SIGSTOP, long pauses): a stalled
// detector sees every backend as silent, so nobody may be convicted for the stall's span.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "infergate/core/clock.h"
#include "infergate/core/units.h"

namespace infergate::health {

struct StallGuardConfig {
  // A gap between two ticks longer than this is a stall of the gateway itself. 200 ms: far above
  // the 10 ms tick cadence and normal event-loop latency, and low enough that a stall just under
  // the bound (which is not forgiven) cannot convict a healthy backend with the default PhiConfig:
  // silence <= probe interval (200 ms) + 200 ms gives phi ~4.7 against mean 200 ms, sigma 50 ms,
  // while conviction needs ~460 ms. (The reference uses 5 s with 1 s heartbeats; with our ~0.5 s
  // detection time a 5 s bound would let any 0.5-5 s stall convict every backend.)
  Duration bound = std::chrono::milliseconds(200);
  // After a stall of length L ending at E nobody is convicted before E + L (the reference rule);
  // this caps that quiet span so that, say, a laptop suspended for an hour does not blind the
  // detector for another hour. Detectors are forgiven (ForgivePause) anyway.
  Duration max_quiet_after = std::chrono::seconds(30);
};

// One stall: the last tick before it and the tick that noticed it.
struct Stall {
  TimePoint start;
  TimePoint end;
  Duration length() const { return end - start; }
};

// The checking loop calls Tick(now) at its cadence (e.g. every 10 ms). Not thread-safe: Tick and
// MayConvict run on the loop's thread. Times are steady-clock TimePoints.
//
// Integration: on every loop iteration
//   if (auto stall = guard.Tick(now)) for (auto& d : detectors) d.ForgivePause(stall->start,
//                                                                             stall->end);
//   then evaluate phi and convict only if guard.MayConvict(now).
class StallGuard {
 public:
  explicit StallGuard(StallGuardConfig config = {});

  // Records a tick. Returns the stall when the gap since the previous tick exceeds the bound
  // (the first tick never reports one). A `now` earlier than the previous tick is ignored.
  std::optional<Stall> Tick(TimePoint now);

  // False while the gateway is (or just was) stalled: when `now` is more than `bound` past the
  // last tick (a stall in progress, the tick has not run yet), and from a stall's start until
  // end + min(length, max_quiet_after).
  bool MayConvict(TimePoint now) const;

  // The most recent stall, if any.
  const std::optional<Stall>& LastStall() const { return last_stall_; }
  // Number of stalls seen (for metrics).
  uint64_t StallCount() const { return stall_count_; }
  const StallGuardConfig& config() const { return config_; }

 private:
  StallGuardConfig config_;
  std::optional<TimePoint> last_tick_;
  std::optional<Stall> last_stall_;
  TimePoint quiet_from_{};
  TimePoint quiet_until_{};  // empty span [quiet_from_, quiet_until_) when equal
  uint64_t stall_count_ = 0;
};

}  // namespace infergate::health
