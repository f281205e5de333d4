// Circuit breaker state machine: sliding windows, trip rules, half-open rounds and the
// exponential, jittered open period.
#include "infergate/resilience/circuit_breaker.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infergate::resilience {
namespace {

constexpr uint32_t kMaxCountWindow = 100000;
constexpr uint32_t kMaxTimeWindowSeconds = 3600;
constexpr uint32_t kMaxHalfOpenPermits = 1000;
constexpr size_t kMaxQueuedTransitions = 64;
constexpr uint8_t kFailBit = 1;
constexpr uint8_t kSlowBit = 2;

bool ValidPercent(double p) { return p > 0.0 && p <= 100.0; }

int64_t SecondOf(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

double Rate(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) * 100.0 / static_cast<double>(whole);
}

// part / whole x 100 >= threshold, without rounding surprises at exact thresholds.
bool RateAtLeast(uint64_t part, uint64_t whole, double threshold) {
  return whole > 0 && static_cast<long double>(part) * 100.0L >=
                          static_cast<long double>(threshold) * static_cast<long double>(whole);
}

CircuitBreakerConfig Sanitize(CircuitBreakerConfig c) {
  const uint32_t max_window =
      c.window_type == WindowType::kCount ? kMaxCountWindow : kMaxTimeWindowSeconds;
  c.window_size = std::clamp<uint32_t>(c.window_size, 1, max_window);
  if (!ValidPercent(c.failure_rate_threshold)) c.failure_rate_threshold = 50.0;
  if (!ValidPercent(c.slow_call_rate_threshold)) c.slow_call_rate_threshold = 100.0;
  if (c.slow_call_duration <= Duration::zero()) c.slow_call_duration = std::chrono::seconds(60);
  c.minimum_calls = std::max<uint32_t>(c.minimum_calls, 1);
  if (c.window_type == WindowType::kCount)
    c.minimum_calls = std::min(c.minimum_calls, c.window_size);
  if (c.open_duration <= Duration::zero()) c.open_duration = std::chrono::milliseconds(1);
  c.max_open_duration = std::max(c.max_open_duration, c.open_duration);
  if (!(c.open_jitter >= 0.0 && c.open_jitter < 1.0)) c.open_jitter = 0.0;
  c.half_open_permits = std::clamp<uint32_t>(c.half_open_permits, 1, kMaxHalfOpenPermits);
  if (c.half_open_timeout <= Duration::zero()) c.half_open_timeout = std::chrono::seconds(60);
  return c;
}

}  // namespace

std::optional<std::string> ValidateCircuitBreakerConfig(const CircuitBreakerConfig& c) {
  if (c.window_size < 1) return "window_size must be at least 1";
  if (c.window_type == WindowType::kCount && c.window_size > kMaxCountWindow) {
    return "window_size must be at most 100000 calls";
  }
  if (c.window_type == WindowType::kTime && c.window_size > kMaxTimeWindowSeconds) {
    return "window_size must be at most 3600 seconds";
  }
  if (!ValidPercent(c.failure_rate_threshold)) {
    return "failure_rate_threshold must be in (0, 100]";
  }
  if (!ValidPercent(c.slow_call_rate_threshold)) {
    return "slow_call_rate_threshold must be in (0, 100]";
  }
  if (c.slow_call_duration <= Duration::zero()) return "slow_call_duration must be positive";
  if (c.minimum_calls < 1) return "minimum_calls must be at least 1";
  if (c.open_duration <= Duration::zero()) return "open_duration must be positive";
  if (c.max_open_duration < c.open_duration) {
    return "max_open_duration must be at least open_duration";
  }
  if (!(c.open_jitter >= 0.0 && c.open_jitter < 1.0)) return "open_jitter must be in [0, 1)";
  if (c.half_open_permits < 1 || c.half_open_permits > kMaxHalfOpenPermits) {
    return "half_open_permits must be in [1, 1000]";
  }
  if (c.half_open_timeout <= Duration::zero()) return "half_open_timeout must be positive";
  return std::nullopt;
}

