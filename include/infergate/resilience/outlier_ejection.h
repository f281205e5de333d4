// Envoy-style outlier ejection over a pool of hosts: a host with too many consecutive gateway
// failures is ejected for base x (times ejected), capped, and returns when that time has passed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "infergate/core/clock.h"
#include "infergate/core/units.h"
#include "infergate/resilience/outcome.h"

namespace infergate::resilience {

struct OutlierEjectionConfig {
  // Eject on this many consecutive failures (Envoy's consecutive_gateway_failure: 5). 0 disables.
  uint32_t consecutive_failures = 5;
  // Ejection time = base x times ejected, capped at max (Envoy: 30 s and 300 s).
  Duration base_ejection_time = std::chrono::seconds(30);
  Duration max_ejection_time = std::chrono::seconds(300);
  // At most this share of the pool is ejected at once (Envoy: 10%), but always at least one
  // host, so small pools still eject (the load balancer's panic mode covers the rest).
  double max_ejection_percent = 10.0;
};

struct EjectionEvent {
  enum class Kind {
    kEjected,    // the host takes no traffic until `until`
    kUnejected,  // its ejection time passed (`at` is that deadline)
    kSuppressed  // it reached the threshold but max_ejection_percent was reached
  };
  Kind kind = Kind::kEjected;
  size_t host = 0;
  TimePoint at{};
  TimePoint until{};                  // kEjected: end of the ejection
  Duration ejection_time{0};          // kEjected: its length
  uint32_t times_ejected = 0;         // the multiplier after this event
  uint32_t consecutive_failures = 0;  // the streak that triggered it
};

std::string_view ToString(EjectionEvent::Kind kind);

// Not thread-safe: the owner serialises calls (the integration runs one detector per pool on the
// health control thread, fed with per-backend results or streaks summed across workers). Never
// blocks, never reads a clock; `now` must not go backwards.
//
// Per host: a streak of consecutive failures (a success resets it, kIgnored leaves it alone).
// When the streak reaches consecutive_failures the host is ejected for
// min(max_ejection_time, base_ejection_time x times_ejected) unless that would eject more than
// max(1, floor(hosts x max_ejection_percent / 100)) hosts; a suppressed host keeps its streak
// and is tried again on its next failure (one kSuppressed event per streak). Results for an ejected
// host are dropped (they were admitted before the ejection). When the ejection time passes the host
// returns with a streak of 0. Decay: for each full base_ejection_time a host spends not ejected,
// times_ejected drops by one (Envoy lowers it by one per healthy detection interval; we use
// base_ejection_time as the interval), so a host that stays healthy for base x n is back to a
// first, short ejection. The multiplier stops growing at ceil(max / base), where the cap already
// applies, so decay never takes longer than needed.
class OutlierDetector {
 public:
  OutlierDetector(const OutlierEjectionConfig& config, size_t hosts);

  // One classified result for `host` (< hosts()).
  void OnResult(TimePoint now, size_t host, CallResult result);
  // The host's current streak as counted elsewhere (e.g. across workers, reset by any success);
  // replaces the detector's own count and ejects if it reaches the threshold.
  void OnConsecutiveFailures(TimePoint now, size_t host, uint32_t streak);

  bool IsEjected(size_t host, TimePoint now);
  // Un-ejects every host whose time has passed (IsEjected and OnResult do this lazily).
  void Tick(TimePoint now);
  size_t EjectedCount(TimePoint now);
  // The ejection multiplier after decay at `now` (0: never ejected or fully decayed).
  uint32_t TimesEjected(size_t host, TimePoint now);
  uint32_t consecutive_failures(size_t host) const { return hosts_[host].streak; }
  // The earliest end of a current ejection, for a controller's timer.
  std::optional<TimePoint> NextUnejection() const;
  // Forgets everything about `host` (a new backend took its index); it is not ejected.
  void ResetHost(size_t host);
  // One host's whole state, to carry it into a detector for a changed pool (a reload that adds or
  // removes backends renumbers them): Adopt(i, other.StateOf(j)) makes host i what host j was
  // there, ejection and its end included.
  struct HostState {
    uint32_t streak = 0;
    uint32_t times_ejected = 0;
    bool ejected = false;
    TimePoint until{};
    TimePoint decay_from{};
    bool suppression_reported = false;
  };
  HostState StateOf(size_t host) const { return hosts_[host]; }
  void Adopt(size_t host, const HostState& state);
  // How many hosts may be ejected at once: max(1, floor(hosts x max_ejection_percent / 100)).
  size_t MaxEjected() const;

  // Events since the last call, oldest first. At most 1024 are kept (older ones are dropped and
  // counted in dropped_events()).
  std::vector<EjectionEvent> TakeEvents();
  uint64_t dropped_events() const { return dropped_events_; }
  size_t hosts() const { return hosts_.size(); }
  const OutlierEjectionConfig& config() const { return config_; }

 private:
  using Host = HostState;
  void Unejected(size_t host, TimePoint now);
  void Decay(Host& h, TimePoint now) const;
  void MaybeEject(TimePoint now, size_t host);
  void Emit(const EjectionEvent& e);

  OutlierEjectionConfig config_;
  std::vector<Host> hosts_;
  size_t ejected_ = 0;
  uint32_t max_multiplier_ = 1;
  std::vector<EjectionEvent> events_;
  uint64_t dropped_events_ = 0;
};

}  // namespace infergate::resilience
