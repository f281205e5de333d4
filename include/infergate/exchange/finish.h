// The one place that records how an upstream attempt and a whole exchange ended. Metrics and
// the access log read these records; health, breakers and ejection will read them too.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "infergate/core/error.h"
#include "infergate/core/random.h"
#include "infergate/exchange/context.h"

namespace infergate::exchange {

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
  bool response_started = false;                     // a byte reached the client
  uint64_t body_bytes = 0;                           // response body bytes forwarded
  http::Protocol protocol = http::Protocol::kHttp1;  // what the client spoke
  // Tokens, for the GenAI metrics and the access log: from the backend's `usage` (a JSON answer,
  // or a stream's usage chunk), else counted from content events (`tokens_estimated`).
  SteadyTime first_token_at{};            // the first content token reached the client (zero: none)
  std::optional<uint64_t> input_tokens;   // nullopt: unknown
  std::optional<uint64_t> output_tokens;  // nullopt: unknown
  bool tokens_estimated = false;
  std::string response_model;  // the `model` the answer named ("" when none did)
  // For the access log: where the request came from and what became of it. The strings are
  // filled only when the worker has an access log (they cost an allocation per request).
  std::string client_address;    // the client's IP
  std::string listener;          // the listener's name
  std::string trace_id;          // the W3C trace id, 32 hex digits ("" when none was set)
  std::string model;             // the model the client asked for ("" when unknown)
  std::string model_sent;        // the model a rewrite put in the request or an own answer named
  std::optional<size_t> tenant;  // index into Config::tenants
  std::optional<config::Trigger> degraded;  // why a fallback was asked to answer
  int fallback = -1;                        // the route's fallback that answered
  uint64_t bytes_sent = 0;    // response body bytes given to the client (relayed or own)
  std::string request_model;  // the `model` as forwarded, after rewrites ("" when none)
};

// Where a transport refused a request, for the access log.
struct RequestSite {
  std::string_view client_address;
  std::string_view listener;
  observability::AccessLog* access_log = nullptr;
};

void RecordAttempt(const Snapshot& snapshot, const AttemptRecord& attempt);

// A new request id: 32 lower-case hex digits from `rng`, replacing `*id`.
void NewRequestId(Rng& rng, std::string* id);

// A request a transport refuses before any exchange (malformed, over a limit, too slow): records
// it like an exchange and returns the OpenAI-shaped error body; `request_id` gets a new id.
std::string RecordTransportError(const Snapshot& snapshot, TimePoint now, const Error& err,
                                 http::Protocol protocol, std::string* request_id,
                                 const RequestSite& site = {});
// `end`: when the exchange ended (the exchange's clock). With `access_log`, its line too.
void RecordExchange(const Snapshot& snapshot, const ExchangeRecord& record, std::string_view method,
                    std::string_view target, std::string_view request_id, SteadyTime end,
                    observability::AccessLog* access_log = nullptr);

// A picked backend: in flight (for least_request and the in-flight gauge) from Pick until the
// lease goes, however the attempt ends; the attempt's outcome (a head, or the failure before
// one) is recorded at most once, and a stream that breaks after its head once more.
class BackendLease {
 public:
  BackendLease(const Snapshot& snapshot, upstream::PoolRuntime& pool, size_t pool_index,
               size_t backend);
  ~BackendLease() { Release(); }
  BackendLease(const BackendLease&) = delete;
  BackendLease& operator=(const BackendLease&) = delete;

  // No longer in flight (idempotent).
  void Release();
  void Record(const AttemptRecord& attempt);       // the head or the failure: once
  void RecordBroken(ErrorKind error, int status);  // after a head: once
  size_t pool_index() const { return pool_index_; }
  size_t backend() const { return backend_; }
  upstream::BackendRuntime& runtime() const;

 private:
  const Snapshot& snapshot_;
  upstream::PoolRuntime& pool_;
  size_t pool_index_;
  size_t backend_;
  bool released_ = false;
  bool recorded_ = false;
  bool broken_recorded_ = false;
};

}  // namespace infergate::exchange
