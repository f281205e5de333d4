// Steady and manual time for the exchange; Deadline and Wake on top of them.
#include "infergate/exchange/timers.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace infergate::exchange {
namespace asio = boost::asio;

namespace {

// An Asio steady timer behind a shared state, so a handler still queued when the alarm goes
// away (or is re-armed) finds it stale and does nothing.
class SteadyAlarm final : public Alarm {
 public:
  explicit SteadyAlarm(asio::any_io_executor ex) : state_(std::make_shared<State>(ex)) {}
  ~SteadyAlarm() override { Disarm(); }
  void ArmAt(TimePoint when, std::function<void()> fn) override {
    const uint64_t gen = ++state_->generation;
    state_->fn = std::move(fn);
    state_->timer.expires_at(when);
    state_->timer.async_wait([state = state_, gen](const boost::system::error_code& ec) {
      if (ec || gen != state->generation || !state->fn) return;
      auto fn = std::move(state->fn);
      state->fn = nullptr;
      fn();
    });
  }
  void Disarm() override {
    ++state_->generation;
    state_->fn = nullptr;
    state_->timer.cancel();
  }

 private:
  struct State {
    explicit State(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    std::function<void()> fn;
    uint64_t generation = 0;
  };
  std::shared_ptr<State> state_;
};

class SteadyTimerService final : public Timers {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  std::unique_ptr<Alarm> MakeAlarm(asio::any_io_executor ex) override {
    return std::make_unique<SteadyAlarm>(ex);
  }
};

}  // namespace

Timers& SteadyTimers() {
  static SteadyTimerService timers;
  return timers;
}

class ManualAlarm final : public Alarm {
 public:
  ManualAlarm(ManualTimers& timers, asio::any_io_executor ex) : timers_(timers), ex_(ex) {}
  ~ManualAlarm() override { Disarm(); }
  void ArmAt(TimePoint when, std::function<void()> fn) override {
    Disarm();
    id_ = timers_.next_id_++;
    // Already posted when it came due: the generation makes a stale one do nothing.
    auto checked = [generation = generation_, gen = *generation_, fn = std::move(fn)] {
      if (*generation == gen) fn();
    };
    timers_.pending_.emplace(when,
                             std::make_pair(id_, ManualTimers::Pending{ex_, std::move(checked)}));
  }
  void Disarm() override {
    ++*generation_;
    if (id_ == 0) return;
    for (auto it = timers_.pending_.begin(); it != timers_.pending_.end(); ++it) {
      if (it->second.first == id_) {
        timers_.pending_.erase(it);
        break;
      }
    }
    id_ = 0;
  }

 private:
  ManualTimers& timers_;
  asio::any_io_executor ex_;
  uint64_t id_ = 0;
  std::shared_ptr<uint64_t> generation_ = std::make_shared<uint64_t>(0);
};

std::unique_ptr<Alarm> ManualTimers::MakeAlarm(asio::any_io_executor ex) {
  return std::make_unique<ManualAlarm>(*this, ex);
}

void ManualTimers::Advance(Duration d) {
  now_ += d;
  while (!pending_.empty() && pending_.begin()->first <= now_) {
    Pending p = std::move(pending_.begin()->second.second);
    pending_.erase(pending_.begin());
    asio::post(p.ex, std::move(p.fn));
  }
}

void Deadline::Set(Duration d, int tag) {
  if (d <= Duration::zero()) {
    Clear();
    return;
  }
  deadline_ = timers_.Now() + d;
  tag_ = tag;
  if (!armed_ || armed_at_ > deadline_) Arm();
}

void Deadline::Arm() {
  armed_ = true;
  armed_at_ = deadline_;
  alarm_->ArmAt(deadline_, [this] {
    armed_ = false;
    if (deadline_ == kNever) return;
    if (timers_.Now() >= deadline_) {
      deadline_ = kNever;
      on_expire_(tag_);
    } else {
      Arm();
    }
  });
}

asio::awaitable<void> Wake::Wait() {
  if (!fired_) {
    timer_.expires_at(asio::steady_timer::time_point::max());
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  fired_ = false;
}

}  // namespace infergate::exchange