std::string_view ToString(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

std::string_view ToString(TransitionReason reason) {
  switch (reason) {
    case TransitionReason::kFailureRate:
      return "failure_rate";
    case TransitionReason::kSlowCallRate:
      return "slow_call_rate";
    case TransitionReason::kOpenElapsed:
      return "open_elapsed";
    case TransitionReason::kProbesSucceeded:
      return "probes_succeeded";
    case TransitionReason::kProbeFailed:
      return "probe_failed";
    case TransitionReason::kProbesSlow:
      return "probes_slow";
    case TransitionReason::kProbesLost:
      return "probes_lost";
    case TransitionReason::kForcedOpen:
      return "forced_open";
    case TransitionReason::kReset:
      return "reset";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(const CircuitBreakerConfig& config, uint64_t seed)
    : config_(Sanitize(config)), rng_(seed) {
  if (config_.window_type == WindowType::kCount) {
    ring_.assign(config_.window_size, 0);
  } else {
    buckets_.assign(config_.window_size, Bucket{std::numeric_limits<int64_t>::min(), 0, 0, 0});
  }
}

Duration CircuitBreaker::BaseOpenDuration(const CircuitBreakerConfig& config, uint32_t n) {
  Duration d = std::max(config.open_duration, Duration::zero());
  const Duration cap = std::max(config.max_open_duration, d);
  for (uint32_t i = 1; i < n && d < cap; ++i) {
    if (d > cap / 2 || d == Duration::zero()) return d == Duration::zero() ? d : cap;
    d *= 2;
  }
  return std::min(d, cap);
}

BreakerPermit CircuitBreaker::TryAcquire(TimePoint now) {
  const bool granted = AcquirePermits(now, 1) == 1;
  return BreakerPermit{granted, epoch_};
}

uint32_t CircuitBreaker::AcquirePermits(TimePoint now, uint32_t wanted) {
  Advance(now);
  switch (state_) {
    case BreakerState::kClosed:
      return wanted;
    case BreakerState::kOpen:
      return 0;
    case BreakerState::kHalfOpen: {
      const uint32_t granted = std::min(wanted, config_.half_open_permits - granted_);
      if (granted > 0) {
        granted_ += granted;
        last_activity_ = now;
      }
      return granted;
    }
  }
  return 0;
}

void CircuitBreaker::OnResult(TimePoint now, CallResult result, Duration ttfb) {
  OutcomeCounts c;
  switch (result) {
    case CallResult::kSuccess:
      c.success = 1;
      break;
    case CallResult::kFailure:
      c.failure = 1;
      break;
    case CallResult::kIgnored:
      c.ignored = 1;
      break;
  }
  if (result != CallResult::kIgnored && IsSlow(ttfb)) c.slow = 1;
  OnResults(now, c);
}

void CircuitBreaker::OnResult(TimePoint now, CallResult result, Duration ttfb,
                              const BreakerPermit& permit) {
  Advance(now);
  if (!permit.granted || permit.epoch != epoch_) {
    if (result != CallResult::kIgnored) ++stale_results_;
    return;
  }
  OnResult(now, result, ttfb);
}

void CircuitBreaker::OnResults(TimePoint now, const OutcomeCounts& counts) {
  Advance(now);
  const uint64_t counted = counts.success + counts.failure;
  const uint64_t slow = std::min(counts.slow, counted);
  switch (state_) {
    case BreakerState::kClosed:
      if (counted > 0) {
        Record(now, counts.success, counts.failure, slow);
        MaybeTrip(now);
      }
      return;
    case BreakerState::kOpen:
      stale_results_ += counted;
      return;
    case BreakerState::kHalfOpen:
      RecordHalfOpen(now, counts.success, counts.failure, slow, counts.ignored);
      return;
  }
}

BreakerState CircuitBreaker::state(TimePoint now) {
  Advance(now);
  return state_;
}

void CircuitBreaker::ForceOpen(TimePoint now) {
  if (forced_) return;
  forced_ = true;
  ClearWindow();
  BreakerTransition t;
  t.from = state_;
  t.to = BreakerState::kOpen;
  t.reason = TransitionReason::kForcedOpen;
  t.at = now;
  t.consecutive_opens = consecutive_opens_;
  state_ = BreakerState::kOpen;
  ++epoch_;
  Report(t);
}

void CircuitBreaker::Reset(TimePoint now) {
  forced_ = false;
  consecutive_opens_ = 0;
  ClearWindow();
  MoveTo(BreakerState::kClosed, TransitionReason::kReset, now, WindowStats{});
}

std::optional<BreakerTransition> CircuitBreaker::TakeTransition() {
  if (transitions_.empty()) return std::nullopt;
  BreakerTransition t = transitions_.front();
  transitions_.pop_front();
  return t;
}

std::optional<TimePoint> CircuitBreaker::open_until() const {
  if (state_ != BreakerState::kOpen || forced_) return std::nullopt;
  return open_until_;
}

uint32_t CircuitBreaker::outstanding_probes() const {
  return state_ == BreakerState::kHalfOpen ? granted_ - succeeded_ : 0;
}

WindowStats CircuitBreaker::window(TimePoint now) const {
  if (state_ != BreakerState::kClosed) return WindowStats{};
  if (config_.window_type == WindowType::kCount) return ring_totals_;
  WindowStats s;
  const int64_t current = SecondOf(now);
  const int64_t oldest = current - static_cast<int64_t>(config_.window_size) + 1;
  for (const Bucket& b : buckets_) {
    if (b.second >= oldest && b.second <= current) {
      s.calls += b.calls;
      s.failures += b.failures;
      s.slow += b.slow;
    }
  }
  return s;
}

void CircuitBreaker::Advance(TimePoint now) {
  if (state_ == BreakerState::kOpen && !forced_ && now >= open_until_) {
    MoveTo(BreakerState::kHalfOpen, TransitionReason::kOpenElapsed, now, WindowStats{});
  }
  if (state_ == BreakerState::kHalfOpen && granted_ > succeeded_ &&
      now - last_activity_ >= config_.half_open_timeout) {
    // Lost probes: hand their permits out again in a new epoch, so that their results, should
    // they still arrive, cannot count twice. Successes already seen are kept.
    BreakerTransition t;
    t.from = t.to = BreakerState::kHalfOpen;
    t.reason = TransitionReason::kProbesLost;
    t.at = now;
    t.calls = granted_ - succeeded_;
    t.consecutive_opens = consecutive_opens_;
    granted_ = succeeded_;
    last_activity_ = now;
    ++epoch_;
    Report(t);
  }
}

void CircuitBreaker::Record(TimePoint now, uint64_t success, uint64_t failure, uint64_t slow) {
  const uint64_t n = success + failure;
  if (config_.window_type == WindowType::kTime) {
    const int64_t second = SecondOf(now);
    const auto size = static_cast<int64_t>(buckets_.size());
    Bucket& b = buckets_[static_cast<size_t>(((second % size) + size) % size)];
    if (b.second != second) b = Bucket{second, 0, 0, 0};
    b.calls += n;
    b.failures += failure;
    b.slow += slow;
    return;
  }
  // Count window. A batch larger than the window keeps the window's worth, in proportion.
  uint64_t total = n;
  if (n > ring_.size()) {
    const long double scale = static_cast<long double>(ring_.size()) / static_cast<long double>(n);
    failure = static_cast<uint64_t>(std::llround(static_cast<long double>(failure) * scale));
    slow = static_cast<uint64_t>(std::llround(static_cast<long double>(slow) * scale));
    total = ring_.size();
    ClearWindow();
  }
  for (uint64_t i = 0; i < total; ++i) {
    const uint8_t flags =
        static_cast<uint8_t>((i < failure ? kFailBit : 0) | (i < slow ? kSlowBit : 0));
    if (ring_filled_ == ring_.size()) {
      const uint8_t old = ring_[ring_next_];
      --ring_totals_.calls;
      if (old & kFailBit) --ring_totals_.failures;
      if (old & kSlowBit) --ring_totals_.slow;
    } else {
      ++ring_filled_;
    }
    ring_[ring_next_] = flags;
    ring_next_ = (ring_next_ + 1) % ring_.size();
    ++ring_totals_.calls;
    if (flags & kFailBit) ++ring_totals_.failures;
    if (flags & kSlowBit) ++ring_totals_.slow;
  }
}

void CircuitBreaker::RecordHalfOpen(TimePoint now, uint64_t success, uint64_t failure,
                                    uint64_t slow, uint64_t ignored) {
  uint32_t outstanding = granted_ - succeeded_;
  if (outstanding == 0) {
    // Nothing was admitted in this round: these results belong to an earlier state.
    stale_results_ += success + failure;
    return;
  }
  last_activity_ = now;
  if (failure > 0) {
    WindowStats s;
    s.calls = succeeded_ + 1;
    s.failures = 1;
    s.slow = probe_slow_;
    Open(now, TransitionReason::kProbeFailed, s);
    return;
  }
  const uint32_t ok = static_cast<uint32_t>(std::min<uint64_t>(success, outstanding));
  stale_results_ += success - ok;
  succeeded_ += ok;
  probe_slow_ += static_cast<uint32_t>(std::min<uint64_t>(slow, ok));
  outstanding -= ok;
  // Ignored results (client aborts, client errors) say nothing: their permits go back.
  const uint32_t back = static_cast<uint32_t>(std::min<uint64_t>(ignored, outstanding));
  granted_ -= back;
  if (succeeded_ < config_.half_open_permits) return;
  WindowStats s;
  s.calls = succeeded_;
  s.slow = probe_slow_;
  if (RateAtLeast(probe_slow_, succeeded_, config_.slow_call_rate_threshold)) {
    Open(now, TransitionReason::kProbesSlow, s);
    return;
  }
  consecutive_opens_ = 0;
  ClearWindow();
  MoveTo(BreakerState::kClosed, TransitionReason::kProbesSucceeded, now, s);
}

void CircuitBreaker::ClearWindow() {
  std::fill(ring_.begin(), ring_.end(), 0);
  ring_next_ = 0;
  ring_filled_ = 0;
  ring_totals_ = WindowStats{};
  for (Bucket& b : buckets_) b = Bucket{std::numeric_limits<int64_t>::min(), 0, 0, 0};
}

void CircuitBreaker::MaybeTrip(TimePoint now) {
  const WindowStats s = window(now);
  if (s.calls < config_.minimum_calls) return;
  if (RateAtLeast(s.failures, s.calls, config_.failure_rate_threshold)) {
    Open(now, TransitionReason::kFailureRate, s);
  } else if (RateAtLeast(s.slow, s.calls, config_.slow_call_rate_threshold)) {
    Open(now, TransitionReason::kSlowCallRate, s);
  }
}

void CircuitBreaker::Open(TimePoint now, TransitionReason reason, const WindowStats& stats) {
  if (consecutive_opens_ < std::numeric_limits<uint32_t>::max()) ++consecutive_opens_;
  Duration d = BaseOpenDuration(config_, consecutive_opens_);
  if (config_.open_jitter > 0.0) {
    const double factor = 1.0 + config_.open_jitter * (2.0 * rng_.NextDouble() - 1.0);
    d = Duration(static_cast<Duration::rep>(static_cast<double>(d.count()) * factor));
  }
  d = std::clamp(d, Duration::zero(), config_.max_open_duration);
  open_until_ = now + d;
  ClearWindow();
  MoveTo(BreakerState::kOpen, reason, now, stats);
  transitions_.back().open_for = d;
}

void CircuitBreaker::MoveTo(BreakerState to, TransitionReason reason, TimePoint now,
                            const WindowStats& stats) {
  BreakerTransition t;
  t.from = state_;
  t.to = to;
  t.reason = reason;
  t.at = now;
  t.consecutive_opens = consecutive_opens_;
  t.calls = stats.calls;
  t.failure_rate = Rate(stats.failures, stats.calls);
  t.slow_call_rate = Rate(stats.slow, stats.calls);
  state_ = to;
  ++epoch_;
  granted_ = 0;
  succeeded_ = 0;
  probe_slow_ = 0;
  last_activity_ = now;
  Report(t);
}

void CircuitBreaker::Report(const BreakerTransition& t) {
  if (transitions_.size() >= kMaxQueuedTransitions) {
    transitions_.pop_front();
    ++dropped_transitions_;
  }
  transitions_.push_back(t);
}

}  // namespace infergate::resilience
