// HTTP/1.1 codecs without I/O, on Beast's basic_parser: bytes in, request/response events out.
// The request decoder enforces the listener's limits and the request-smuggling defences; the
// response decoder validates a backend's framing and hands body pieces to a sink as they are
// parsed, so a proxy can forward them without buffering.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/core/error.h"
#include "infergate/core/expected.h"
#include "infergate/core/header_field.h"
#include "infergate/core/http_status.h"
#include "infergate/http/message.h"
#include "infergate/http/request_target.h"

namespace infergate::http {

// The longest chunk-size line (size, extensions, CRLF) a chunked body may carry, in either
// direction: 400 for a request, 502 for a backend response. Trailers count against the header
// limit (max_header_bytes, together with the head for a request).
inline constexpr size_t kMaxChunkLineBytes = 4096;

struct RequestLimits {
  uint64_t max_header_bytes = 64 * 1024;
  uint32_t max_headers = 100;
  uint64_t max_body_bytes = 16 << 20;
};

struct RequestHead {
  std::string_view method;  // as received ("POST")
  std::string_view target;  // as received
  TargetForm target_form = TargetForm::kOrigin;
  // The path without the query: what routes match. Exactly the path of path_and_query.
  std::string_view path;
  // What is forwarded upstream as the request target: the origin-form of `target` ("/" when an
  // absolute-form target has an empty path).
  std::string_view path_and_query;
  int version = 11;  // 10 or 11
  std::vector<HeaderField> headers;
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false;
  // The authority of an absolute-form target, else the Host header ("" when absent).
  std::string_view host;

  // The first value of `name` (case-insensitive), or "" when absent.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
};

// Decodes one request at a time; Reset() before the next one on a keep-alive connection.
class RequestDecoder {
 public:
  enum class Status { kNeedMore, kHeadComplete, kComplete };

  explicit RequestDecoder(const RequestLimits& limits);
  ~RequestDecoder();
  RequestDecoder(const RequestDecoder&) = delete;
  RequestDecoder& operator=(const RequestDecoder&) = delete;

  void Reset();
  // New limits, from the next Reset on (a decoder reused for another listener's connection).
  void set_limits(const RequestLimits& limits) { limits_ = limits; }
  // Parses as much of `data` as possible; `*consumed` says how many bytes were used (the rest,
  // an incomplete header or a pipelined next request, must be presented again). Returns
  // kHeadComplete once, when the head is parsed and the body is not yet complete; the caller may
  // then inspect head() (e.g. answer Expect: 100-continue) and keep feeding.
  Expected<Status, Error> Feed(std::string_view data, size_t* consumed);
  // With `on`, a Feed that completes the head stops there (kHeadComplete) and leaves the body
  // bytes after it unparsed, for a caller that may answer from the head and never want the body.
  void PauseAtHead(bool on) { pause_at_head_ = on; }
  // The peer closed the connection; an error unless no byte of a request was seen.
  bool started() const { return started_; }

  const RequestHead& head() const { return head_; }
  // The decoded body (de-chunked). Its capacity keeps at least 64 spare bytes past size() so a
  // JSON reader that needs padding can use it in place.
  std::string& body() { return body_; }
  const RequestLimits& limits() const { return limits_; }

 private:
  class Parser;
  friend class Parser;
  Error SmugglingCheck();

  RequestLimits limits_;
  std::unique_ptr<Parser> parser_;
  RequestHead head_;
  std::string storage_;         // method, target and header bytes the head's views point into
  std::string target_storage_;  // path_and_query when it is not a slice of the target
  struct FieldOffsets {
    uint32_t name_off, name_len, value_off, value_len;
  };
  std::vector<FieldOffsets> offsets_;
  std::string body_;
  uint32_t te_count_ = 0;
  uint32_t host_count_ = 0;
  uint32_t field_count_ = 0;
  bool te_bad_ = false;
  bool head_reported_ = false;
  bool pause_at_head_ = false;
  bool started_ = false;
  std::optional<Error> pending_error_;
};

struct H1ResponseHead {
  int status = 0;
  std::string_view reason;
  int version = 11;
  std::vector<HeaderField> headers;  // views valid only during ResponseSink::OnHead
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;
  bool has_body = true;  // false for HEAD requests, 1xx, 204 and 304
};

class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void OnHead(const H1ResponseHead& head) = 0;
  // A piece of the de-chunked body; the view is valid only during the call.
  virtual void OnBody(std::string_view data) = 0;
};

// Decodes one backend response; Start() before each.
class ResponseDecoder {
 public:
  enum class Status { kNeedMore, kComplete };
  ResponseDecoder();
  ~ResponseDecoder();
  ResponseDecoder(const ResponseDecoder&) = delete;
  ResponseDecoder& operator=(const ResponseDecoder&) = delete;

  // head_request: the request was HEAD, so the response has no body whatever it says.
  void Start(bool head_request, uint64_t max_header_bytes = 64 * 1024);
  Expected<Status, Error> Feed(std::string_view data, size_t* consumed, ResponseSink& sink);
  // The backend closed the connection. kComplete for a close-delimited body, an Error
  // (kUpstreamReset before the head, kUpstreamBodyBroken after it) otherwise.
  Expected<Status, Error> FeedEof(ResponseSink& sink);
  bool head_done() const { return head_done_; }
  // Whether the connection may carry another request after this response.
  bool reusable() const;

 private:
  class Parser;
  friend class Parser;
  std::unique_ptr<Parser> parser_;
  H1ResponseHead head_;
  ResponseSink* sink_ = nullptr;
  bool head_request_ = false;
  uint64_t max_header_bytes_ = 64 * 1024;
  bool head_done_ = false;
  bool te_bad_ = false;
  uint32_t te_count_ = 0;
};

// --- Encoding helpers (pure) ---

void AppendHeader(std::string& out, std::string_view name, std::string_view value);
// `v` in decimal (status codes, Content-Length).
void AppendDecimal(std::string& out, uint64_t v);
// How a response body is framed on an HTTP/1.x connection (kNone: no body bytes follow).
enum class BodyFraming { kNone, kLength, kChunked, kClose };
// Appends the status line and header block of `head` for a client speaking HTTP/1.`version`
// (10 or 11): Content-Length when the length is known, else chunked (1.1) or close-delimited
// (1.0: clears *keep_alive); `no_body` (an answer to HEAD) may announce a length, sends no body.
// Then connection: close when !*keep_alive, keep-alive for a 1.0 client that keeps it.
BodyFraming AppendResponseHead(std::string& out, const ResponseHead& head, int version,
                               bool no_body, bool* keep_alive);
// One chunk in chunked transfer coding. Empty data appends nothing (that would end the body).
void AppendChunk(std::string& out, std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
using ::infergate::ReasonPhrase;  // infergate/core/http_status.h

}  // namespace infergate::http
