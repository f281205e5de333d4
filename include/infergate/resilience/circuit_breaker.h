// resilience4j-style circuit breaker for one backend: Closed -> Open -> HalfOpen -> Closed/Open,
// over a count- or time-based sliding window of failure and slow-call rates. A pure state
// machine: time comes in as TimePoint arguments, jitter from a seeded generator.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/core/clock.h"
#include "infergate/core/random.h"
#include "infergate/core/units.h"
#include "infergate/resilience/outcome.h"

namespace infergate::resilience {

enum class BreakerState { kClosed, kOpen, kHalfOpen };
enum class WindowType {
  kCount,  // the last window_size calls
  kTime,   // the calls of the last window_size seconds, in one-second buckets
};

struct CircuitBreakerConfig {
  WindowType window_type = WindowType::kCount;
  // Calls (kCount) or seconds (kTime). 50 calls (resilience4j: 100): at LLM call rates the last
  // 50 calls are recent, and the config's pool default is the same.
  uint32_t window_size = 50;
  // Trip when failures / calls x 100 >= this (percent, (0, 100]). resilience4j and Hystrix: 50.
  double failure_rate_threshold = 50.0;
  // Trip when slow calls / calls x 100 >= this (percent, (0, 100]). 100: only when all are slow.
  double slow_call_rate_threshold = 100.0;
  // A call is slow when its time to first byte is >= this. resilience4j: 60 s.
  Duration slow_call_duration = std::chrono::seconds(60);
  // Never trip on fewer calls in the window. resilience4j uses 100; an LLM backend serves few,
  // long calls (a 100-call window at 2 req/s means almost a minute of failures before it
  // trips), so we use Hystrix's 20, which still gives a meaningful rate at a 50% threshold.
  // With kCount a value above window_size is lowered to window_size.
  uint32_t minimum_calls = 20;
  // First open period (Hystrix sleeps 5 s; resilience4j waits 60 s); each consecutive open (a
  // failed half-open round) doubles it.
  Duration open_duration = std::chrono::seconds(5);
  // Cap of the doubling, jitter included. It must stay below the time clients keep retrying: a
  // breaker still open when the client's last retry arrives turns a short outage into failed
  // requests (a reported LLM-gateway bug; LiteLLM cut its 60 s deployment cooldown to 5 s in
  // BerriAI/litellm#5698 after it cost capacity). 60 s bounds the wait at the doubling's cap.
  Duration max_open_duration = std::chrono::seconds(60);
  // Each open period is scaled by a factor drawn uniformly from [1 - jitter, 1 + jitter] (then
  // capped at max_open_duration), so breakers that tripped together on several workers or
  // gateways do not probe in lockstep. [0, 1).
  double open_jitter = 0.1;
  // Probe calls admitted in HalfOpen; all of them must succeed to close.
  uint32_t half_open_permits = 3;
  // A half-open round with probes outstanding and neither a new permit nor a result for this
  // long is declared lost (results never came back, e.g. a client abort nobody reported): the
  // outstanding permits are granted again (a new epoch) instead of staying stuck. See
  // resilience4j#935 for the stuck-half-open bug. Must be > 0.
  Duration half_open_timeout = std::chrono::seconds(60);
};

// Empty when `config` is valid; otherwise what is wrong, for the config loader.
std::optional<std::string> ValidateCircuitBreakerConfig(const CircuitBreakerConfig& config);

enum class TransitionReason {
  kFailureRate,      // Closed -> Open: failure rate >= threshold over >= minimum_calls
  kSlowCallRate,     // Closed -> Open: slow-call rate >= threshold over >= minimum_calls
  kOpenElapsed,      // Open -> HalfOpen: the open period passed
  kProbesSucceeded,  // HalfOpen -> Closed: every permit succeeded
  kProbeFailed,      // HalfOpen -> Open: a probe failed
  kProbesSlow,       // HalfOpen -> Open: probes succeeded but the slow-call rate tripped
  kProbesLost,       // HalfOpen -> HalfOpen: outstanding probes timed out and are re-granted
  kForcedOpen,       // any -> Open by an operator, held until Reset
  kReset,            // any -> Closed by an operator
};

struct BreakerTransition {
  BreakerState from = BreakerState::kClosed;
  BreakerState to = BreakerState::kClosed;
  TransitionReason reason = TransitionReason::kReset;
  TimePoint at{};
  Duration open_for{0};            // to == kOpen: the open period (0 when forced: until Reset)
  uint32_t consecutive_opens = 0;  // to == kOpen: 1 for the first open since Closed
  uint64_t calls = 0;              // window (Closed) or round (HalfOpen) calls evaluated
  double failure_rate = 0.0;       // percent, over `calls`
  double slow_call_rate = 0.0;     // percent, over `calls`
};

// Whether a call may go to the backend, and the epoch to hand back with its result.
struct BreakerPermit {
  bool granted = false;
  uint64_t epoch = 0;
  explicit operator bool() const { return granted; }
};

// Aggregated outcomes (e.g. per-worker counter deltas summed by a control thread).
struct OutcomeCounts {
  uint64_t success = 0;
  uint64_t failure = 0;
  uint64_t slow = 0;  // of success + failure, how many were slow (<= success + failure)
  uint64_t ignored = 0;
};

struct WindowStats {
  uint64_t calls = 0;
  uint64_t failures = 0;
  uint64_t slow = 0;
};

std::string_view ToString(BreakerState state);
std::string_view ToString(TransitionReason reason);

// Not thread-safe: the owner serialises every call (the integration runs one breaker per backend
// on the health control thread, fed with aggregated outcomes, or one per worker). Never blocks,
// never reads a clock: `now` is the caller's steady-clock time and must not go backwards.
//
// Closed: every call is admitted and its result recorded in the window; after each result, if
// the window holds >= minimum_calls calls and the failure or slow-call rate is >= its threshold,
// the breaker opens. Open: nothing is admitted until the open period has passed; the first
// TryAcquire/AcquirePermits/state() at or after that moves to HalfOpen. HalfOpen: at most
// half_open_permits probes are admitted; a failure reopens at once with the next, doubled
// period; when all permits have succeeded it closes (or reopens if the slow-call rate of the
// probes reaches its threshold) and the doubling resets. Ignored results are not counted; in
// HalfOpen an ignored result hands its permit back.
//
// Epochs: every permit carries the epoch of the state that admitted it, which changes with every
// transition (and when lost probes are re-granted). A result passed with its permit counts only
// in that same epoch, so a slow call admitted while Closed cannot pass for a probe, and a late
// probe result cannot act on a later round. Results without a permit (aggregated counts) count
// against the current state; in HalfOpen at most as many as there are outstanding permits.
class CircuitBreaker {
 public:
  // Invalid config values are clamped to the nearest valid one. `seed` feeds the open-period
  // jitter.
  CircuitBreaker(const CircuitBreakerConfig& config, uint64_t seed);

