// What counts against a backend: the single classification of an attempt's outcome that the
// circuit breaker and outlier ejection share.
#pragma once

#include <optional>

#include "infergate/core/error.h"

namespace infergate::resilience {

// kIgnored outcomes are not evidence about the backend and are not counted at all.
enum class CallResult { kSuccess, kFailure, kIgnored };

// Classifies one attempt. Pure; thread-safe.
//
// `error`: how the attempt failed, if it did. When set it alone decides: backend faults
// (connect failure/timeout, reset, first-byte/idle/total timeout, bad upstream response, broken
// stream) are kFailure; client faults (including kClientAbort and every 4xx-class error) and
// gateway faults (no backend, shutting down, internal) are kIgnored. `status` is not consulted
// then, because the status of a locally generated error (503 no_backend, 499 abort) says nothing
// about the backend.
// `status`: the backend's HTTP response status (0 when there was none). Without an error:
// 500, 502, 503, 504 and, when `count_429`, 429 are kFailure; 2xx and 3xx are kSuccess; every
// other status (400 context length, 401, 404, 413, 422, other 4xx, 501/505 and other 5xx, 1xx,
// 0 or out of range) is kIgnored. A flood of client errors must never open a breaker.
CallResult ClassifyForBreaker(std::optional<ErrorKind> error, int status, bool count_429 = true);

// The status part of ClassifyForBreaker: true for 500, 502, 503, 504 (and 429 if count_429).
bool IsBackendFailureStatus(int status, bool count_429 = true);

}  // namespace infergate::resilience
