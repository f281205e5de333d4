// Phi-accrual failure detector, one per backend: turns evidence of life (probe answers, response
// heads, streamed chunks) into a suspicion level phi. Pure state machine: no I/O, no threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "infergate/core/clock.h"
#include "infergate/core/units.h"

namespace infergate::health {

// Per-pool detector settings. The defaults are tuned for a gateway whose health prober answers
// every 100-500 ms (200 ms assumed); the reference implementation's defaults (heartbeat every
// 1 s, min_std_dev 100 ms, acceptable_pause 3 s, first estimate 1 s) remain reachable by setting
// the fields (see ReferenceDefaults()).
struct PhiConfig {
  // phi >= threshold convicts: under the fitted model the odds that a live backend is this late
  // are 10^-8 per evaluation. Same as the reference.
  double threshold = 8.0;
  // Inter-arrival samples kept (200 s of history at one sample per 200 ms). Clamped to
  // [1, kMaxWindowSize].
  size_t window_size = 1000;
  // Floor of the fitted standard deviation. Healthy probe intervals vary by a few ms only; without
  // a floor a probe 10 ms late would convict. 50 ms lets a backend be ~260 ms (5.2 sigma) later
  // than its mean cadence before phi reaches 8, so a hung backend probed every 200 ms is convicted
  // ~460 ms after its last sign of life, well inside the 1 s target.
  Duration min_std_dev = std::chrono::milliseconds(50);
  // Added to the mean interval: gaps the backend may take without any suspicion. 0 because the
  // probe cadence already bounds gaps when healthy and every ms here adds to detection time.
  Duration acceptable_pause = Duration::zero();
  // Seeds the window at the first heartbeat with two intervals, estimate -/+ estimate/4 (mean
  // estimate, std dev estimate/4). 500 ms is the top of the usual probe range, so a fresh backend
  // is not convicted before its history fills at any cadence <= 500 ms (fresh: ~1.15 s of silence
  // convicts; after ~10 probes at 200 ms the 1 s target holds).
  Duration first_heartbeat_estimate = std::chrono::milliseconds(500);
  // Evidence() coalescing: evidence closer than this to the previous sample refreshes "last seen
  // alive" but records no interval. Set to ~0.8 x the probe interval (160 ms for 200 ms probes):
  // below the probe interval so a probe answered a little early still makes a sample, close to it
  // so the learned mean stays near the probe cadence under load. 0 disables coalescing.
  Duration coalesce_interval = std::chrono::milliseconds(160);

  // Window size cap (memory, and exact 128-bit sums; see IntervalWindow).
  static constexpr size_t kMaxWindowSize = size_t{1} << 20;

  // The reference implementation's defaults: 1 s heartbeats, min_std_dev 100 ms, acceptable pause
  // 3 s, no coalescing.
  static PhiConfig ReferenceDefaults();
  // Gateway defaults scaled to a pool's probe interval P: coalesce_interval = 0.8 P,
  // min_std_dev = max(50 ms, P / 10), first_heartbeat_estimate = max(500 ms, P).
  static PhiConfig ForProbeInterval(Duration probe_interval);
};

// phi(t) = -log10(1 - F(t)) with F the normal CDF N(mu, sigma) approximated by the logistic curve
// 1 / (1 + exp(-y (1.5976 + 0.070566 y^2))), y = (t - mu) / sigma. Any consistent time unit.
// Evaluated as softplus(z) / ln 10 with z = y (1.5976 + 0.070566 y^2), which is the cancellation-
// safe form for t > mu and cannot overflow for t << mu. Never NaN and never negative: 0.0 when
// t is far below mu or an input is NaN; +inf when t > mu and sigma <= 0 (t <= mu with sigma <= 0
// gives 0). Finite for finite inputs with sigma > 0 (up to y ~ 1e102).
double Phi(double t, double mu, double sigma);
// 1 - 10^-phi: the CDF value phi encodes (test helper).
double CdfOfPhi(double phi);
// The exponential-model variant, for comparison: phi = (t / mean) / ln 10. 0 when mean <= 0.
double ExponentialPhi(double t, double mean);

// Sliding window of inter-arrival times with O(1) Add and O(1) statistics. The running sum and sum
// of squares are kept as exact integers (nanoseconds, 128-bit), so there is no floating drift
// however long it runs. Intervals are clamped to [0, kMaxInterval]. Not thread-safe.
class IntervalWindow {
 public:
  static constexpr Duration kMaxInterval = Duration(int64_t{1} << 42);  // ~73 minutes

