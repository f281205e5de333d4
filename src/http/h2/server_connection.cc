// The server side of the HTTP/2 transport: one client connection. A read loop feeds the codec;
// each complete request becomes a stream with its own exchange (its own cancellation, its own
// flow control); a write loop sends what the codec frames, pulling each stream's body only as the
// client's windows and the socket allow, so a slow reader stalls its own stream (and, through
// Flush, that stream's upstream read) and nothing else. Runs on its worker's io_context.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <nghttp2/nghttp2.h>

#include <cstring>
#include <unordered_map>

#include "http/h2/stream.h"
#include "infergate/core/log.h"
#include "infergate/exchange/exchange.h"
#include "infergate/http/byte_stream.h"
#include "infergate/http/h2/transport.h"

namespace infergate::h2 {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr size_t kReadBufferInitial = 2 * 1024;
constexpr size_t kReadBuffer = 16 * 1024;
// Frames are pulled from the codec until this much is ready to write, then written: the bound
// on what a connection holds in flight to a slow socket.
constexpr size_t kWriteHighWater = 64 * 1024;
// Retired streams kept per connection for reuse (an exchange, its timers and buffers each).
constexpr size_t kSpareStreams = 16;

enum ConnTag { kTagFirst = 1, kTagIdle };

// The exchange's clock as the codec's.
class TimersClock final : public Clock {
 public:
  explicit TimersClock(exchange::Timers& t) : t_(t) {}
  TimePoint Now() const override { return t_.Now(); }

