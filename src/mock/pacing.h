// The mock server's steering and timing decisions as pure functions of explicit times, so unit
// tests can check them against a ManualClock: the x-mock-* controls of a request, when each
// streamed event is due, how long a non-streaming answer waits, and the read-delay schedule.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

#include "infergate/core/clock.h"
#include "infergate/core/units.h"
#include "mock/http_parse.h"
#include "mock/mock_server.h"

namespace infergate::mock {

// While a request's body is held back (x-mock-read-delay-ms), the socket is checked this often
// for a peer that hung up.
inline constexpr Duration kPeerPollInterval = std::chrono::milliseconds(10);

// Per-request steering taken from x-mock-* headers, defaulting to the command line.
struct Controls {
  int status = 0;  // 0: answer normally; 400-599: answer with this error
  Duration ttft{0};
  int64_t tokens = 0;
  Duration interval{0};
  bool hang = false;
  int64_t close_after = -1;  // -1: off
  bool echo = false;
  Duration read_delay{0};
  std::string error_body;  // the body of the x-mock-status error, as sent ("" = the mock's own)
};

// The command line's ttft, tokens and token interval, then every x-mock-* header of `fields`
// (names matched ignoring case): x-mock-status (400-599), x-mock-ttft-ms (>= 0), x-mock-tokens
// (0-1000000), x-mock-token-interval-ms (>= 0), x-mock-hang ("1"/"true"),
// x-mock-close-after-tokens (>= 0), x-mock-echo ("1"/"true"), x-mock-read-delay-ms (>= 0),
// x-mock-error-body (the error answer's body, e.g. a model server's own error JSON).
// Values that do not parse or are out of range are ignored.
Controls ParseControls(const Options& options, std::span<const HeaderField> fields);

// Events a stream sends before its tail: one per token, and one (empty, final) for zero tokens.
int64_t StreamEvents(const Controls& controls);

// When streamed event `index` (0-based) is due for a stream that started at `start`:
// start + ttft + index x interval. The response head goes out with event 0. Every event is due
// relative to the start, so a write that completes late does not delay the events after it.
TimePoint StreamEventDueAt(const Controls& controls, TimePoint start, int64_t index);

// How long a non-streaming completion waits, after its body is read, before it is written (or,
// with x-mock-close-after-tokens, before the connection is dropped): ttft + (tokens - 1) x
// interval, when the last token would have been generated. Error answers wait ttft only.
Duration CompletionDelay(const Controls& controls);

// x-mock-read-delay-ms: the body of a request whose head completed at `head_at` is left unread
// until ReadDelayUntil (nothing is read, so a large body backs up in TCP).
TimePoint ReadDelayUntil(const Controls& controls, TimePoint head_at);
// The next wake-up during the read delay: the end of the delay, or the next hang-up check
// (kPeerPollInterval after `now`), whichever comes first.
TimePoint NextReadDelayWake(TimePoint now, TimePoint until);
// Whether the read delay is over at `now` (the body is read from then on).
inline bool ReadDelayOver(TimePoint now, TimePoint until) { return now >= until; }

}  // namespace infergate::mock
