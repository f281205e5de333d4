// The HTTP/1.1 client connection's loop (connection.h): the protocol decision, request heads,
// one exchange per request, idle between requests, and the close.
#include <boost/asio/write.hpp>

#include "connection.h"
#include "infergate/core/log.h"
#include "infergate/http/h1/transport.h"
#include "infergate/http/h2/transport.h"

namespace infergate::h1 {
namespace detail {

template <typename Socket>
asio::awaitable<void> Connection<Socket>::Loop() {
  while (true) {
    const bool got = co_await ReadRequest();
    if (h2_preface_) {
      HandOverToH2();
      BusyPool::Give(ctx_, std::move(busy_));
      co_return;
    }
    if (!got) break;
    // (GCC 12 miscompiles a co_await inside a short-circuit operator: keep them apart.)
    const bool keep = co_await ServeOne();
    if (!keep || ctx_.Closing(listener_index_)) break;
    // Idle: a cleartext connection with nothing buffered and no read into its buffer pending.
    if (kPlain && Buffered().empty() && !read_ec_ && (!read_pending_ || waiting_)) {
      GoIdle();
      co_return;
    }
  }
  co_await Close();
  closed_ = true;
  BusyPool::Give(ctx_, std::move(busy_));
}

template <typename Socket>
asio::awaitable<void> Connection<Socket>::Close() {
  error_code ignored;
  client_deadline_.Cancel();
  if constexpr (!kPlain) co_await SendCloseNotify();
  if (linger_) {
    // Lingering close: stop sending, then drain what the client still sends for a short
    // while, so our error response is not destroyed by a reset.
    Lowest().shutdown(tcp::socket::shutdown_send, ignored);
    client_deadline_.Set(std::chrono::seconds(2), kTagLinger);
    while (Lowest().is_open()) {
      in_begin_ = in_end_ = 0;
      const error_code ec = co_await AwaitRead();
      if (ec) break;
    }
    client_deadline_.Cancel();
  }
  Lowest().close(ignored);
  busy_->read_event.cancel();
}

// TLS: a close_notify before the connection closes, so the client knows the stream ended
// whole and keeps its session for resumption (OpenSSL drops a session whose connection ends
// without one). Not after the client left or broke TLS. The peer's own close_notify is not
// waited for (as nginx does); the send is bounded by send_timeout.
template <typename Socket>
asio::awaitable<void> Connection<Socket>::SendCloseNotify() {
  const bool peer_gone = read_ec_ == asio::error::eof ||
                         read_ec_ == asio::ssl::error::stream_truncated ||
                         read_ec_ == asio::error::connection_reset ||
                         read_ec_.category() == asio::error::get_ssl_category();
  if (peer_gone || !Lowest().is_open()) co_return;
  SSL_set_shutdown(client_.native_handle(), SSL_RECEIVED_SHUTDOWN);
  client_deadline_.Set(listener_.send_timeout, kTagLinger);
  [[maybe_unused]] auto done = co_await client_.async_shutdown(kNoThrow);  // errors: gone
  client_deadline_.Cancel();
}

// The first bytes decide the protocol: the HTTP/2 preface (on a listener serving h2c) hands
// the connection to the HTTP/2 transport. nullopt: not decided yet (a prefix of the preface).
template <typename Socket>
std::optional<bool> Connection<Socket>::DecideProtocol() {
  const std::string_view b = Buffered();
  if (sniff_) {
    const size_t n = std::min(b.size(), h2::kClientPreface.size());
    if (b.substr(0, n) == h2::kClientPreface.substr(0, n)) {
      if (n < h2::kClientPreface.size()) return std::nullopt;
      h2_preface_ = true;
      return false;
    }
    sniff_ = false;
  }
  if (!listener_.http1) return false;  // an h2c-only listener: not HTTP/2, closed
  if (!counted_http1_) {
    counted_http1_ = true;
    snapshot_->metrics.protocol_connections[0]->Inc();
    snapshot_->metrics.protocol_open[0]->Add(1);
  }
  return true;
}

template <typename Socket>
void Connection<Socket>::HandOverToH2() {
  client_deadline_.Cancel();
  EnterState(exchange::ConnState::kBusy);  // out of this worker's lists; the h2 side enters
  slot_held_ = false;                      // the slot goes with the socket
  const std::string initial(Buffered());
  in_begin_ = in_end_ = 0;
  closed_ = true;  // for this transport
  if constexpr (kPlain) h2::ServeConnection(ctx_, listener_index_, std::move(client_), initial);
}

// Reads a request's head (its body waits for ReceiveBody). False: close the connection.
template <typename Socket>
asio::awaitable<bool> Connection<Socket>::ReadRequest() {
  busy_->decoder.Reset();
  client_timeout_tag_ = 0;
  const bool idle = Buffered().empty();
  if (idle && !read_pending_) ReleaseIdleMemory();
  // header_timeout is absolute: from accept for a connection's first request (Start), else
  // from the request's first byte. Bytes trickling in never extend it.
  bool head_timer = !idle || first_request_;
  if (first_request_) {
    first_request_ = false;
  } else if (head_timer) {
    client_deadline_.Set(listener_.header_timeout, kTagHeader);
    EnterState(exchange::ConnState::kHead);
  } else {
    client_deadline_.Set(listener_.keepalive_timeout, kTagKeepAlive);
    EnterState(exchange::ConnState::kIdle);
  }
  while (true) {
    if (!Buffered().empty()) {
      if (!head_timer) {
        head_timer = true;
        client_deadline_.Set(listener_.header_timeout, kTagHeader);
        EnterState(exchange::ConnState::kHead);
      }
      if (!counted_http1_) {
        const std::optional<bool> http1 = DecideProtocol();
        if (!http1) {
          const error_code ec = co_await AwaitRead();
          if (ec || client_timeout_tag_ != 0) co_return false;
          continue;
        }
        if (!*http1) co_return false;
      }
      size_t used = 0;
      auto st = busy_->decoder.Feed(Buffered(), &used);
      in_begin_ += used;
      if (!st) {
        Error err = st.error();
        co_await SendTransportError(err);
        co_return false;
      }
      if (*st != http::RequestDecoder::Status::kNeedMore) {
        // kHeadComplete: the body waits for ReceiveBody; body_timeout runs from here.
        body_pending_ = *st == http::RequestDecoder::Status::kHeadComplete;
        EnterState(exchange::ConnState::kBusy);
        client_deadline_.Set(body_pending_ ? listener_.body_timeout : Duration::zero(), kTagBody);
        body_deadline_ = ctx_.timers->Now() + listener_.body_timeout;
        co_return true;
      }
    }
    error_code ec = co_await AwaitRead();
    // A read that completed just as the deadline fired returns its bytes, not an error: the
    // deadline (which does not fire twice) still ends the request.
    const bool timed_out = client_timeout_tag_ == kTagHeader || client_timeout_tag_ == kTagBody;
    if (ec || timed_out) {
      if (timed_out && busy_->decoder.started()) {
        read_ec_ = {};
        Error err{ErrorKind::kRequestTimeout, client_timeout_tag_ == kTagHeader
                                                  ? "request header not received in time"
                                                  : "request body not received in time"};
        co_await SendTransportError(err);
      }
      co_return false;
    }
  }
}

// Runs the exchange for the decoded request. Returns whether the connection may be reused.
template <typename Socket>
asio::awaitable<bool> Connection<Socket>::ServeOne() {
  const http::RequestHead& h = busy_->decoder.head();
  busy_->request = http::Request{};
  busy_->request.method = h.method;
  busy_->request.scheme = kPlain ? "http" : "https";
  busy_->request.authority = h.host;
  busy_->request.path = h.path;
  busy_->request.path_and_query = h.path_and_query;
  busy_->request.headers = h.headers;
  busy_->request.body = &busy_->decoder.body();
  busy_->request.had_body = h.content_length.has_value() || h.chunked;
  keep_alive_ = h.keep_alive && !ctx_.Closing(listener_index_);
  version_ = h.version;
  complete_ = reset_ = close_delimited_ = false;
  busy_->out.clear();
  busy_->peer_gone.Reset();
  if (!body_pending_) Watch();
  co_await busy_->exchange.Run(*this);
  watching_ = false;
  if (body_pending_) {
    // Answered from the head (a rate limit), the body unread. As nginx does, a Content-Length
    // body up to kSkipLimit is dropped as it arrives (unbuffered, unparsed, within
    // body_timeout) and the connection kept: a flood of 429s on keep-alive costs a read, not
    // a connection each (bench/callgrind.sh CALLGRIND_CASE=429). As Envoy does, a larger or
    // chunked body closes it (`connection: close`, then the lingering close's bounded drain),
    // and so does an Expect: 100-continue client that got no 100: it may or may not send its
    // body (RFC 9110 10.1.1), so what follows has no sure framing.
    const bool skipped = keep_alive_ && complete_ && !busy_->peer_gone.fired() && Skippable();
    if (!skipped) {
      linger_ = true;
      co_return false;
    }
    const bool done = co_await SkipBody();
    if (!done) co_return false;
  }
  co_return keep_alive_&& complete_ && !reset_ && !close_delimited_ && !busy_->peer_gone.fired();
}

}  // namespace detail

using detail::Connection;
using detail::error_code;
using detail::tcp;
namespace asio = boost::asio;

void ServeConnection(exchange::WorkerContext& ctx, size_t listener, tcp::socket socket) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  socket.non_blocking(true, ignored);  // ResumeWithBytes reads without waiting
  std::make_shared<Connection<tcp::socket>>(ctx, listener, std::move(socket))->Start();
}

void ServeTlsConnection(exchange::WorkerContext& ctx, size_t listener,
                        asio::ssl::stream<tcp::socket> stream,
                        std::vector<std::string> peer_names) {
  using Tls = asio::ssl::stream<tcp::socket>;
  auto conn = std::make_shared<Connection<Tls>>(ctx, listener, std::move(stream));
  conn->set_peer_names(std::move(peer_names));
  conn->Start();
}

}  // namespace infergate::h1