 private:
  exchange::Timers& t_;
};

class Connection final : public std::enable_shared_from_this<Connection>,
                         public StreamHost,
                         public exchange::Sheddable,
                         public exchange::Drainable,
                         private SessionEvents {
 public:
  Connection(exchange::WorkerContext& ctx, size_t listener, std::unique_ptr<http::ByteStream> io)
      : ctx_(ctx),
        snapshot_(ctx.snapshot),
        listener_index_(listener),
        listener_(snapshot_->listener(listener)),
        io_(std::move(io)),
        ex_(io_->executor()),
        client_ip_(io_->RemoteAddress()),
        clock_(*ctx.timers),
        write_wake_(ex_),
        conn_deadline_(*ctx.timers, ex_, [this](int tag) { OnIdle(tag); }),
        session_deadline_(*ctx.timers, ex_, [this](int) { OnStreamDeadline(); }),
        write_deadline_(*ctx.timers, ex_, [this](int) { OnWriteTimeout(); }),
        session_(std::make_unique<ServerSession>(MakeSessionConfig(listener_), clock_,
                                                 static_cast<SessionEvents&>(*this))) {
    const auto& m = snapshot_->metrics;
    ++ctx_.active_connections;
    m.open_connections->Add(1);
    m.protocol_connections[static_cast<size_t>(http::Protocol::kH2)]->Inc();
    m.protocol_open[static_cast<size_t>(http::Protocol::kH2)]->Add(1);
    ctx_.drainables.insert(this);
  }

  ~Connection() override {
    ctx_.drainables.erase(this);
    if (slot_held_) ctx_.listeners[listener_index_]->slots.Give();
    --ctx_.active_connections;
    const auto& m = snapshot_->metrics;
    m.open_connections->Add(-1);
    m.protocol_open[static_cast<size_t>(http::Protocol::kH2)]->Add(-1);
  }

  void Start(std::string_view initial) {
    if (ctx_.draining) session_->Shutdown();  // handed over while the worker drains
    asio::co_spawn(ex_, ReadLoop(shared_from_this(), std::string(initial)), asio::detached);
    asio::co_spawn(ex_, WriteLoop(shared_from_this()), asio::detached);
  }

  ServerSession& session() override { return *session_; }
  const config::ListenerConfig& listener() const override { return listener_; }
  std::string_view client_ip() const override { return client_ip_; }
  asio::any_io_executor executor() const override { return ex_; }
  exchange::WorkerContext& ctx() override { return ctx_; }
  const exchange::Snapshot& snapshot() const override { return *snapshot_; }
  void Kick() override { write_wake_.Fire(); }
  bool secure() const override { return io_->secure(); }
  std::span<const std::string> peer_names() const override { return io_->peer_names(); }
  void CountReset(exchange::H2ResetCause cause) override {
    snapshot_->metrics.h2_resets[static_cast<size_t>(cause)]->Inc();
  }

  // Sheddable: closed to make room for a new connection (idle, or before its first request).
  void Shed() override {
    if (slot_held_) {
      slot_held_ = false;
      ctx_.listeners[listener_index_]->slots.Give();
    }
    Teardown();
  }

  // Drainable: GOAWAY now; streams in flight finish, new ones are refused.
  void BeginDrain() override {
    session_->Shutdown();
    Kick();
  }
  size_t listener_slot() const override { return listener_index_; }

  static asio::awaitable<void> RunStream(std::shared_ptr<Connection> self,
                                         std::shared_ptr<Stream> s) {
    if (s->stream_request().error) {
      co_await s->AnswerError();
    } else {
      co_await s->exchange().Run(*s);
    }
    self->ExchangeDone(*s);
  }

 private:
  // ---- SessionEvents

  void OnRequest(std::unique_ptr<StreamRequest> req) override {
    first_ = false;
    std::shared_ptr<Stream> s;
    if (!spare_.empty()) {
      s = std::move(spare_.back());
      spare_.pop_back();
      s->Reuse(std::move(req));
    } else {
      s = std::make_shared<Stream>(*this, std::move(req));
    }
    streams_[s->id()] = s;
    ++running_;
    UpdateIdle();
    asio::co_spawn(ex_, RunStream(shared_from_this(), std::move(s)), asio::detached);
  }

  void OnStreamClosed(int32_t id, uint32_t error_code, bool by_client) override {
    // The last stream may close after its exchange ended (its RST_STREAM or END_STREAM went out
    // in the write loop): the connection may be idle now, and keepalive_timeout must run.
    auto it = streams_.find(id);
    if (it == streams_.end()) {
      UpdateIdle();
      return;
    }
    std::shared_ptr<Stream> s = it->second;
    (void)error_code;
    s->OnClosed(by_client);
    if (s->exchange_done) Retire(it);
    UpdateIdle();
  }

  void OnFlood(Flood kind) override {
    snapshot_->metrics.h2_floods[static_cast<size_t>(kind)]->Inc();
    thread_local TimePoint last_warn{};
    if (WarnDue(last_warn)) {
      IG_WARN(
          "h2 client %s: %s flood (over listener %s http2 limits); GOAWAY and closing "
          "(logged once per 10s)",
          client_ip_.c_str(), std::string(FloodName(kind)).c_str(), listener_.name.c_str());
    }
  }

  // ---- loops

  static asio::awaitable<void> ReadLoop(std::shared_ptr<Connection> self, std::string initial) {
    co_await self->Read(std::move(initial));
  }
  static asio::awaitable<void> WriteLoop(std::shared_ptr<Connection> self) {
    co_await self->Write();
  }

  asio::awaitable<void> Read(std::string initial) {
    UpdateIdle();
    bool reading = Feed(initial);
    // Small while the client sends little (an idle or slowloris connection costs little),
    // grown when a read fills it.
    std::vector<char> in(kReadBufferInitial);
    while (reading && !torn_down_) {
      auto [ec, n] = co_await io_->ReadSome(asio::buffer(in));
      if (ec) {
        Teardown();  // the client is gone: every stream's exchange aborts
        co_return;
      }
      reading = Feed(std::string_view(in.data(), n));
      if (n == in.size() && in.size() < kReadBuffer) in.resize(in.size() * 2);
    }
  }

  // Feeds the codec and reacts: false when nothing more is read.
  bool Feed(std::string_view bytes) {
    const bool more = session_->Feed(bytes);
    ReportStats();
    if (!session_->Alive()) AbortStreams();  // protocol error or flood: GOAWAY is queued
    ArmStreamDeadline();
    UpdateIdle();
    Kick();
    return more;
  }

  asio::awaitable<void> Write() {
    std::string out;
    bool ended = false;  // the session ended cleanly (everything sent)
    while (!torn_down_) {
      out.clear();
      session_->Drain(out, kWriteHighWater);
      ReportStats();
      if (out.empty()) {
        if (!session_->Alive()) {  // GOAWAY both ways (or sent on an error) and no stream
          ended = true;
          break;
        }
        if (out.capacity() > kReadBuffer) std::string().swap(out);  // idle: give a burst back
        co_await write_wake_.Wait();
        continue;
      }
      write_deadline_.Set(listener_.send_timeout, 1);
      const error_code ec = co_await io_->Write(asio::buffer(out));
      write_deadline_.Clear();
      if (ec) break;
    }
    if (ended && !torn_down_) {
      // TLS: close_notify, so the client keeps its session (bounded like any write).
      write_deadline_.Set(listener_.send_timeout, 1);
      co_await io_->Shutdown();
      write_deadline_.Clear();
    }
    Teardown();
  }

  // ---- timers and state

  void UpdateIdle() {
    if (torn_down_) return;
    const bool idle = running_ == 0 && session_->open_streams() == 0;
    if (!idle) {
      if (slot_held_) ctx_.sheddable[listener_index_].Enter(*this, exchange::ConnState::kBusy);
      conn_deadline_.Clear();
      idle_armed_ = false;
      return;
    }
    if (idle_armed_) return;
    idle_armed_ = true;
    // Before the first request: header_timeout from accept; after: keepalive_timeout.
    if (slot_held_) {
      ctx_.sheddable[listener_index_].Enter(
          *this, first_ ? exchange::ConnState::kHead : exchange::ConnState::kIdle);
    }
    conn_deadline_.Set(first_ ? listener_.header_timeout : listener_.keepalive_timeout,
                       first_ ? kTagFirst : kTagIdle);
  }

  void OnIdle(int) {
    if (torn_down_ || running_ != 0 || session_->open_streams() != 0) return;
    session_->Shutdown();  // GOAWAY(NO_ERROR); the write loop closes once it is sent
    Kick();
  }

  void ArmStreamDeadline() {
    const TimePoint next = session_->NextDeadline();
    if (next == TimePoint::max()) {
      session_deadline_.Clear();
      return;
    }
    const TimePoint now = ctx_.timers->Now();
    session_deadline_.Set(next > now ? next - now : Duration::zero(), 1);
  }

  void OnStreamDeadline() {
    if (torn_down_) return;
    if (!session_->Expire()) AbortStreams();  // a header block left unfinished: GOAWAY
    ArmStreamDeadline();
    UpdateIdle();
    Kick();
  }

  void OnWriteTimeout() {
    IG_WARN("h2 client %s stopped reading for %s; closing", client_ip_.c_str(),
            FormatDuration(listener_.send_timeout).c_str());
    Teardown();
  }

  void ExchangeDone(Stream& s) {
    s.exchange_done = true;
    --running_;
    if (!s.closed() && !s.finished() && !torn_down_) {
      // The exchange ended without a complete response (aborted): no client may take what it
      // got for a whole answer.
      session_->Reset(s.id(), NGHTTP2_CANCEL);
    }
    if (s.closed()) {
      if (auto it = streams_.find(s.id()); it != streams_.end()) Retire(it);
    }
    UpdateIdle();
    Kick();
  }

  // A stream both closed and done leaves the map; its object waits for the next request.
  void Retire(std::unordered_map<int32_t, std::shared_ptr<Stream>>::iterator it) {
    std::shared_ptr<Stream> s = std::move(it->second);
    streams_.erase(it);
    if (torn_down_ || spare_.size() >= kSpareStreams) return;
    session_->Recycle(s->TakeRequest());
    spare_.push_back(std::move(s));
  }

  void AbortStreams() {
    const std::vector<std::shared_ptr<Stream>> open = [this] {
      std::vector<std::shared_ptr<Stream>> v;
      for (auto& [id, s] : streams_) v.push_back(s);
      return v;
    }();
    for (const auto& s : open) {
      s->OnClosed(false);
      if (s->exchange_done) streams_.erase(s->id());
    }
  }

  void Teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    ReportStats();
    io_->Close();
    conn_deadline_.Cancel();
    session_deadline_.Cancel();
    write_deadline_.Cancel();
    AbortStreams();
    Kick();
    if (is_linked()) unlink();
  }

