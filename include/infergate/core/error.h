// Error values for the data path. An Error says what went wrong, where it came from and
// whether the request may be retried elsewhere; DescribeError() is the one place that maps a
// kind to an HTTP status and the OpenAI error body's type and code.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace infergate {

enum class ErrorSource { kClient, kBackend, kGateway };

enum class ErrorKind {
  // Client faults.
  kBadRequest,        // malformed HTTP, smuggling attempt
  kHeaderTooLarge,    // header block or header count over the listener's limit
  kBodyTooLarge,      // body over the listener's limit
  kRequestTimeout,    // header or body not received in time
  kMalformedJson,     // the body of a route that needs the model is not a JSON object
  kRouteNotFound,     // no route matched
  kModelNotFound,     // no route matched and the body named a model
  kMethodNotAllowed,  // CONNECT, an upgrade we do not proxy, or a method no route takes
  kMissingParameter,  // an inference request without a required parameter (its `model`)
  kUnauthorized,      // the listener requires an API key and none known was presented
  kClientAbort,       // the client went away
  // A parameter out of range or of the wrong type for whatever answers (the model runner's
  // parser): 400 invalid_request_error, code invalid_value, with the parameter's name.
  kInvalidParameter,
  // The prompt does not fit the answering model's context: 400, code context_length_exceeded.
  kContextLengthExceeded,
  // Backend faults.
  kConnectFailed,  // refused, unreachable
  kConnectTimeout,
  kUpstreamReset,        // reset or closed before a complete response head
  kFirstByteTimeout,     // no response head within the route's first_byte timeout
  kIdleTimeout,          // a gap between body chunks longer than the route's idle timeout
  kTotalTimeout,         // the route's total timeout
  kBadUpstreamResponse,  // the backend broke HTTP/1.1
  kUpstreamBodyBroken,   // the backend's body ended abnormally mid-stream
  // Gateway faults.
  kNoBackend,  // the pool has no backend to try
  kShuttingDown,
  kCompartmentFull,   // the route's or tenant's bulkhead is full (or the wait timed out): 429
  kConcurrencyLimit,  // the pool's adaptive concurrency limit is reached: 503
  kRateLimited,       // a request or token rate limit (tenant, key, route, model): 429
  kFallbacksFailed,   // the primary failed and so did every fallback: 503
  kInternal,
};

struct Error {
  Error() = default;
  Error(ErrorKind k, std::string m, std::string p = {})
      : kind(k), message(std::move(m)), param(std::move(p)) {}
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;  // human detail, safe to show to the client
  std::string param;    // the request parameter at fault (OpenAI's "param"); "" for none
};

struct ErrorInfo {
  int status;  // HTTP status
  ErrorSource source;
  bool retryable;         // may be retried on another backend (before the first byte)
  std::string_view type;  // OpenAI error type
  std::string_view code;  // OpenAI error code
  std::string_view name;  // stable snake_case name for metrics and logs
};

const ErrorInfo& DescribeError(ErrorKind kind);

// {"error":{"message":...,"type":...,"param":null,"code":...}} with the message JSON-escaped,
// plus "request_id" and "trace_id" in the error object when given (fields the OpenAI SDKs ignore,
// for a user who quotes the error to an operator).
std::string OpenAiErrorBody(ErrorKind kind, std::string_view message,
                            std::string_view request_id = {}, std::string_view trace_id = {},
                            std::string_view param = {});

// Appends `text` to `out` as the inside of a JSON string (no quotes).
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace infergate
