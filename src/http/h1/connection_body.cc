// The HTTP/1.1 client connection's request body and response framing (connection.h): the body
// fed to the codec as the exchange asks for it, a body stepped over when the answer came from the
// head, the transport's own error answers, and the server-stream writes.
#include <boost/asio/write.hpp>

#include "connection.h"

namespace infergate::h1::detail {

// The body, fed to the codec as it arrives, within body_timeout and max_request_body_bytes.
template <typename Socket>
asio::awaitable<std::optional<Error>> Connection<Socket>::ReceiveBody() {
  if (!body_pending_) co_return std::nullopt;
  const http::RequestHead& h = busy_->decoder.head();
  // 100 Continue now the body is wanted: not to HTTP/1.0, nor once it comes (RFC 9110 10.1.1)
  if (h.expect_continue && h.version >= 11 && Buffered().empty()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kContinue), kNoThrow);
    if (ec) co_return Gone();
  }
  while (true) {
    if (!Buffered().empty()) {
      size_t used = 0;
      auto st = busy_->decoder.Feed(Buffered(), &used);
      in_begin_ += used;
      if (!st) co_return BodyFailed(st.error());
      if (*st == http::RequestDecoder::Status::kComplete) {
        client_deadline_.Clear();
        body_pending_ = false;
        Watch();
        co_return std::nullopt;
      }
    }
    const error_code ec = co_await AwaitRead();
    if (client_timeout_tag_ == kTagBody) {
      read_ec_ = {};
      co_return BodyFailed(Error{ErrorKind::kRequestTimeout, "request body not received in time"});
    }
    if (ec) co_return Gone();
  }
}

// Whether the body of a request answered from its head can be stepped over (ServeOne).
template <typename Socket>
bool Connection<Socket>::Skippable() const {
  const http::RequestHead& h = busy_->decoder.head();
  if (h.chunked || !h.content_length || *h.content_length > kSkipLimit) return false;
  const bool withheld = h.expect_continue && h.version >= 11;  // no 100 was sent
  return !withheld || Buffered().size() >= *h.content_length;
}

// Drops the body's bytes as they arrive (nothing is buffered or parsed) until body_timeout,
// counted from the end of the head. False: the connection closes.
template <typename Socket>
asio::awaitable<bool> Connection<Socket>::SkipBody() {
  uint64_t left = *busy_->decoder.head().content_length;
  while (true) {
    const uint64_t n = std::min<uint64_t>(left, Buffered().size());
    in_begin_ += n;
    left -= n;
    if (left == 0) break;
    const Duration rest = body_deadline_ - ctx_.timers->Now();
    if (rest <= Duration::zero()) co_return false;
    client_deadline_.Set(rest, kTagBody);
    // One scratch buffer of up to 16 KiB, reused read after read (idle memory is released).
    std::vector<char>& in = busy_->in;
    in.resize(std::max(in.size(), static_cast<size_t>(std::min<uint64_t>(left, 16 << 10))));
    const error_code ec = co_await AwaitRead();
    if (ec || client_timeout_tag_ == kTagBody) co_return false;
  }
  client_deadline_.Clear();
  body_pending_ = false;
  co_return true;
}

// A body that could not be read: the exchange answers it, then a lingering close.
template <typename Socket>
Error Connection<Socket>::BodyFailed(Error err) {
  body_pending_ = false;
  keep_alive_ = false;
  linger_ = true;
  client_deadline_.Clear();
  return err;
}

// An error found by the transport (malformed request, limits, timeouts), before any exchange:
// the OpenAI-shaped answer, then a lingering close.
template <typename Socket>
asio::awaitable<void> Connection<Socket>::SendTransportError(const Error& err) {
  std::string request_id;
  const std::string body = exchange::RecordTransportError(
      *ctx_.snapshot, ctx_.timers->Now(), err, http::Protocol::kHttp1, &request_id,
      {client_ip_, listener_.name, ctx_.access_log});
  http::ResponseHead head;
  head.status = DescribeError(err.kind).status;
  head.content_length = body.size();
  head.headers = {{"content-type", "application/json"}, {"x-request-id", request_id}};
  bool keep_alive = false;
  busy_->out.clear();
  http::AppendResponseHead(busy_->out, head, 11, /*no_body=*/false, &keep_alive);
  busy_->out.append(body);
  client_deadline_.Set(listener_.send_timeout, kTagSend);
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(busy_->out), kNoThrow);
  client_deadline_.Clear();
  busy_->out.clear();
  if (!ec) linger_ = true;
}

template <typename Socket>
void Connection<Socket>::WriteHead(const http::ResponseHead& head) {
  if (body_pending_ && !Skippable()) keep_alive_ = false;  // closes after the answer
  // An answer to HEAD has no body, whoever wrote it (RFC 9110 9.3.2).
  no_body_ = busy_->request.method == "HEAD";
  const http::BodyFraming framing =
      http::AppendResponseHead(busy_->out, head, version_, no_body_, &keep_alive_);
  chunked_ = framing == http::BodyFraming::kChunked;
  if (framing == http::BodyFraming::kClose) close_delimited_ = true;
}

template <typename Socket>
void Connection<Socket>::WriteBody(std::string_view piece) {
  if (no_body_) return;
  if (chunked_) {
    http::AppendChunk(busy_->out, piece);
  } else {
    busy_->out.append(piece);
  }
}

template <typename Socket>
void Connection<Socket>::WriteEnd() {
  if (chunked_) busy_->out.append(http::kLastChunk);
  complete_ = true;
}

template <typename Socket>
void Connection<Socket>::Discard() {
  busy_->out.clear();
  complete_ = close_delimited_ = false;
}

template <typename Socket>
asio::awaitable<bool> Connection<Socket>::Flush() {
  if (busy_->out.empty()) co_return !busy_->peer_gone.fired();
  client_deadline_.Set(listener_.send_timeout, kTagSend);
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(busy_->out), kNoThrow);
  client_deadline_.Clear();
  busy_->out.clear();
  if (ec) {
    busy_->peer_gone.Fire();
    co_return false;
  }
  co_return true;
}

template <typename Socket>
asio::awaitable<void> Connection<Socket>::Reset() {
  reset_ = true;
  complete_ = false;
  if (!busy_->out.empty() && !busy_->peer_gone.fired()) {
    client_deadline_.Set(listener_.send_timeout, kTagSend);
    co_await asio::async_write(client_, asio::buffer(busy_->out), kNoThrow);
    client_deadline_.Clear();
  }
  busy_->out.clear();
}

#define INFERGATE_H1_BODY_MEMBERS(S)                                                  \
  template asio::awaitable<std::optional<Error>> Connection<S>::ReceiveBody();        \
  template bool Connection<S>::Skippable() const;                                     \
  template asio::awaitable<bool> Connection<S>::SkipBody();                           \
  template Error Connection<S>::BodyFailed(Error err);                                \
  template asio::awaitable<void> Connection<S>::SendTransportError(const Error& err); \
  template void Connection<S>::WriteHead(const http::ResponseHead& head);             \
  template void Connection<S>::WriteBody(std::string_view piece);                     \
  template void Connection<S>::WriteEnd();                                            \
  template void Connection<S>::Discard();                                             \
  template asio::awaitable<bool> Connection<S>::Flush();                              \
  template asio::awaitable<void> Connection<S>::Reset();
INFERGATE_H1_BODY_MEMBERS(tcp::socket)
INFERGATE_H1_BODY_MEMBERS(asio::ssl::stream<tcp::socket>)
#undef INFERGATE_H1_BODY_MEMBERS

}  // namespace infergate::h1::detail