  void ReportStats() {
    const SessionStats& st = session_->stats();
    const auto& m = snapshot_->metrics;
    if (st.streams > reported_.streams) m.h2_streams->Inc(st.streams - reported_.streams);
    auto resets = [&m](exchange::H2ResetCause cause, uint64_t now, uint64_t before) {
      if (now > before) m.h2_resets[static_cast<size_t>(cause)]->Inc(now - before);
    };
    // Every RST_STREAM from the client, also for streams it opened and reset in one read (they
    // never reach an exchange).
    resets(exchange::H2ResetCause::kClient, st.client_resets, reported_.client_resets);
    resets(exchange::H2ResetCause::kProtocol, st.protocol_resets, reported_.protocol_resets);
    resets(exchange::H2ResetCause::kRefused, st.refused, reported_.refused);
    thread_local TimePoint last_refused{}, last_malformed{};
    if (st.refused > reported_.refused && WarnDue(last_refused)) {
      IG_WARN(
          "h2 client %s: streams over max_concurrent_streams (%u, listener %s) refused "
          "(logged once per 10s)",
          client_ip_.c_str(), listener_.http2.max_concurrent_streams, listener_.name.c_str());
    }
    if (st.protocol_resets > reported_.protocol_resets && WarnDue(last_malformed)) {
      IG_WARN("h2 client %s: malformed stream reset with PROTOCOL_ERROR (logged once per 10s)",
              client_ip_.c_str());
    }
    reported_ = st;
  }

