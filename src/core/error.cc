// The single mapping from error kinds to HTTP statuses and OpenAI error bodies.
#include "infergate/core/error.h"

#include <array>
#include <cstdio>

namespace infergate {
namespace {
using S = ErrorSource;
// The `type` values OpenAI's API itself sends, so that every SDK maps them to its error classes:
// invalid_request_error for client faults (401 included), server_error for 5xx (timeouts
// included: the precise reason is the code), and "requests" for a 429 of a request-rate or
// concurrency limit (OpenAI says "requests" or "tokens", with code rate_limit_exceeded).
constexpr std::string_view kInvalid = "invalid_request_error";
constexpr std::string_view kApi = "server_error";
constexpr std::string_view kTimeout = "server_error";
constexpr std::string_view kRateLimit = "requests";

const ErrorInfo& Info(ErrorKind k) {
  static const ErrorInfo kBad{400, S::kClient, false, kInvalid, "bad_request", "bad_request"};
  static const ErrorInfo kHdr{
      431, S::kClient, false, kInvalid, "request_header_fields_too_large", "header_too_large"};
  static const ErrorInfo kBody{413,      S::kClient,          false,
                               kInvalid, "request_too_large", "body_too_large"};
  static const ErrorInfo kReqTo{408,      S::kClient,        false,
                                kInvalid, "request_timeout", "request_timeout"};
  static const ErrorInfo kJson{400, S::kClient, false, kInvalid, "invalid_json", "malformed_json"};
  static const ErrorInfo kRoute{404,      S::kClient,        false,
                                kInvalid, "route_not_found", "route_not_found"};
  static const ErrorInfo kModel{404,      S::kClient,        false,
                                kInvalid, "model_not_found", "model_not_found"};
  static const ErrorInfo kMethod{405,      S::kClient,           false,
                                 kInvalid, "method_not_allowed", "method_not_allowed"};
  static const ErrorInfo kMissing{
      400, S::kClient, false, kInvalid, "missing_required_parameter", "missing_parameter"};
  static const ErrorInfo kAbort{499,           S::kClient, false, kInvalid, "client_closed_request",
                                "client_abort"};
  static const ErrorInfo kInvalidParam{400,      S::kClient,      false,
                                       kInvalid, "invalid_value", "invalid_parameter"};
  static const ErrorInfo kContext{
      400, S::kClient, false, kInvalid, "context_length_exceeded", "context_length_exceeded"};
  static const ErrorInfo kConn{
      502, S::kBackend, true, kApi, "upstream_connect_failed", "connect_failed"};
  static const ErrorInfo kConnTo{
      504, S::kBackend, true, kTimeout, "upstream_connect_timeout", "connect_timeout"};
  static const ErrorInfo kReset{502, S::kBackend, true, kApi, "upstream_reset", "upstream_reset"};
  static const ErrorInfo kFbTo{
      504, S::kBackend, false, kTimeout, "upstream_first_byte_timeout", "first_byte_timeout"};
  static const ErrorInfo kIdleTo{
      504, S::kBackend, false, kTimeout, "upstream_idle_timeout", "idle_timeout"};
  static const ErrorInfo kTotTo{
      504, S::kBackend, false, kTimeout, "upstream_total_timeout", "total_timeout"};
  static const ErrorInfo kBadUp{
      502, S::kBackend, false, kApi, "bad_upstream_response", "bad_upstream_response"};
  static const ErrorInfo kBroken{
      502, S::kBackend, false, kApi, "upstream_stream_broken", "upstream_body_broken"};
  static const ErrorInfo kNoBe{503, S::kGateway, false, kApi, "no_backend_available", "no_backend"};
  static const ErrorInfo kShut{503, S::kGateway, false, kApi, "shutting_down", "shutting_down"};
  static const ErrorInfo kAuth{401, S::kClient, false, kInvalid, "invalid_api_key", "unauthorized"};
  static const ErrorInfo kFull{429,        S::kGateway,           false,
                               kRateLimit, "rate_limit_exceeded", "compartment_full"};
  static const ErrorInfo kRate{429,        S::kGateway,           false,
                               kRateLimit, "rate_limit_exceeded", "rate_limited"};
  static const ErrorInfo kLimit{503, S::kGateway, false, kApi, "overloaded", "concurrency_limit"};
  static const ErrorInfo kFallbacks{503,  S::kGateway,        false,
                                    kApi, "fallbacks_failed", "fallbacks_failed"};
  static const ErrorInfo kInt{500, S::kGateway, false, kApi, "internal_error", "internal"};
  switch (k) {
    case ErrorKind::kBadRequest:
      return kBad;
    case ErrorKind::kHeaderTooLarge:
      return kHdr;
    case ErrorKind::kBodyTooLarge:
      return kBody;
    case ErrorKind::kRequestTimeout:
      return kReqTo;
    case ErrorKind::kMalformedJson:
      return kJson;
    case ErrorKind::kRouteNotFound:
      return kRoute;
    case ErrorKind::kModelNotFound:
      return kModel;
    case ErrorKind::kMethodNotAllowed:
      return kMethod;
    case ErrorKind::kMissingParameter:
      return kMissing;
    case ErrorKind::kClientAbort:
      return kAbort;
    case ErrorKind::kInvalidParameter:
      return kInvalidParam;
    case ErrorKind::kContextLengthExceeded:
      return kContext;
    case ErrorKind::kConnectFailed:
      return kConn;
    case ErrorKind::kConnectTimeout:
      return kConnTo;
    case ErrorKind::kUpstreamReset:
      return kReset;
    case ErrorKind::kFirstByteTimeout:
      return kFbTo;
    case ErrorKind::kIdleTimeout:
      return kIdleTo;
    case ErrorKind::kTotalTimeout:
      return kTotTo;
    case ErrorKind::kBadUpstreamResponse:
      return kBadUp;
    case ErrorKind::kUpstreamBodyBroken:
      return kBroken;
    case ErrorKind::kNoBackend:
      return kNoBe;
    case ErrorKind::kShuttingDown:
      return kShut;
    case ErrorKind::kUnauthorized:
      return kAuth;
    case ErrorKind::kCompartmentFull:
      return kFull;
    case ErrorKind::kConcurrencyLimit:
      return kLimit;
    case ErrorKind::kRateLimited:
      return kRate;
    case ErrorKind::kFallbacksFailed:
      return kFallbacks;
    case ErrorKind::kInternal:
      return kInt;
  }
  return kInt;
}
}  // namespace

const ErrorInfo& DescribeError(ErrorKind kind) { return Info(kind); }

void AppendJsonEscaped(std::string& out, std::string_view text) {
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
}

std::string OpenAiErrorBody(ErrorKind kind, std::string_view message, std::string_view request_id,
                            std::string_view trace_id, std::string_view param) {
  const ErrorInfo& info = Info(kind);
  std::string out;
  out.reserve(96 + message.size() + request_id.size() + trace_id.size());
  out += R"({"error":{"message":")";
  AppendJsonEscaped(out, message);
  out += R"(","type":")";
  out += info.type;
  if (param.empty()) {
    out += R"(","param":null,"code":")";
  } else {
    out += R"(","param":")";
    AppendJsonEscaped(out, param);
    out += R"(","code":")";
  }
  out += info.code;
  out += '"';
  if (!request_id.empty()) {
    out += R"(,"request_id":")";
    AppendJsonEscaped(out, request_id);
    out += '"';
  }
  if (!trace_id.empty()) {
    out += R"(,"trace_id":")";
    AppendJsonEscaped(out, trace_id);
    out += '"';
  }
  out += "}}";
  return out;
}

}  // namespace infergate