  // Closed: granted. Open: refused until the open period has passed, then HalfOpen. HalfOpen:
  // granted while fewer than half_open_permits probes of this round are outstanding or
  // succeeded. Forced open: always refused.
  BreakerPermit TryAcquire(TimePoint now);
  // Up to `wanted` permits at once (all of them in Closed), for a controller that hands probe
  // permits to workers; returns how many were granted, in epoch().
  uint32_t AcquirePermits(TimePoint now, uint32_t wanted);

  // One call's result. `ttfb`: time to the response head (for a failure without one, the time
  // until it failed); a call is slow when ttfb >= slow_call_duration.
  void OnResult(TimePoint now, CallResult result, Duration ttfb);
  // The same, counted only if `permit` was granted in the current epoch.
  void OnResult(TimePoint now, CallResult result, Duration ttfb, const BreakerPermit& permit);
  // Many results at once, without order. In HalfOpen a batch with any failure reopens.
  void OnResults(TimePoint now, const OutcomeCounts& counts);

  // The state at `now`, after time-driven transitions (Open -> HalfOpen, lost probes).
  BreakerState state(TimePoint now);
  // Operators: hold the breaker open until Reset; Reset closes it, clears the window and the
  // doubling. Both report a transition.
  void ForceOpen(TimePoint now);
  void Reset(TimePoint now);

  // The oldest unreported transition, so the integration can log each once and count it. At
  // most 64 are kept; older ones are dropped and counted in dropped_transitions().
  std::optional<BreakerTransition> TakeTransition();

  // When an Open breaker will half-open (for a controller's timer); nullopt unless Open and not
  // forced.
  std::optional<TimePoint> open_until() const;
  bool forced_open() const { return forced_; }
  uint64_t epoch() const { return epoch_; }
  // Consecutive opens since the breaker was last Closed (drives the doubling).
  uint32_t consecutive_opens() const { return consecutive_opens_; }
  // HalfOpen: probes admitted and not yet answered in this epoch; 0 otherwise.
  uint32_t outstanding_probes() const;
  // Closed: the window's content at `now`; otherwise empty.
  WindowStats window(TimePoint now) const;
  uint64_t dropped_transitions() const { return dropped_transitions_; }
  // Results refused because their permit came from an earlier epoch, or came while Open.
  uint64_t stale_results() const { return stale_results_; }
  const CircuitBreakerConfig& config() const { return config_; }

  // The open period before jitter for the n-th consecutive open (n >= 1):
  // min(max_open_duration, open_duration x 2^(n-1)).
  static Duration BaseOpenDuration(const CircuitBreakerConfig& config, uint32_t n);

 private:
  struct Bucket {
    int64_t second = 0;
    uint64_t calls = 0;
    uint64_t failures = 0;
    uint64_t slow = 0;
  };

  void Advance(TimePoint now);
  void Record(TimePoint now, uint64_t success, uint64_t failure, uint64_t slow);
  void RecordHalfOpen(TimePoint now, uint64_t success, uint64_t failure, uint64_t slow,
                      uint64_t ignored);
  void ClearWindow();
  void MaybeTrip(TimePoint now);
  void MoveTo(BreakerState to, TransitionReason reason, TimePoint now, const WindowStats& stats);
  void Open(TimePoint now, TransitionReason reason, const WindowStats& stats);
  void Report(const BreakerTransition& t);
  bool IsSlow(Duration ttfb) const { return ttfb >= config_.slow_call_duration; }

  CircuitBreakerConfig config_;
  Rng rng_;
  BreakerState state_ = BreakerState::kClosed;
  uint64_t epoch_ = 0;
  bool forced_ = false;
  uint32_t consecutive_opens_ = 0;
  TimePoint open_until_{};

  // Closed window. kCount: a ring of flags (bit 0 failure, bit 1 slow).
  std::vector<uint8_t> ring_;
  size_t ring_next_ = 0;
  size_t ring_filled_ = 0;
  WindowStats ring_totals_;
  // kTime: window_size one-second buckets indexed by second % window_size.
  std::vector<Bucket> buckets_;

  // HalfOpen round.
  uint32_t granted_ = 0;     // permits granted in this round and not handed back
  uint32_t succeeded_ = 0;   // probes that succeeded (a failure ends the round at once)
  uint32_t probe_slow_ = 0;  // of which slow
  TimePoint last_activity_{};

  std::deque<BreakerTransition> transitions_;
  uint64_t dropped_transitions_ = 0;
  uint64_t stale_results_ = 0;
};

}  // namespace infergate::resilience
