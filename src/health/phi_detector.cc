// Phi-accrual failure detector: the phi formula, the exact sliding window, and the per-backend
// detector with evidence coalescing and stall forgiveness.
#include "infergate/health/phi_detector.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infergate::health {
namespace {

constexpr double kLn10 = 2.302585092994045684;
constexpr double kNsPerMs = 1e6;

double ToMs(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// log(1 + exp(z)) without overflow or cancellation.
double Softplus(double z) {
  if (z > 0) return z + std::log1p(std::exp(-z));
  return std::log1p(std::exp(z));
}

}  // namespace

PhiConfig PhiConfig::ReferenceDefaults() {
  PhiConfig c;
  c.threshold = 8.0;
  c.window_size = 1000;
  c.min_std_dev = std::chrono::milliseconds(100);
  c.acceptable_pause = std::chrono::seconds(3);
  c.first_heartbeat_estimate = std::chrono::seconds(1);
  c.coalesce_interval = Duration::zero();
  return c;
}

PhiConfig PhiConfig::ForProbeInterval(Duration probe_interval) {
  using std::chrono::milliseconds;
  PhiConfig c;
  const Duration p = std::max(probe_interval, Duration::zero());
  c.coalesce_interval = p * 4 / 5;
  c.min_std_dev = std::max<Duration>(milliseconds(50), p / 10);
  c.first_heartbeat_estimate = std::max<Duration>(milliseconds(500), p);
  return c;
}

double Phi(double t, double mu, double sigma) {
  if (std::isnan(t) || std::isnan(mu) || std::isnan(sigma)) return 0.0;
  if (!(sigma > 0)) return t > mu ? std::numeric_limits<double>::infinity() : 0.0;
  const double y = (t - mu) / sigma;
  if (std::isnan(y)) return 0.0;  // inf - inf
  const double z = y * (1.5976 + 0.070566 * y * y);
  const double phi = Softplus(z) / kLn10;
  return phi > 0 ? phi : 0.0;  // also turns -0.0 into +0.0
}

double CdfOfPhi(double phi) { return 1.0 - std::pow(10.0, -phi); }

double ExponentialPhi(double t, double mean) {
  if (!(mean > 0) || !(t > 0)) return 0.0;
  return t / mean / kLn10;
}

IntervalWindow::IntervalWindow(size_t capacity)
    : ring_(std::clamp<size_t>(capacity, 1, PhiConfig::kMaxWindowSize), 0) {}

void IntervalWindow::Add(Duration interval) {
  const int64_t v = std::clamp(interval, Duration::zero(), kMaxInterval).count();
  if (size_ == ring_.size()) {
    const int64_t old = ring_[next_];
    sum_ -= static_cast<uint64_t>(old);
    sum_sq_ -= static_cast<unsigned __int128>(old) * static_cast<unsigned __int128>(old);
  } else {
    ++size_;
  }
  ring_[next_] = v;
  sum_ += static_cast<uint64_t>(v);
  sum_sq_ += static_cast<unsigned __int128>(v) * static_cast<unsigned __int128>(v);
  next_ = next_ + 1 == ring_.size() ? 0 : next_ + 1;
}

void IntervalWindow::Clear() {
  std::fill(ring_.begin(), ring_.end(), 0);
  next_ = 0;
  size_ = 0;
  sum_ = 0;
  sum_sq_ = 0;
}

double IntervalWindow::Mean() const {
  if (size_ == 0) return 0.0;
  return static_cast<double>(sum_) / static_cast<double>(size_) / kNsPerMs;
}

double IntervalWindow::Variance() const {
  if (size_ < 2) return 0.0;
  // n * sum(x^2) - (sum x)^2 >= 0 exactly in integers; bounds: x < 2^42, n <= 2^20, so every term
  // stays below 2^125.
  const auto n = static_cast<unsigned __int128>(size_);
  const unsigned __int128 num = n * sum_sq_ - static_cast<unsigned __int128>(sum_) * sum_;
  const double n_d = static_cast<double>(size_);
  return static_cast<double>(num) / (n_d * n_d) / (kNsPerMs * kNsPerMs);
}

double IntervalWindow::StdDev() const { return std::sqrt(Variance()); }

PhiAccrualDetector::PhiAccrualDetector(PhiConfig config)
    : config_(config), window_(config.window_size) {}

void PhiAccrualDetector::Heartbeat(TimePoint now) {
  if (!has_heartbeat_) {
    const Duration est = std::max(config_.first_heartbeat_estimate, Duration::zero());
    window_.Add(est - est / 4);
    window_.Add(est + est / 4);
    has_heartbeat_ = true;
    last_seen_ = now;
    last_sample_ = now;
    return;
  }
  if (now < last_sample_) return;
  if (IsAvailable(now)) window_.Add(now - last_sample_);
  last_sample_ = now;
  last_seen_ = std::max(last_seen_, now);
}

bool PhiAccrualDetector::Evidence(TimePoint now) {
  if (!has_heartbeat_ || now - last_sample_ >= config_.coalesce_interval) {
    if (has_heartbeat_ && now < last_sample_) return false;
    Heartbeat(now);
    return true;
  }
  last_seen_ = std::max(last_seen_, now);
  return false;
}

void PhiAccrualDetector::ForgivePause(TimePoint stall_start, TimePoint resume) {
  if (!has_heartbeat_ || resume <= stall_start) return;
  const Duration stall = resume - stall_start;
  auto shift = [&](TimePoint& t) {
    if (t < resume) t = std::min(t + stall, resume);
  };
  shift(last_seen_);
  shift(last_sample_);
}

void PhiAccrualDetector::Reset() {
  window_.Clear();
  has_heartbeat_ = false;
  last_seen_ = TimePoint{};
  last_sample_ = TimePoint{};
}

double PhiAccrualDetector::Phi(TimePoint now) const {
  if (!has_heartbeat_) return 0.0;
  const double t = now > last_seen_ ? ToMs(now - last_seen_) : 0.0;
  const double mu = window_.Mean() + ToMs(config_.acceptable_pause);
  const double sigma = std::max(window_.StdDev(), ToMs(config_.min_std_dev));
  return health::Phi(t, mu, sigma);
}

bool PhiAccrualDetector::IsAvailable(TimePoint now) const { return Phi(now) < config_.threshold; }

}  // namespace infergate::health
