// Lua scripts run atomically in Redis: EVALSHA first, EVAL when the server answers NOSCRIPT (which
// also caches the script, so each server, after a restart too, gets the source once). And the
// first script the rate limiter uses: take an allowance from a windowed counter.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "infergate/core/clock.h"
#include "infergate/shared/redis_client.h"

namespace infergate::shared {

class RedisScript {
 public:
  explicit RedisScript(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }  // lower-case hex, as Redis names scripts

 private:
  std::string source_;
  std::string sha1_;
};

// Runs `script` with `keys` and `args`; the NOSCRIPT fallback shares the one deadline. The client
// must outlive the call.
boost::asio::awaitable<RedisResult> EvalScript(RedisClient& client, const RedisScript& script,
                                               std::vector<std::string> keys,
                                               std::vector<std::string> args, TimePoint deadline);

// What a take left in the window.
struct Allowance {
  int64_t total = 0;      // the counter after this take (all instances' takes in the window)
  Millis window_left{0};  // until the window ends and the counter starts again from zero
};

// The counter script: INCRBY key amount; the take that finds no expiry (the window's first)
// sets PEXPIRE key window. Returns {total, window's remaining ms}. A fixed window, kept small on
// purpose: the limiter decides its final algorithm (GCRA or a sliding window) and may replace it.
const RedisScript& AllowanceScript();

// Adds `amount` (>= 0; 0 reads) to the counter `key` in a fixed window of `window`.
boost::asio::awaitable<Expected<Allowance, RedisError>> TakeAllowance(RedisClient& client,
                                                                      std::string key,
                                                                      int64_t amount, Millis window,
                                                                      TimePoint deadline);

}  // namespace infergate::shared
