// Reconnect delays: exponential, bounded, with equal jitter. A pure schedule (no clock): the
// caller waits the returned delay on its own timer.
#pragma once

#include <chrono>
#include <cstdint>

namespace infergate {
class Rng;
}

namespace infergate::shared {

class Backoff {
 public:
  // initial > 0, max >= initial.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max);

  // The delay before the next attempt: with base = min(max, initial * 2^failures), a value in
  // [base/2, base] (half fixed, half uniform from `rng`). Counts one more failure.
  std::chrono::milliseconds Next(Rng& rng);
  // After a success: the next delay starts from `initial` again.
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }
  // The un-jittered delay for the current failure count.
  std::chrono::milliseconds Base() const;

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  int failures_ = 0;
};

}  // namespace infergate::shared
