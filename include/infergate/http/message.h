// The protocol-neutral message model between transports and the exchange: a request (method,
// scheme, authority, path, lower-case headers, complete body) and a response head (status and
// end-to-end headers; framing is the transport's). Hop-by-hop handling and the X-Forwarded-*
// fields live here, in one place, for every transport.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/core/header_field.h"

namespace infergate::http {

// The protocol a client spoke, for metrics and logs.
enum class Protocol : uint8_t { kHttp1, kH2 };
inline constexpr size_t kProtocolCount = 2;
inline const char* ProtocolName(Protocol p) { return p == Protocol::kH2 ? "h2" : "http1"; }

// A request as a transport hands it to the exchange. Views into the transport's storage, valid
// for the whole exchange.
struct Request {
  std::string_view method;
  std::string_view scheme;               // "http"
  std::string_view authority;            // the target's authority, else the Host header
  std::string_view path;                 // without the query: what routes match
  std::string_view path_and_query;       // what is forwarded: exactly `path` plus its query
  std::span<const HeaderField> headers;  // names lower-case, as every transport delivers them
  // The complete, de-framed body; the exchange may rewrite it (model rewrites). Its capacity
  // keeps at least 64 spare bytes past size() for a JSON reader that needs padding.
  std::string* body = nullptr;
  bool had_body = false;  // the request carried a body (even an empty one): send its length

  // The first value of `lower_name`, or "" when absent.
  std::string_view Get(std::string_view lower_name) const;
};

// A response head. `headers` are end-to-end fields only: a transport adds its own framing
// (Content-Length or chunked for HTTP/1.1) and connection management.
struct ResponseHead {
  int status = 200;
  std::string_view reason;  // HTTP/1.1 only; empty: the standard phrase
  std::vector<HeaderField> headers;
  // The body's length when known (a transport may announce it); nullopt: streamed to its end.
  std::optional<uint64_t> content_length;
  bool has_body = true;  // false for HEAD requests, 204, 304
};

// RFC 9110 7.6.1 hop-by-hop fields, plus any field named in `connection` (the Connection
// header's value).
bool IsHopByHop(std::string_view name, std::string_view connection);

// The end-to-end fields of a backend's response, for the client: hop-by-hop fields, the
// backend's x-request-id (the gateway sets its own) and, when the response has a body, its
// Content-Length (the transport frames the body) dropped. An answer to HEAD keeps the length.
void CopyEndToEnd(std::span<const HeaderField> from, bool has_body, std::vector<HeaderField>* to);

// What a request carries to a backend besides its own end-to-end fields.
struct ForwardContext {
  std::string_view client_address;  // appended to X-Forwarded-For
  std::string_view proto = "http";  // X-Forwarded-Proto
  std::string_view request_id;      // x-request-id
  // The gateway's W3C traceparent, replacing the client's (empty: the client's passes). With
  // `drop_tracestate` the client's tracestate stays behind (it belongs to a trace not continued).
  std::string_view traceparent;
  bool drop_tracestate = false;
};

// Calls emit(name, value) for each header field a backend gets besides Host and framing: the
// client's end-to-end fields, then X-Forwarded-For (the client's list plus `client_address`),
// X-Forwarded-Proto, X-Forwarded-Host (the authority, unless the client sent one),
// x-request-id and the gateway's traceparent. Any transport encodes what it is given.
template <typename Emit>
void ForEachForwardedHeader(const Request& req, const ForwardContext& ctx, Emit&& emit) {
  const std::string_view connection = req.Get("connection");
  std::string_view xff;
  bool has_xfh = false;
  for (const HeaderField& h : req.headers) {
    const std::string_view n = h.name;
    if (IsHopByHop(n, connection) || n == "host" || n == "content-length" || n == "expect" ||
        n == "x-request-id" || n == "x-forwarded-proto") {
      continue;
    }
    if ((n == "traceparent" && !ctx.traceparent.empty()) ||
        (n == "tracestate" && ctx.drop_tracestate)) {
      continue;
    }
    if (n == "x-forwarded-for") {
      xff = h.value;
      continue;
    }
    if (n == "x-forwarded-host") has_xfh = true;
    emit(n, h.value);
  }
  if (xff.empty()) {
    emit(std::string_view("x-forwarded-for"), ctx.client_address);
  } else {
    std::string joined;
    joined.reserve(xff.size() + 2 + ctx.client_address.size());
    joined.append(xff).append(", ").append(ctx.client_address);
    emit(std::string_view("x-forwarded-for"), std::string_view(joined));
  }
  emit(std::string_view("x-forwarded-proto"), ctx.proto);
  if (!has_xfh && !req.authority.empty()) emit(std::string_view("x-forwarded-host"), req.authority);
  emit(std::string_view("x-request-id"), ctx.request_id);
  if (!ctx.traceparent.empty()) emit(std::string_view("traceparent"), ctx.traceparent);
}

}  // namespace infergate::http
