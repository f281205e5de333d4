// Adaptive concurrency: a limit that follows measured latency, in the gradient style of
// Netflix's concurrency-limits Gradient2 and Envoy's adaptive concurrency filter. When the
// short-term latency rises above the long-term baseline (queueing at the backend), the limit
// shrinks; while latency stays near the baseline it grows by a queue allowance (sqrt(limit)).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "infergate/core/clock.h"

namespace infergate::isolation {

struct GradientOptions {
  uint32_t initial_limit = 20;
  uint32_t min_limit = 2;
  uint32_t max_limit = 1000;
  double tolerance = 1.5;  // short-term latency may exceed the baseline by this factor
  double smoothing = 0.2;  // weight of each new limit, (0, 1]
  std::chrono::nanoseconds sample_window{250000000};
  uint32_t long_window = 600;  // samples averaged into the baseline (an EWMA of this length)
  bool operator==(const GradientOptions&) const = default;
};

// The pure update rule, once per sample window: the baseline is an EWMA of the windows' mean
// latency (alpha = 2 / (long_window + 1)); gradient = clamp(tolerance x baseline / window mean,
// 0.5, 1); target = limit x gradient + sqrt(limit); limit moves `smoothing` of the way to the
// target, within [min_limit, max_limit]. Details in adaptive_limit.cc. Not thread-safe.
class GradientLimit {
 public:
  explicit GradientLimit(GradientOptions options);
  // One sample window: its mean latency and the most requests in flight during it. Returns the
  // new limit. The limit grows only when the window used at least half of it (no growth while
  // idle).
  uint32_t Update(std::chrono::nanoseconds short_rtt, uint32_t max_in_flight);
  uint32_t limit() const { return static_cast<uint32_t>(limit_); }
  std::chrono::nanoseconds baseline() const;

 private:
  GradientOptions options_;
  double limit_;
  double long_rtt_ns_ = 0;  // EWMA baseline; 0 until the first sample
};

// A pool's shared gate. Thread-safe: workers admit with one compare-and-swap and record each
// request's latency on release; whichever thread first sees a window end folds the window into
// the GradientLimit (try-lock, never waits).
class AdaptiveGate {
 public:
  AdaptiveGate(GradientOptions options, const Clock& clock);
  ~AdaptiveGate();
  AdaptiveGate(const AdaptiveGate&) = delete;
  AdaptiveGate& operator=(const AdaptiveGate&) = delete;

  // True and one slot taken when fewer than limit() requests are in flight.
  bool TryAcquire();
  // Releases a slot. `rtt`: the request's latency sample (time to first byte), or nullopt when
  // it ended without one (failure, client abort): nothing is learned from it.
  void Release(std::optional<std::chrono::nanoseconds> rtt);

  uint32_t limit() const { return limit_.load(std::memory_order_relaxed); }
  uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<uint32_t> limit_;
  std::atomic<uint32_t> in_flight_{0};
};

}  // namespace infergate::isolation
