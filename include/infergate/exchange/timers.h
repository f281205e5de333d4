// Time for the exchange and its transports, injected: Timers gives the time and alarms; the
// process uses SteadyTimers (Asio steady timers), unit tests ManualTimers, whose time moves only
// when the test says. Deadline is a lazily re-armed timeout on an alarm; Wake is an awaitable
// event that something else fires.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <map>
#include <memory>

#include "infergate/core/clock.h"
#include "infergate/core/units.h"

namespace infergate::exchange {

// One re-armable alarm. Its callback runs on the alarm's executor, never after the alarm is
// destroyed or disarmed.
class Alarm {
 public:
  virtual ~Alarm() = default;
  // Calls `fn` at `when` or later; replaces a pending call.
  virtual void ArmAt(TimePoint when, std::function<void()> fn) = 0;
  virtual void Disarm() = 0;
};

class Timers {
 public:
  virtual ~Timers() = default;
  virtual TimePoint Now() const = 0;
  virtual std::unique_ptr<Alarm> MakeAlarm(boost::asio::any_io_executor ex) = 0;
};

// Steady-clock time and Asio timers. Thread-safe; one for the process.
Timers& SteadyTimers();

// Time that moves only in Advance(), which posts the callbacks of the alarms that came due to
// their executors (run them with io_context::poll()). For tests; single-threaded.
class ManualTimers final : public Timers {
 public:
  TimePoint Now() const override { return now_; }
  std::unique_ptr<Alarm> MakeAlarm(boost::asio::any_io_executor ex) override;
  void Advance(Duration d);
  size_t armed() const { return pending_.size(); }

 private:
  friend class ManualAlarm;
  struct Pending {
    boost::asio::any_io_executor ex;
    std::function<void()> fn;
  };
  TimePoint now_{std::chrono::hours(1)};
  uint64_t next_id_ = 1;
  std::multimap<TimePoint, std::pair<uint64_t, Pending>> pending_;
};

// A lazily re-armed timeout. Set() records a deadline (now + d, fixed from then on) and a tag;
// the alarm is re-armed only when the new deadline is earlier than the armed one, so moving a
// deadline later on every request costs no timer syscalls. On expiry the callback gets the tag.
class Deadline {
 public:
  Deadline(Timers& timers, boost::asio::any_io_executor ex, std::function<void(int tag)> on_expire)
      : timers_(timers), alarm_(timers.MakeAlarm(ex)), on_expire_(std::move(on_expire)) {}
  void Set(Duration d, int tag);
  void Clear() { deadline_ = kNever; }
  // Stops the alarm for good (owner closing).
  void Cancel() {
    deadline_ = kNever;
    armed_ = false;
    alarm_->Disarm();
  }

 private:
  static constexpr TimePoint kNever = TimePoint::max();
  void Arm();

  Timers& timers_;
  std::unique_ptr<Alarm> alarm_;
  std::function<void(int)> on_expire_;
  TimePoint deadline_ = kNever;
  TimePoint armed_at_ = kNever;
  int tag_ = 0;
  bool armed_ = false;
};

// An awaitable event: Wait() suspends until Fire(). A Fire() with nobody waiting is kept, and
// the next Wait() returns at once.
class Wake {
 public:
  explicit Wake(boost::asio::any_io_executor ex) : timer_(ex) {}
  boost::asio::awaitable<void> Wait();
  void Fire() {
    fired_ = true;
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  bool fired_ = false;
};

}  // namespace infergate::exchange