  exchange::WorkerContext& ctx_;
  std::shared_ptr<const exchange::Snapshot> snapshot_;
  const size_t listener_index_;
  const config::ListenerConfig& listener_;
  std::unique_ptr<http::ByteStream> io_;
  asio::any_io_executor ex_;
  std::string client_ip_;
  TimersClock clock_;
  exchange::Wake write_wake_;
  exchange::Deadline conn_deadline_;
  exchange::Deadline session_deadline_;
  exchange::Deadline write_deadline_;
  bool slot_held_ = true;
  bool first_ = true;
  bool idle_armed_ = false;
  bool torn_down_ = false;
  size_t running_ = 0;
  SessionStats reported_;  // what ReportStats already counted
  // Declared before the codec, so the codec goes first when the connection is destroyed.
  std::unordered_map<int32_t, std::shared_ptr<Stream>> streams_;
  std::vector<std::shared_ptr<Stream>> spare_;  // retired streams, reused by later requests
  std::unique_ptr<ServerSession> session_;
};

}  // namespace

SessionConfig MakeSessionConfig(const config::ListenerConfig& l) {
  SessionConfig c;
  c.max_concurrent_streams = l.http2.max_concurrent_streams;
  c.initial_stream_window = l.http2.initial_stream_window;
  c.initial_connection_window = l.http2.initial_connection_window;
  c.max_header_bytes = l.max_request_header_bytes;
  c.max_headers = l.max_request_headers;
  c.max_body_bytes = l.max_request_body_bytes;
  c.max_connection_body_bytes = l.http2.max_connection_body_bytes;
  c.header_timeout = l.header_timeout;
  c.body_timeout = l.body_timeout;
  c.flood_interval = l.http2.flood_interval;
  c.max_resets = l.http2.max_resets_per_interval;
  c.max_pings = l.http2.max_pings_per_interval;
  c.max_settings = l.http2.max_settings_per_interval;
  c.max_priority = l.http2.max_priority_per_interval;
  c.max_window_updates = l.http2.max_window_updates_per_interval;
  c.max_empty_frames = l.http2.max_empty_frames_per_interval;
  return c;
}

void ServeConnection(exchange::WorkerContext& ctx, size_t listener,
                     std::unique_ptr<http::ByteStream> io, std::string_view initial) {
  std::make_shared<Connection>(ctx, listener, std::move(io))->Start(initial);
}

void ServeConnection(exchange::WorkerContext& ctx, size_t listener, tcp::socket socket,
                     std::string_view initial) {
  ServeConnection(ctx, listener, http::MakeTcpByteStream(std::move(socket)), initial);
}

}  // namespace infergate::h2
