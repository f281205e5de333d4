// Adaptive concurrency: the gradient update rule (GradientLimit) and the shared, lock-free gate
// that feeds it one sample window at a time (AdaptiveGate).
#include "infergate/isolation/adaptive_limit.h"

#include <algorithm>
#include <cmath>
#include <mutex>

namespace infergate::isolation {
namespace {

// The gradient's bounds: latency far above the baseline at most halves the limit's target per
// window; latency at or below it never shrinks it.
constexpr double kMinGradient = 0.5;
constexpr double kMaxGradient = 1.0;
// A window faster than baseline / tolerance means the baseline is inflated (it absorbed an
// overload that has ended): it then moves this fraction of the way to the window at once,
// instead of the EWMA's 2 / (long_window + 1).
constexpr double kBaselineCatchUp = 0.25;

GradientOptions Sanitize(GradientOptions o) {
  o.min_limit = std::max<uint32_t>(o.min_limit, 1);
  o.max_limit = std::max(o.max_limit, o.min_limit);
  o.initial_limit = std::clamp(o.initial_limit, o.min_limit, o.max_limit);
  if (!(o.tolerance >= 1.0)) o.tolerance = 1.0;
  if (!(o.smoothing > 0.0) || o.smoothing > 1.0) o.smoothing = 1.0;
  o.long_window = std::max<uint32_t>(o.long_window, 1);
  if (o.sample_window <= std::chrono::nanoseconds::zero())
    o.sample_window = std::chrono::milliseconds(1);
  return o;
}

}  // namespace

// The rule, per sample window (short_rtt = the window's mean latency):
//   baseline  long_rtt <- EWMA of the windows' short_rtt, alpha = 2 / (long_window + 1); the
//             first window sets it; a window below long_rtt / tolerance pulls it a quarter of the
//             way down at once (recovery after a long overload).
//   gradient  g = clamp(tolerance * long_rtt / short_rtt, 0.5, 1): 1 while latency stays within
//             the tolerance of the baseline, falling as queueing at the backend inflates it.
//   target    t = limit * g + sqrt(limit): sqrt(limit) is the queue the backend may build
//             (growth while g = 1); t <= limit when the window used less than half the limit,
//             so an idle pool's limit does not drift up.
//   limit     limit <- limit * (1 - smoothing) + t * smoothing, clamped to [min, max].
GradientLimit::GradientLimit(GradientOptions options)
    : options_(Sanitize(options)), limit_(static_cast<double>(options_.initial_limit)) {}

uint32_t GradientLimit::Update(std::chrono::nanoseconds short_rtt, uint32_t max_in_flight) {
  if (short_rtt <= std::chrono::nanoseconds::zero()) return limit();  // nothing measured
  const double s = static_cast<double>(short_rtt.count());
  if (long_rtt_ns_ <= 0.0) {
    long_rtt_ns_ = s;
  } else if (s * options_.tolerance < long_rtt_ns_) {
    long_rtt_ns_ += (s - long_rtt_ns_) * kBaselineCatchUp;
  } else {
    const double alpha = 2.0 / (static_cast<double>(options_.long_window) + 1.0);
    long_rtt_ns_ += (s - long_rtt_ns_) * alpha;
  }

  const double gradient =
      std::clamp(options_.tolerance * long_rtt_ns_ / s, kMinGradient, kMaxGradient);
  double target = limit_ * gradient + std::sqrt(limit_);
  if (2.0 * static_cast<double>(max_in_flight) < limit_) target = std::min(target, limit_);
  limit_ = limit_ * (1.0 - options_.smoothing) + target * options_.smoothing;
  limit_ = std::clamp(limit_, static_cast<double>(options_.min_limit),
                      static_cast<double>(options_.max_limit));
  return limit();
}

std::chrono::nanoseconds GradientLimit::baseline() const {
  return std::chrono::nanoseconds(std::llround(long_rtt_ns_));
}

struct AdaptiveGate::Impl {
  Impl(GradientOptions options, const Clock& c)
      : clock(c),
        sample_window(Sanitize(options).sample_window),
        rule(options),
        window_start_ns(c.Now().time_since_epoch().count()) {}

  const Clock& clock;
  const std::chrono::nanoseconds sample_window;
  std::mutex fold_mu;  // held by the one thread folding a window; only ever try-locked
  GradientLimit rule;  // guarded by fold_mu

  // The current window. A sample recorded while another thread folds may land in either window
  // (sum and count are taken apart): the mean is off by at most that one sample's share.
  alignas(64) std::atomic<int64_t> window_start_ns;
  std::atomic<uint64_t> sum_ns{0};
  std::atomic<uint64_t> count{0};
  std::atomic<uint32_t> max_in_flight{0};
};

AdaptiveGate::AdaptiveGate(GradientOptions options, const Clock& clock)
    : impl_(std::make_unique<Impl>(options, clock)), limit_(impl_->rule.limit()) {}

AdaptiveGate::~AdaptiveGate() = default;

bool AdaptiveGate::TryAcquire() {
  uint32_t v = in_flight_.load(std::memory_order_relaxed);
  do {
    if (v >= limit_.load(std::memory_order_relaxed)) return false;
  } while (!in_flight_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                             std::memory_order_relaxed));
  // The window's peak, for the rule's "no growth while idle".
  uint32_t peak = impl_->max_in_flight.load(std::memory_order_relaxed);
  while (peak < v + 1 &&
         !impl_->max_in_flight.compare_exchange_weak(peak, v + 1, std::memory_order_relaxed)) {
  }
  return true;
}

void AdaptiveGate::Release(std::optional<std::chrono::nanoseconds> rtt) {
  in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  if (!rtt || *rtt <= std::chrono::nanoseconds::zero()) return;
  Impl& m = *impl_;
  m.sum_ns.fetch_add(static_cast<uint64_t>(rtt->count()), std::memory_order_relaxed);
  m.count.fetch_add(1, std::memory_order_relaxed);

  const int64_t now = m.clock.Now().time_since_epoch().count();
  if (now - m.window_start_ns.load(std::memory_order_acquire) < m.sample_window.count()) return;
  std::unique_lock lock(m.fold_mu, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is folding this window
  // Re-check: the window may have been folded between the first check and the lock.
  if (now - m.window_start_ns.load(std::memory_order_acquire) < m.sample_window.count()) return;
  const uint64_t n = m.count.exchange(0, std::memory_order_relaxed);
  const uint64_t sum = m.sum_ns.exchange(0, std::memory_order_relaxed);
  const uint32_t peak = m.max_in_flight.exchange(in_flight_.load(std::memory_order_relaxed),
                                                 std::memory_order_relaxed);
  m.window_start_ns.store(now, std::memory_order_release);
  if (n == 0) return;
  const auto mean = std::chrono::nanoseconds(static_cast<int64_t>(sum / n));
  limit_.store(m.rule.Update(mean, peak), std::memory_order_relaxed);
}

}  // namespace infergate::isolation
