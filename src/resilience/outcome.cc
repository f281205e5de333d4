// The single place that decides which outcomes count against a backend.
#include "infergate/resilience/outcome.h"

namespace infergate::resilience {

bool IsBackendFailureStatus(int status, bool count_429) {
  switch (status) {
    case 500:
    case 502:
    case 503:
    case 504:
      return true;
    case 429:
      return count_429;
    default:
      return false;
  }
}

CallResult ClassifyForBreaker(std::optional<ErrorKind> error, int status, bool count_429) {
  if (error) {
    // No default: a new ErrorKind must be classified here (-Wswitch is an error).
    switch (*error) {
      case ErrorKind::kConnectFailed:
      case ErrorKind::kConnectTimeout:
      case ErrorKind::kUpstreamReset:
      case ErrorKind::kFirstByteTimeout:
      case ErrorKind::kIdleTimeout:
      case ErrorKind::kTotalTimeout:
      case ErrorKind::kBadUpstreamResponse:
      case ErrorKind::kUpstreamBodyBroken:
        return CallResult::kFailure;
      case ErrorKind::kBadRequest:
      case ErrorKind::kHeaderTooLarge:
      case ErrorKind::kBodyTooLarge:
      case ErrorKind::kRequestTimeout:
      case ErrorKind::kMalformedJson:
      case ErrorKind::kRouteNotFound:
      case ErrorKind::kModelNotFound:
      case ErrorKind::kMethodNotAllowed:
      case ErrorKind::kMissingParameter:
      case ErrorKind::kClientAbort:
      case ErrorKind::kInvalidParameter:
      case ErrorKind::kContextLengthExceeded:
      case ErrorKind::kNoBackend:
      case ErrorKind::kShuttingDown:
      case ErrorKind::kUnauthorized:
      case ErrorKind::kCompartmentFull:
      case ErrorKind::kConcurrencyLimit:
      case ErrorKind::kRateLimited:
      case ErrorKind::kFallbacksFailed:
      case ErrorKind::kInternal:
        return CallResult::kIgnored;
    }
    return CallResult::kIgnored;
  }
  if (IsBackendFailureStatus(status, count_429)) return CallResult::kFailure;
  if (status >= 200 && status < 400) return CallResult::kSuccess;
  return CallResult::kIgnored;
}

}  // namespace infergate::resilience
