// The one place that records how an upstream attempt and a whole exchange ended. Metrics and
// the access log read these records; health, breakers and ejection will read them too.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "infergate/core/error.h"
#include "infergate/proxy/context.h"

namespace infergate::proxy {

using SteadyTime = std::chrono::steady_clock::time_point;

struct AttemptRecord {
  size_t pool = 0;
  size_t backend = 0;
  upstream::BackendState* shared = nullptr;  // the backend's process-wide state
  std::chrono::nanoseconds ttfb{};           // until the response head (or the failure)
  std::optional<ErrorKind> error;            // nullopt: a response head arrived (any status)
  int status = 0;                            // the backend's status when a head arrived
  bool reused_connection = false;
};

struct ExchangeRecord {
  SteadyTime start{};
  SteadyTime head_at{};  // backend response head received (zero if never)
  int route = -1;
  int pool = -1;
  int backend = -1;                // the backend that answered (or was tried last)
  int status = 0;                  // status sent to the client; 0 when none was
  std::optional<ErrorKind> error;  // why the exchange ended badly; nullopt when it completed
  int attempts = 0;
  bool response_started = false;  // a byte reached the client
  uint64_t body_bytes = 0;        // response body bytes forwarded
};

void RecordAttempt(const Snapshot& snapshot, const AttemptRecord& attempt);
void RecordExchange(const Snapshot& snapshot, const ExchangeRecord& record, std::string_view method,
                    std::string_view target, std::string_view request_id);

}  // namespace infergate::proxy
