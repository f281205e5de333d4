// What one instance makes of the convictions other gateway instances publish about a backend
// (shared_state.verdicts, README "Shared verdicts"). Another instance's word takes the backend
// out of rotation at once, for `hold` at most: it never opens this instance's breaker or feeds
// its detectors, which still decide on their own evidence. So that one confused instance (a
// broken path of its own to the backend, a bad clock) cannot keep a healthy backend out of the
// fleet, a suspicion that ends without this instance seeing a backend fault of its own makes it
// deaf to further ones about that backend for `quiet`.
//
// A pure state machine (no clock, no I/O): the health controller calls it on its thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "infergate/core/clock.h"
#include "infergate/core/units.h"

namespace infergate::health {

struct SharedSuspicionConfig {
  Duration hold = std::chrono::seconds(10);
  Duration quiet = std::chrono::seconds(60);
};

class SharedSuspicion {
 public:
  enum class Verdict {
    kHonoured,   // the backend is suspect from now until until()
    kRefreshed,  // already suspect: a second instance agrees (the hold does not grow)
    kIgnored,    // quiet: an earlier shared suspicion was contradicted here
  };

  explicit SharedSuspicion(SharedSuspicionConfig config = {}) : config_(config) {}

  // Instance `from` convicted the backend.
  Verdict OnConviction(TimePoint now, std::string_view from);
  // Instance `from` no longer convicts it. True when that lifts the suspicion (`from` was the
  // only instance behind it).
  bool OnClear(TimePoint now, std::string_view from);
  // A backend fault this instance saw itself: it agrees with whoever convicted, so the next
  // shared verdict is honoured even within `quiet`.
  void OnOwnFault() { own_fault_ = true; }
  // This instance's own evidence that the backend serves (a canary answered): lifts an active
  // suspicion at once. True when it did.
  bool OnOwnSuccess(TimePoint now);
  // True once, when the hold ran out.
  bool Expire(TimePoint now);

  bool active() const { return active_; }
  TimePoint until() const { return until_; }
  // The instance whose conviction started the active suspicion ("" when none).
  const std::string& by() const { return by_; }
  void Reconfigure(SharedSuspicionConfig config) { config_ = config; }

 private:
  void End(TimePoint now);

  SharedSuspicionConfig config_;
  bool active_ = false;
  TimePoint until_{};
  std::string by_;
  bool others_agree_ = false;  // a second instance convicted during the hold
  bool own_fault_ = false;     // since the last suspicion began
  std::optional<TimePoint> deaf_until_;
};

}  // namespace infergate::health