  explicit IntervalWindow(size_t capacity);

  void Add(Duration interval);
  void Clear();
  size_t size() const { return size_; }
  size_t capacity() const { return ring_.size(); }

  // Statistics of the intervals in the window, in MILLISECONDS (ms^2 for Variance). Population
  // variance (divides by n). All 0 when empty.
  double Mean() const;
  double Variance() const;
  double StdDev() const;

 private:
  std::vector<int64_t> ring_;  // nanoseconds
  size_t next_ = 0;
  size_t size_ = 0;
  uint64_t sum_ = 0;
  unsigned __int128 sum_sq_ = 0;
};

// The detector. Not thread-safe: the owner (the backend's health state, on one thread) serialises
// all calls. Times are steady-clock TimePoints; phi is dimensionless.
//
// Two ways to feed it:
//  - Heartbeat(now): every call records the interval since the previous heartbeat (reference
//    semantics; what the reference vectors use).
//  - Evidence(now): for the gateway, where evidence of life arrives in bursts (each response head
//    and streamed chunk, microseconds apart). Feeding each as a heartbeat would shrink the mean
//    interval to microseconds and make any quiet period (traffic stops, probes continue) look like
//    death. Evidence coalesces: it always moves "last seen alive" (what phi measures silence
//    from) to `now`, but records a sample (an interval since the previous sample) only when at
//    least config.coalesce_interval has passed since that sample. So under load the samples come
//    every ~coalesce_interval, with probes only they come every probe interval, and in both cases
//    the learned mean stays near the probe cadence, while silence is always measured from the
//    latest evidence of any kind.
// A heartbeat that arrives while the detector already finds the backend unavailable (phi >=
// threshold) moves "last seen" but records no interval: that gap was an outage, not the backend's
// cadence, and would skew mean and std dev for the next detection.
class PhiAccrualDetector {
 public:
  explicit PhiAccrualDetector(PhiConfig config = {});

  // Evidence of life at `now`, recorded as a sample (see class comment). The first heartbeat
  // seeds the window with two intervals from first_heartbeat_estimate. A `now` earlier than the
  // previous sample is ignored.
  void Heartbeat(TimePoint now);
  // Coalescing entry point (see class comment). Returns true when it recorded a sample.
  bool Evidence(TimePoint now);
  // The gateway itself was stalled from `stall_start` to `resume` (see StallGuard): that span is
  // not the backend's silence. Shifts "last seen alive" and the previous sample forward by the
  // stall length (never past `resume`), so phi after the stall counts only silence the gateway
  // could have observed, and the next interval excludes the stall.
  void ForgivePause(TimePoint stall_start, TimePoint resume);
  // Forgets all history (as if constructed anew).
  void Reset();

  // Suspicion level at `now`: 0 before the first heartbeat; silence t = now - last seen alive
  // (0 if negative), mu = Mean() + acceptable_pause, sigma = max(StdDev(), min_std_dev).
  double Phi(TimePoint now) const;
  // Phi(now) < threshold. True before the first heartbeat.
  bool IsAvailable(TimePoint now) const;

  // Window statistics of the recorded intervals, in milliseconds (ms^2 for Variance).
  double Mean() const { return window_.Mean(); }
  double Variance() const { return window_.Variance(); }
  double StdDev() const { return window_.StdDev(); }
  size_t SampleCount() const { return window_.size(); }

  bool HasHeartbeat() const { return has_heartbeat_; }
  // Latest evidence of life (meaningful only if HasHeartbeat()).
  TimePoint LastSeen() const { return last_seen_; }
  const PhiConfig& config() const { return config_; }

 private:
  PhiConfig config_;
  IntervalWindow window_;
  bool has_heartbeat_ = false;
  TimePoint last_seen_{};    // latest evidence of life: phi's silence starts here
  TimePoint last_sample_{};  // latest recorded sample: the next interval starts here
};

}  // namespace infergate::health
