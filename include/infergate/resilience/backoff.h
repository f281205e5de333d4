// Retry timing: exponential backoff with full jitter, Retry-After parsing, and the default set
// of statuses worth retrying on another backend.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "infergate/core/random.h"
#include "infergate/core/units.h"

namespace infergate::resilience {

struct BackoffConfig {
  Duration base = std::chrono::milliseconds(25);  // Envoy's default base_interval
  Duration max = std::chrono::milliseconds(250);  // Envoy's default max_interval (10 x base)
};

// The upper bound of the delay before retry number `attempt` (1 = first retry, 0 counts as 1):
// min(max, base x (2^attempt - 1)), i.e. base, 3 x base, 7 x base, ... capped at max. Pure.
Duration BackoffCeiling(const BackoffConfig& config, uint32_t attempt);

// Full jitter: uniform in [0, BackoffCeiling(config, attempt)), drawn from `rng`. Unlike Envoy,
// which clamps a draw from the uncapped range (piling probability onto max), the cap applies to
// the range, so the draw stays uniform. Thread-safety: that of `rng` (use one per thread).
Duration BackoffDelay(const BackoffConfig& config, uint32_t attempt, Rng& rng);

// The default statuses retried on another backend (before the first byte was forwarded):
// 429 (rate limited), 502, 503, 504.
inline constexpr std::array<int, 4> kDefaultRetryableStatuses = {429, 502, 503, 504};
bool IsDefaultRetryableStatus(int status);

// The largest delay a Retry-After may ask for by default; longer values are capped.
inline constexpr Duration kDefaultRetryAfterCap = std::chrono::seconds(60);

// Parses a Retry-After header value (RFC 9110 section 10.2.3) into a delay from `now`:
//   delta-seconds: 1*DIGIT ("120"); huge values saturate, then are capped;
//   HTTP-date in any of the three forms a recipient must accept: IMF-fixdate
//   ("Sun, 06 Nov 1994 08:49:37 GMT"), obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT", a
//   two-digit year more than 50 years ahead means the previous century) and asctime
//   ("Sun Nov  6 08:49:37 1994"). A date in the past gives 0.
// Surrounding spaces and tabs are allowed. The result is capped at `cap` (a caller that would
// rather not retry than shorten the server's wait passes Duration::max() and compares with its
// own limit). Returns nullopt for
// anything else: empty, signs, fractions, units, lists, impossible dates, lowercase "gmt".
// Pure; thread-safe.
std::optional<Duration> ParseRetryAfter(std::string_view value,
                                        std::chrono::system_clock::time_point now,
                                        Duration cap = kDefaultRetryAfterCap);

}  // namespace infergate::resilience
