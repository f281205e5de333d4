// The server side of the HTTP/1.1 transport: one client connection (internal to src/http/h1/).
// It reads request heads with the codec (limits, smuggling defences, absolute timers), hands each
// to the exchange through the server-stream seam, reads the body when the exchange asks for it
// (connection_body.cc), frames the response (Content-Length, chunked, or close-delimited for
// HTTP/1.0), keeps the connection alive when it may, and watches the client while an exchange
// runs so that a disconnect aborts it at once. While a request is in flight a coroutine runs the
// loop (server_connection.cc) with per-exchange state from the worker's free list (busy.h); an
// idle connection holds only its socket, its read buffer with a read pending, and its alarm.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "busy.h"
#include "infergate/exchange/context.h"
#include "infergate/exchange/server_stream.h"

namespace infergate::h1::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

enum ClientTag { kTagKeepAlive = 1, kTagHeader, kTagBody, kTagSend, kTagLinger };

// Buffer sizes: small enough that 10,000 idle clients cost little memory, large enough that a
// typical chat request (~0.5 KiB) needs one read. Grown on demand, released when idle.
constexpr size_t kClientBufferInitial = 1024;
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
        client_deadline_(*ctx.timers, client_.get_executor(),
                         [this](int tag) { OnClientDeadline(tag); }) {
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

  // header_timeout runs from here (absolute). A cleartext connection holds nothing but a wait
  // for readability until bytes arrive; a TLS one runs its loop at once and keeps it (and its
  // Busy) while idle.
  void Start() {
    client_deadline_.Set(listener_.header_timeout, kTagHeader);
    EnterState(exchange::ConnState::kHead);
    if constexpr (kPlain) {
      StartWait();
    } else {
      Resume();
    }
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
    std::vector<char>& in = busy_->in;
    if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
    if (in.size() < kClientBufferInitial) in.resize(kClientBufferInitial);
    if (in_end_ == in.size()) {
      if (in_begin_ > 0) {
        std::memmove(in.data(), in.data() + in_begin_, in_end_ - in_begin_);
        in_end_ -= in_begin_;
        in_begin_ = 0;
      } else {
        in.resize(in.size() * 2);
      }
    }
    read_pending_ = true;
    client_.async_read_some(
        asio::buffer(in.data() + in_end_, in.size() - in_end_),
        [self = this->shared_from_this()](error_code ec, size_t n) { self->OnRead(ec, n); });
  }

  // Waits for the client's next bytes without a buffer (cleartext only: a TLS stream may hold
  // decrypted bytes the socket no longer shows). The pending "read" of an idle connection, and
  // the disconnect watch of a request whose bytes were all used. Costs an epoll_ctl where a
  // pending read costs none, but lets an idle connection hold no read buffer.
  void StartWait() {
    read_pending_ = waiting_ = true;
    Lowest().async_wait(tcp::socket::wait_read,
                        [self = this->shared_from_this()](error_code ec) { self->OnReadable(ec); });
  }

  void OnReadable(error_code ec) {
    read_pending_ = waiting_ = false;
    if (ec) read_ec_ = ec;
    if (!busy_) {
      if (!closed_) ResumeWithBytes();
      return;
    }
    if (!ec) {
      StartRead();  // bytes or an end: read them (the buffer comes back now)
      return;
    }
    if (watching_) busy_->peer_gone.Fire();
    busy_->read_event.cancel();
  }

  void OnRead(error_code ec, size_t n) {
    read_pending_ = false;
    in_end_ += n;
    if (ec) read_ec_ = ec;
    if (!busy_) {
      return;  // the loop closed the connection and gave its Busy back
    }
    if (watching_) {
      if (ec) {
        busy_->peer_gone.Fire();
      } else if (in_end_ - in_begin_ < kPipelineLimit) {
        StartRead();  // pipelined bytes: keep them and keep watching for a disconnect
      }
    }
    busy_->read_event.cancel();
  }

  // Takes per-exchange state from the worker's free list and runs the connection loop.
  void Resume() {
    if (!busy_) TakeBusy();
    RunLoop();
  }

  void TakeBusy() {
    busy_ = BusyPool::Take(
        ctx_, client_.get_executor(),
        http::RequestLimits{listener_.max_request_header_bytes, listener_.max_request_headers,
                            listener_.max_request_body_bytes});
  }

  // Idle (or new) and readable: reads what came into a Busy's buffer here (the socket is
  // non-blocking: no speculative read of an async one, no wake-up of the loop's read event), then
  // runs the loop. Nothing came after all: back to waiting, the Busy given back.
  void ResumeWithBytes() {
    if (read_ec_) return Resume();  // an error or a deadline: the loop closes
    TakeBusy();
    std::vector<char>& in = busy_->in;
    if (in.size() < kClientBufferInitial) in.resize(kClientBufferInitial);
    in_begin_ = in_end_ = 0;
    error_code ec;
    const size_t n = Lowest().read_some(asio::buffer(in), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      BusyPool::Give(ctx_, std::move(busy_));
      StartWait();
      return;
    }
    in_end_ = n;
    if (ec) read_ec_ = ec;
    RunLoop();
  }

  // Between requests (cleartext), with nothing buffered: the connection keeps its socket, a wait
  // for readability and its keep-alive alarm; its Busy (buffer included) goes back to the worker
  // and the loop ends (OnReadable resumes it).
  void GoIdle() {
    client_deadline_.Set(listener_.keepalive_timeout, kTagKeepAlive);
    EnterState(exchange::ConnState::kIdle);
    ReleaseIdleMemory();
    if (!read_pending_) StartWait();
    BusyPool::Give(ctx_, std::move(busy_));
  }

  // Waits for the pending (or a new) read to complete. Returns its error, sticky once set.
  asio::awaitable<error_code> AwaitRead() {
    if (!read_pending_) {
      if (read_ec_) co_return read_ec_;
      StartRead();
    }
    while (read_pending_) {
      busy_->read_event.expires_at(asio::steady_timer::time_point::max());
      co_await busy_->read_event.async_wait(kNoThrow);
    }
    co_return read_ec_;
  }

  std::string_view Buffered() const {
    if (in_begin_ == in_end_) return {};
    return {busy_->in.data() + in_begin_, in_end_ - in_begin_};
  }

  // Between requests, give back what one large request or response grew.
  void ReleaseIdleMemory() {
    in_begin_ = in_end_ = 0;
    std::vector<char>& in = busy_->in;
    if (in.size() > kClientBufferInitial) {
      in.resize(kClientBufferInitial);
      in.shrink_to_fit();
    }
  }

  void OnClientDeadline(int tag) {
    client_timeout_tag_ = tag;
    error_code ignored;
    Lowest().cancel(ignored);
    if (tag == kTagSend) {
      IG_WARN("client %s stopped reading for %s; closing", client_ip_.c_str(),
              FormatDuration(listener_.send_timeout).c_str());
      Lowest().close(ignored);
      if (busy_) busy_->peer_gone.Fire();
    }
  }

  // ---- the connection loop

  // Runs Loop as a new coroutine; its completion handler keeps the connection alive.
  void RunLoop() {
    asio::co_spawn(client_.get_executor(), Loop(),
                   [self = this->shared_from_this()](const std::exception_ptr&) {});
  }

  asio::awaitable<void> Loop();

  asio::awaitable<void> Close();

  // TLS: a close_notify before the connection closes, so the client knows the stream ended
  // whole and keeps its session for resumption (OpenSSL drops a session whose connection ends
  // without one). Not after the client left or broke TLS. The peer's own close_notify is not
  // waited for (as nginx does); the send is bounded by send_timeout.
  asio::awaitable<void> SendCloseNotify();

  // The first bytes decide the protocol: the HTTP/2 preface (on a listener serving h2c) hands
  // the connection to the HTTP/2 transport. nullopt: not decided yet (a prefix of the preface).
  std::optional<bool> DecideProtocol();

  void HandOverToH2();

  // Reads a request's head (its body waits for ReceiveBody). False: close the connection.
  asio::awaitable<bool> ReadRequest();

  // Runs the exchange for the decoded request. Returns whether the connection may be reused.
  asio::awaitable<bool> ServeOne();

  // Watches the client while the exchange runs: a close aborts it, pipelined bytes are kept.
  void Watch() {
    watching_ = true;
    if (read_pending_ || read_ec_ || in_end_ - in_begin_ >= kPipelineLimit) return;
    if constexpr (kPlain) {
      if (Buffered().empty()) return StartWait();  // the wait an idle connection keeps
    }
    StartRead();
  }

  // The body, fed to the codec as it arrives, within body_timeout and max_request_body_bytes.
  asio::awaitable<std::optional<Error>> ReceiveBody() override;

  Error Gone() {
    busy_->peer_gone.Fire();
    return Error{ErrorKind::kClientAbort, ""};
  }

  // Whether the body of a request answered from its head can be stepped over (ServeOne).
  bool Skippable() const;

  // Drops the body's bytes as they arrive (nothing is buffered or parsed) until body_timeout,
  // counted from the end of the head. False: the connection closes.
  asio::awaitable<bool> SkipBody();

  // A body that could not be read: the exchange answers it, then a lingering close.
  Error BodyFailed(Error err);

  // An error found by the transport (malformed request, limits, timeouts), before any exchange:
  // the OpenAI-shaped answer, then a lingering close.
  asio::awaitable<void> SendTransportError(const Error& err);

  // ---- ServerStream

  const http::Request& request() const override { return busy_->request; }
  const config::ListenerConfig& listener() const override { return listener_; }
  std::string_view client_address() const override { return client_ip_; }
  exchange::PeerGone& peer_gone() override { return busy_->peer_gone; }
  bool secure() const override { return !kPlain; }
  std::span<const std::string> peer_names() const override { return peer_names_; }

  void WriteHead(const http::ResponseHead& head) override;

  void WriteBody(std::string_view piece) override;

  void WriteEnd() override;

  void Discard() override;

  asio::awaitable<bool> Flush() override;

  asio::awaitable<void> Reset() override;

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

  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  bool read_pending_ = false;
  bool waiting_ = false;  // the pending operation is StartWait's (no buffer in use)
  error_code read_ec_;
  exchange::Deadline client_deadline_;
  int client_timeout_tag_ = 0;
  bool linger_ = false;

  // The current exchange's stream.
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
  std::unique_ptr<Busy> busy_;  // while a request is in flight (busy.h)
  bool closed_ = false;         // the loop closed the connection (or handed it to HTTP/2)
};

}  // namespace infergate::h1::detail
