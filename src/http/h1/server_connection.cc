// The server side of the HTTP/1.1 transport: one client connection. It reads request heads with
// the codec (limits, smuggling defences, absolute timers), hands each to the exchange through the
// server-stream seam, reads the body when the exchange asks for it, frames the response
// (Content-Length, chunked, or close-delimited for HTTP/1.0), keeps the connection alive when it
// may, and watches the client while an exchange runs so that a disconnect aborts it at once. Runs
// as a coroutine on its worker's io_context.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstring>
#include <type_traits>

#include "infergate/core/log.h"
#include "infergate/exchange/exchange.h"
#include "infergate/http/h1/transport.h"
#include "infergate/http/h1_codec.h"
#include "infergate/http/h2/transport.h"

namespace infergate::h1 {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

enum ClientTag { kTagKeepAlive = 1, kTagHeader, kTagBody, kTagSend, kTagLinger };

// Buffer sizes: small enough that 10,000 idle clients cost little memory, large enough that a
// typical chat request (~0.5 KiB) needs one read. Grown on demand, released when idle.
constexpr size_t kClientBufferInitial = 1024;
constexpr size_t kKeepCapacity = 4096;
constexpr size_t kPipelineLimit = 64 * 1024;
// The largest body of a request answered from its head that is read and dropped to keep the
// connection (as Go's net/http does, 256 KiB); a larger one closes it.
constexpr uint64_t kSkipLimit = 256 * 1024;

// `Socket`: tcp::socket, or an ssl::stream over one (HTTPS with ALPN http/1.1 or none).
template <typename Socket>
class Connection final : public std::enable_shared_from_this<Connection<Socket>>,
                         public exchange::Sheddable,
                         private exchange::ServerStream {
 public:
  static constexpr bool kPlain = std::is_same_v<Socket, tcp::socket>;

  Connection(exchange::WorkerContext& ctx, size_t listener, Socket socket)
      : ctx_(ctx),
        listener_index_(listener),
        snapshot_(ctx.snapshot),
        listener_(snapshot_->listener(listener)),
        client_(std::move(socket)),
        decoder_(http::RequestLimits{listener_.max_request_header_bytes,
                                     listener_.max_request_headers,
                                     listener_.max_request_body_bytes}),
        read_event_(client_.get_executor()),
        client_deadline_(*ctx.timers, client_.get_executor(),
                         [this](int tag) { OnClientDeadline(tag); }),
        exchange_(exchange::Env{&ctx, ctx.timers, &ThreadRng(), ctx.connector.get(),
                                client_.get_executor()}) {
    decoder_.PauseAtHead(true);  // the body waits for ReceiveBody
    ++ctx_.active_connections;
    snapshot_->metrics.open_connections->Add(1);
    snapshot_->metrics.accepted_connections->Inc();
    error_code ec;
    auto remote = Lowest().remote_endpoint(ec);
    if (!ec) client_ip_ = remote.address().to_string();
  }

  ~Connection() override {
    GiveSlot();
    --ctx_.active_connections;
    snapshot_->metrics.open_connections->Add(-1);
    if (counted_http1_) snapshot_->metrics.protocol_open[0]->Add(-1);
  }

  void Start() {
    asio::co_spawn(client_.get_executor(), Run(this->shared_from_this()), asio::detached);
  }

  // The verified client certificate's names (TLS), before Start.
  void set_peer_names(std::vector<std::string> names) { peer_names_ = std::move(names); }

  // Sheddable: closed to make room for a new connection (idle, or its head unfinished).
  void Shed() override {
    GiveSlot();
    error_code ignored;
    Lowest().close(ignored);  // the pending read ends; the loop closes and exits
  }

 private:
  // The TCP socket under the stream.
  tcp::socket& Lowest() {
    if constexpr (kPlain) {
      return client_;
    } else {
      return client_.next_layer();
    }
  }

  void GiveSlot() {
    if (!slot_held_) return;
    slot_held_ = false;
    ctx_.listeners[listener_index_]->slots.Give();
  }

  void EnterState(exchange::ConnState state) {
    if (slot_held_) ctx_.sheddable[listener_index_].Enter(*this, state);
  }

  // ---- client reads: one at a time, shared by request decoding and disconnect watching.

  void StartRead() {
    if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
    if (in_.size() < kClientBufferInitial) in_.resize(kClientBufferInitial);
    if (in_end_ == in_.size()) {
      if (in_begin_ > 0) {
        std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
        in_end_ -= in_begin_;
        in_begin_ = 0;
      } else {
        in_.resize(in_.size() * 2);
      }
    }
    read_pending_ = true;
    client_.async_read_some(
        asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
        [self = this->shared_from_this()](error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(error_code ec, size_t n) {
    read_pending_ = false;
    in_end_ += n;
    if (ec) read_ec_ = ec;
    if (watching_) {
      if (ec) {
        peer_gone_.Fire();
      } else if (in_end_ - in_begin_ < kPipelineLimit) {
        StartRead();  // pipelined bytes: keep them and keep watching for a disconnect
      }
    }
    read_event_.cancel();
  }

  // Waits for the pending (or a new) read to complete. Returns its error, sticky once set.
  asio::awaitable<error_code> AwaitRead() {
    if (!read_pending_) {
      if (read_ec_) co_return read_ec_;
      StartRead();
    }
    while (read_pending_) {
      read_event_.expires_at(asio::steady_timer::time_point::max());
      co_await read_event_.async_wait(kNoThrow);
    }
    co_return read_ec_;
  }

  std::string_view Buffered() const { return {in_.data() + in_begin_, in_end_ - in_begin_}; }

  // Between requests, give back what one large request or response grew.
  void ReleaseIdleMemory() {
    in_begin_ = in_end_ = 0;
    if (in_.size() > kClientBufferInitial) {
      in_.resize(kClientBufferInitial);
      in_.shrink_to_fit();
    }
    if (out_.capacity() > kKeepCapacity) std::string().swap(out_);
  }

  void OnClientDeadline(int tag) {
    client_timeout_tag_ = tag;
    error_code ignored;
    Lowest().cancel(ignored);
    if (tag == kTagSend) {
      IG_WARN("client %s stopped reading for %s; closing", client_ip_.c_str(),
              FormatDuration(listener_.send_timeout).c_str());
      Lowest().close(ignored);
      peer_gone_.Fire();
    }
  }

  // ---- the connection loop

  static asio::awaitable<void> Run(std::shared_ptr<Connection> self) { co_await self->Loop(); }

  asio::awaitable<void> Loop() {
    while (true) {
      const bool got = co_await ReadRequest();
      if (h2_preface_) {
        HandOverToH2();
        co_return;
      }
      if (!got) break;
      // (GCC 12 miscompiles a co_await inside a short-circuit operator: keep them apart.)
      const bool keep = co_await ServeOne();
      if (!keep || ctx_.Closing(listener_index_)) break;
    }
    co_await Close();
  }

  asio::awaitable<void> Close() {
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
    read_event_.cancel();
  }

  // TLS: a close_notify before the connection closes, so the client knows the stream ended
  // whole and keeps its session for resumption (OpenSSL drops a session whose connection ends
  // without one). Not after the client left or broke TLS. The peer's own close_notify is not
  // waited for (as nginx does); the send is bounded by send_timeout.
  asio::awaitable<void> SendCloseNotify() {
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
  std::optional<bool> DecideProtocol() {
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

  void HandOverToH2() {
    client_deadline_.Cancel();
    EnterState(exchange::ConnState::kBusy);  // out of this worker's lists; the h2 side enters
    slot_held_ = false;                      // the slot goes with the socket
    const std::string initial(Buffered());
    in_begin_ = in_end_ = 0;
    if constexpr (kPlain) h2::ServeConnection(ctx_, listener_index_, std::move(client_), initial);
  }

  // Reads a request's head (its body waits for ReceiveBody). False: close the connection.
  asio::awaitable<bool> ReadRequest() {
    decoder_.Reset();
    client_timeout_tag_ = 0;
    const bool idle = Buffered().empty();
    if (idle && !read_pending_) ReleaseIdleMemory();
    // header_timeout is absolute: from accept for a connection's first request, else from the
    // request's first byte. Bytes trickling in never extend it.
    bool head_timer = !idle || first_request_;
    first_request_ = false;
    if (head_timer) {
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
        auto st = decoder_.Feed(Buffered(), &used);
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
        if (timed_out && decoder_.started()) {
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
  asio::awaitable<bool> ServeOne() {
    const http::RequestHead& h = decoder_.head();
    request_ = http::Request{};
    request_.method = h.method;
    request_.scheme = kPlain ? "http" : "https";
    request_.authority = h.host;
    request_.path = h.path;
    request_.path_and_query = h.path_and_query;
    request_.headers = h.headers;
    request_.body = &decoder_.body();
    request_.had_body = h.content_length.has_value() || h.chunked;
    keep_alive_ = h.keep_alive && !ctx_.Closing(listener_index_);
    version_ = h.version;
    complete_ = reset_ = close_delimited_ = false;
    out_.clear();
    peer_gone_.Reset();
    if (!body_pending_) Watch();
    co_await exchange_.Run(*this);
    watching_ = false;
    if (body_pending_) {
      // Answered from the head (a rate limit), the body unread. As nginx does, a Content-Length
      // body up to kSkipLimit is dropped as it arrives (unbuffered, unparsed, within
      // body_timeout) and the connection kept: a flood of 429s on keep-alive costs a read, not
      // a connection each (bench/callgrind.sh CALLGRIND_CASE=429). As Envoy does, a larger or
      // chunked body closes it (`connection: close`, then the lingering close's bounded drain),
      // and so does an Expect: 100-continue client that got no 100: it may or may not send its
      // body (RFC 9110 10.1.1), so what follows has no sure framing.
      const bool skipped = keep_alive_ && complete_ && !peer_gone_.fired() && Skippable();
      if (!skipped) {
        linger_ = true;
        co_return false;
      }
      const bool done = co_await SkipBody();
      if (!done) co_return false;
    }
    co_return keep_alive_&& complete_ && !reset_ && !close_delimited_ && !peer_gone_.fired();
  }

  // Watches the client while the exchange runs: a close aborts it, pipelined bytes are kept.
  void Watch() {
    watching_ = true;
    if (!read_pending_ && !read_ec_ && in_end_ - in_begin_ < kPipelineLimit) StartRead();
  }

  // The body, fed to the codec as it arrives, within body_timeout and max_request_body_bytes.
  asio::awaitable<std::optional<Error>> ReceiveBody() override {
    if (!body_pending_) co_return std::nullopt;
    const http::RequestHead& h = decoder_.head();
    // 100 Continue now the body is wanted: not to HTTP/1.0, nor once it comes (RFC 9110 10.1.1)
    if (h.expect_continue && h.version >= 11 && Buffered().empty()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kContinue), kNoThrow);
      if (ec) co_return Gone();
    }
    while (true) {
      if (!Buffered().empty()) {
        size_t used = 0;
        auto st = decoder_.Feed(Buffered(), &used);
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
        co_return BodyFailed(
            Error{ErrorKind::kRequestTimeout, "request body not received in time"});
      }
      if (ec) co_return Gone();
    }
  }

  Error Gone() {
    peer_gone_.Fire();
    return Error{ErrorKind::kClientAbort, ""};
  }

  // Whether the body of a request answered from its head can be stepped over (ServeOne).
  bool Skippable() const {
    const http::RequestHead& h = decoder_.head();
    if (h.chunked || !h.content_length || *h.content_length > kSkipLimit) return false;
    const bool withheld = h.expect_continue && h.version >= 11;  // no 100 was sent
    return !withheld || Buffered().size() >= *h.content_length;
  }

  // Drops the body's bytes as they arrive (nothing is buffered or parsed) until body_timeout,
  // counted from the end of the head. False: the connection closes.
  asio::awaitable<bool> SkipBody() {
    uint64_t left = *decoder_.head().content_length;
    while (true) {
      const uint64_t n = std::min<uint64_t>(left, Buffered().size());
      in_begin_ += n;
      left -= n;
      if (left == 0) break;
      const Duration rest = body_deadline_ - ctx_.timers->Now();
      if (rest <= Duration::zero()) co_return false;
      client_deadline_.Set(rest, kTagBody);
      // One scratch buffer of up to 16 KiB, reused read after read (idle memory is released).
      in_.resize(std::max(in_.size(), static_cast<size_t>(std::min<uint64_t>(left, 16 << 10))));
      const error_code ec = co_await AwaitRead();
      if (ec || client_timeout_tag_ == kTagBody) co_return false;
    }
    client_deadline_.Clear();
    body_pending_ = false;
    co_return true;
  }

  // A body that could not be read: the exchange answers it, then a lingering close.
  Error BodyFailed(Error err) {
    body_pending_ = false;
    keep_alive_ = false;
    linger_ = true;
    client_deadline_.Clear();
    return err;
  }

  // An error found by the transport (malformed request, limits, timeouts), before any exchange:
  // the OpenAI-shaped answer, then a lingering close.
  asio::awaitable<void> SendTransportError(const Error& err) {
    std::string request_id;
    const std::string body = exchange::RecordTransportError(
        *ctx_.snapshot, ctx_.timers->Now(), err, http::Protocol::kHttp1, &request_id,
        {client_ip_, listener_.name, ctx_.access_log});
    http::ResponseHead head;
    head.status = DescribeError(err.kind).status;
    head.content_length = body.size();
    head.headers = {{"content-type", "application/json"}, {"x-request-id", request_id}};
    bool keep_alive = false;
    out_.clear();
    http::AppendResponseHead(out_, head, 11, /*no_body=*/false, &keep_alive);
    out_.append(body);
    client_deadline_.Set(listener_.send_timeout, kTagSend);
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(out_), kNoThrow);
    client_deadline_.Clear();
    out_.clear();
    if (!ec) linger_ = true;
  }

  // ---- ServerStream

  const http::Request& request() const override { return request_; }
  const config::ListenerConfig& listener() const override { return listener_; }
  std::string_view client_address() const override { return client_ip_; }
  exchange::PeerGone& peer_gone() override { return peer_gone_; }
  bool secure() const override { return !kPlain; }
  std::span<const std::string> peer_names() const override { return peer_names_; }

  void WriteHead(const http::ResponseHead& head) override {
    if (body_pending_ && !Skippable()) keep_alive_ = false;  // closes after the answer
    // An answer to HEAD has no body, whoever wrote it (RFC 9110 9.3.2).
    no_body_ = request_.method == "HEAD";
    const http::BodyFraming framing =
        http::AppendResponseHead(out_, head, version_, no_body_, &keep_alive_);
    chunked_ = framing == http::BodyFraming::kChunked;
    if (framing == http::BodyFraming::kClose) close_delimited_ = true;
  }

  void WriteBody(std::string_view piece) override {
    if (no_body_) return;
    if (chunked_) {
      http::AppendChunk(out_, piece);
    } else {
      out_.append(piece);
    }
  }

  void WriteEnd() override {
    if (chunked_) out_.append(http::kLastChunk);
    complete_ = true;
  }

  void Discard() override {
    out_.clear();
    complete_ = close_delimited_ = false;
  }

  asio::awaitable<bool> Flush() override {
    if (out_.empty()) co_return !peer_gone_.fired();
    client_deadline_.Set(listener_.send_timeout, kTagSend);
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(out_), kNoThrow);
    client_deadline_.Clear();
    out_.clear();
    if (ec) {
      peer_gone_.Fire();
      co_return false;
    }
    co_return true;
  }

  asio::awaitable<void> Reset() override {
    reset_ = true;
    complete_ = false;
    if (!out_.empty() && !peer_gone_.fired()) {
      client_deadline_.Set(listener_.send_timeout, kTagSend);
      co_await asio::async_write(client_, asio::buffer(out_), kNoThrow);
      client_deadline_.Clear();
    }
    out_.clear();
  }

  exchange::WorkerContext& ctx_;
  const size_t listener_index_;
  const std::shared_ptr<const exchange::Snapshot> snapshot_;  // listener_ points into it
  const config::ListenerConfig& listener_;
  bool slot_held_ = true;  // the listener slot TakeConnectionSlot took for this connection
  bool first_request_ = true;
  bool sniff_ = kPlain && listener_.h2c;  // the first bytes may be the HTTP/2 preface (h2c)
  bool h2_preface_ = false;
  bool counted_http1_ = false;
  Socket client_;
  std::string client_ip_;
  std::vector<std::string> peer_names_;  // the verified client certificate's (TLS)
  http::RequestDecoder decoder_;

  std::vector<char> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  bool read_pending_ = false;
  error_code read_ec_;
  asio::steady_timer read_event_;
  exchange::Deadline client_deadline_;
  int client_timeout_tag_ = 0;
  bool linger_ = false;

  // The current exchange's stream.
  http::Request request_;
  exchange::PeerGone peer_gone_;
  bool watching_ = false;      // reads watch for a disconnect (the exchange runs)
  bool body_pending_ = false;  // the head is decoded, the body not (yet) read
  TimePoint body_deadline_{};  // body_timeout, from the end of the head
  bool keep_alive_ = true;
  int version_ = 11;
  bool chunked_ = false;
  bool no_body_ = false;  // answering HEAD
  bool close_delimited_ = false;
  bool complete_ = false;
  bool reset_ = false;
  std::string out_;
  exchange::Exchange exchange_;
};

}  // namespace

void ServeConnection(exchange::WorkerContext& ctx, size_t listener, tcp::socket socket) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
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
