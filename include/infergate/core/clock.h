// Time sources. State machines (detectors, breakers, limiters) take a Clock so unit tests can
// drive them with ManualClock; the data path uses SteadyClock.
#pragma once

#include <atomic>
#include <chrono>

namespace infergate {

using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The process's monotonic clock. Thread-safe.
class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  static SteadyClock& Instance() {
    static SteadyClock clock;
    return clock;
  }
};

// A clock that moves only when told. Thread-safe (atomic), for tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{}) : now_(start.time_since_epoch().count()) {}
  TimePoint Now() const override {
    return TimePoint(TimePoint::duration(now_.load(std::memory_order_acquire)));
  }
  void Advance(std::chrono::nanoseconds d) {
    now_.fetch_add(std::chrono::duration_cast<TimePoint::duration>(d).count(),
                   std::memory_order_acq_rel);
  }
  void Set(TimePoint t) { now_.store(t.time_since_epoch().count(), std::memory_order_release); }

 private:
  std::atomic<TimePoint::rep> now_;
};

}  // namespace infergate
