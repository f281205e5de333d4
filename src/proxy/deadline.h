// A lazily re-armed timeout. Set() records a deadline and a tag; the underlying timer is
// re-armed only when the new deadline is earlier than the armed one, so moving a deadline later
// on every request costs no timer syscalls. On expiry the owner's callback gets the tag.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>

#include "infergate/core/units.h"

namespace infergate::proxy {

class Deadline {
 public:
  using Callback = std::function<void(int tag)>;
  // `keeper` is held while a wait is pending so the owner outlives its timer's handler.
  Deadline(boost::asio::any_io_executor ex, Callback on_expire)
      : timer_(ex), on_expire_(std::move(on_expire)) {}

  void Set(Duration d, int tag, const std::shared_ptr<void>& keeper) {
    if (d <= Duration::zero()) {
      Clear();
      return;
    }
    deadline_ = std::chrono::steady_clock::now() + d;
    tag_ = tag;
    if (!armed_ || timer_.expiry() > deadline_) Arm(keeper);
  }
  void Clear() { deadline_ = kNever; }
  // Stops the timer for good (connection closing): drops the pending wait and its keeper.
  void Cancel() {
    deadline_ = kNever;
    ++generation_;
    armed_ = false;
    timer_.cancel();
  }

 private:
  static constexpr std::chrono::steady_clock::time_point kNever =
      std::chrono::steady_clock::time_point::max();

  void Arm(const std::shared_ptr<void>& keeper) {
    armed_ = true;
    uint64_t gen = ++generation_;
    timer_.expires_at(deadline_);
    timer_.async_wait([this, gen, keeper](const boost::system::error_code& ec) {
      if (gen != generation_) return;  // superseded by a later Arm or Cancel
      armed_ = false;
      if (ec || deadline_ == kNever) return;
      if (std::chrono::steady_clock::now() >= deadline_) {
        deadline_ = kNever;
        on_expire_(tag_);
      } else {
        Arm(keeper);
      }
    });
  }

  boost::asio::steady_timer timer_;
  Callback on_expire_;
  std::chrono::steady_clock::time_point deadline_ = kNever;
  int tag_ = 0;
  bool armed_ = false;
  uint64_t generation_ = 0;
};

}  // namespace infergate::proxy
