// Outlier ejection: consecutive-failure streaks, multiplied ejection times with decay, and the
// max-ejection-percent guard.
#include "infergate/resilience/outlier_ejection.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infergate::resilience {
namespace {
constexpr size_t kMaxQueuedEvents = 1024;
}  // namespace

std::string_view ToString(EjectionEvent::Kind kind) {
  switch (kind) {
    case EjectionEvent::Kind::kEjected:
      return "ejected";
    case EjectionEvent::Kind::kUnejected:
      return "unejected";
    case EjectionEvent::Kind::kSuppressed:
      return "suppressed";
  }
  return "unknown";
}

OutlierDetector::OutlierDetector(const OutlierEjectionConfig& config, size_t hosts)
    : config_(config), hosts_(hosts) {
  if (config_.base_ejection_time <= Duration::zero()) {
    config_.base_ejection_time = std::chrono::seconds(30);
  }
  config_.max_ejection_time = std::max(config_.max_ejection_time, config_.base_ejection_time);
  if (!(config_.max_ejection_percent >= 0.0)) config_.max_ejection_percent = 0.0;
  config_.max_ejection_percent = std::min(config_.max_ejection_percent, 100.0);
  // ceil(max / base): from there on the cap applies.
  const auto base = config_.base_ejection_time.count();
  const auto max = config_.max_ejection_time.count();
  max_multiplier_ = static_cast<uint32_t>(
      std::min<Duration::rep>(max / base + (max % base != 0 ? 1 : 0), 1 << 20));
}

size_t OutlierDetector::MaxEjected() const {
  const auto share = static_cast<size_t>(
      std::floor(static_cast<double>(hosts_.size()) * config_.max_ejection_percent / 100.0));
  return std::max<size_t>(1, share);
}

void OutlierDetector::OnResult(TimePoint now, size_t host, CallResult result) {
  if (host >= hosts_.size()) return;
  Tick(now);
  Host& h = hosts_[host];
  if (h.ejected) return;
  switch (result) {
    case CallResult::kSuccess:
      h.streak = 0;
      h.suppression_reported = false;
      return;
    case CallResult::kIgnored:
      return;
    case CallResult::kFailure:
      if (h.streak < std::numeric_limits<uint32_t>::max()) ++h.streak;
      MaybeEject(now, host);
      return;
  }
}

void OutlierDetector::OnConsecutiveFailures(TimePoint now, size_t host, uint32_t streak) {
  if (host >= hosts_.size()) return;
  Tick(now);
  Host& h = hosts_[host];
  if (h.ejected) return;
  h.streak = streak;
  if (streak < config_.consecutive_failures) h.suppression_reported = false;
  MaybeEject(now, host);
}

bool OutlierDetector::IsEjected(size_t host, TimePoint now) {
  if (host >= hosts_.size()) return false;
  Host& h = hosts_[host];
  if (h.ejected && now >= h.until) Unejected(host, now);
  return h.ejected;
}

void OutlierDetector::Tick(TimePoint now) {
  if (ejected_ == 0) return;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (hosts_[i].ejected && now >= hosts_[i].until) Unejected(i, now);
  }
}

size_t OutlierDetector::EjectedCount(TimePoint now) {
  Tick(now);
  return ejected_;
}

uint32_t OutlierDetector::TimesEjected(size_t host, TimePoint now) {
  if (host >= hosts_.size()) return 0;
  IsEjected(host, now);
  Host& h = hosts_[host];
  if (!h.ejected) Decay(h, now);
  return h.times_ejected;
}

std::optional<TimePoint> OutlierDetector::NextUnejection() const {
  std::optional<TimePoint> next;
  for (const Host& h : hosts_) {
    if (h.ejected && (!next || h.until < *next)) next = h.until;
  }
  return next;
}

void OutlierDetector::ResetHost(size_t host) {
  if (host >= hosts_.size()) return;
  if (hosts_[host].ejected) --ejected_;
  hosts_[host] = Host{};
}

void OutlierDetector::Adopt(size_t host, const HostState& state) {
  if (host >= hosts_.size()) return;
  if (hosts_[host].ejected) --ejected_;
  hosts_[host] = state;
  if (state.ejected) ++ejected_;
}

std::vector<EjectionEvent> OutlierDetector::TakeEvents() {
  std::vector<EjectionEvent> out;
  out.swap(events_);
  return out;
}

void OutlierDetector::Unejected(size_t host, TimePoint /*now*/) {
  Host& h = hosts_[host];
  h.ejected = false;
  h.streak = 0;
  h.decay_from = h.until;  // the healthy interval starts when the ejection ended
  --ejected_;
  EjectionEvent e;
  e.kind = EjectionEvent::Kind::kUnejected;
  e.host = host;
  e.at = h.until;
  e.times_ejected = h.times_ejected;
  Emit(e);
}

void OutlierDetector::Decay(Host& h, TimePoint now) const {
  if (h.times_ejected == 0 || now <= h.decay_from) return;
  const auto intervals = static_cast<uint64_t>((now - h.decay_from) / config_.base_ejection_time);
  if (intervals == 0) return;
  const auto drop = static_cast<uint32_t>(std::min<uint64_t>(intervals, h.times_ejected));
  h.times_ejected -= drop;
  h.decay_from += config_.base_ejection_time * drop;
}

void OutlierDetector::MaybeEject(TimePoint now, size_t host) {
  Host& h = hosts_[host];
  if (config_.consecutive_failures == 0 || h.streak < config_.consecutive_failures) return;
  EjectionEvent e;
  e.host = host;
  e.at = now;
  e.consecutive_failures = h.streak;
  Decay(h, now);
  if (ejected_ >= MaxEjected()) {
    if (!h.suppression_reported) {
      h.suppression_reported = true;
      e.kind = EjectionEvent::Kind::kSuppressed;
      e.times_ejected = h.times_ejected;
      Emit(e);
    }
    return;
  }
  h.times_ejected = std::min(h.times_ejected + 1, max_multiplier_);
  const Duration time =
      std::min(config_.max_ejection_time, config_.base_ejection_time * h.times_ejected);
  h.ejected = true;
  h.until = now + time;
  h.streak = 0;
  h.suppression_reported = false;
  ++ejected_;
  e.kind = EjectionEvent::Kind::kEjected;
  e.until = h.until;
  e.ejection_time = time;
  e.times_ejected = h.times_ejected;
  Emit(e);
}

void OutlierDetector::Emit(const EjectionEvent& e) {
  if (events_.size() >= kMaxQueuedEvents) {
    events_.erase(events_.begin());
    ++dropped_events_;
  }
  events_.push_back(e);
}

}  // namespace infergate::resilience
