// A mock connection's input (request head, body, read delay), response writing, streaming and
// endings. What each request is answered with is in session_handlers.cc.
#include "mock/session.h"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>

#include "infergate/core/http_status.h"

namespace infergate::mock {

namespace asio = boost::asio;

Session::Session(Shared& shared, tcp::socket socket)
    : shared_(shared), socket_(std::move(socket)), timer_(socket_.get_executor()) {
  in_.resize(kInitialBuffer);
}

Session::~Session() {
  EndRequest(false);
  if (state_ != State::kClosed) shared_.connections_open.fetch_sub(1);
}

// ---- Input.

// Keeps one read outstanding. The buffer is only compacted or grown here, when no read is
// pending, so a pending read's target never moves.
void Session::StartRead() {
  if (read_pending_ || eof_ || state_ == State::kClosed) return;
  if (pos_ == len_) {
    pos_ = len_ = 0;
  } else if (pos_ > 0 && in_.size() - len_ < kMinRead) {
    std::memmove(in_.data(), in_.data() + pos_, len_ - pos_);
    len_ -= pos_;
    pos_ = 0;
  }
  if (in_.size() - len_ < kMinRead) {
    if (in_.size() >= kMaxBuffer) return;
    in_.resize(in_.size() * 2);
  }
  read_pending_ = true;
  socket_.async_read_some(
      asio::buffer(in_.data() + len_, in_.size() - len_),
      [self = shared_from_this()](const error_code& ec, size_t n) { self->OnRead(ec, n); });
}

void Session::OnRead(const error_code& ec, size_t n) {
  read_pending_ = false;
  if (state_ == State::kClosed) return;
  if (ec) {
    eof_ = true;
  } else {
    len_ += n;
  }
  switch (state_) {
    case State::kHead:
    case State::kBody:
      Process();
      return;
    case State::kReadDelay:
      if (eof_) ClientGone();
      return;
    case State::kWaiting:
    case State::kHanging:
    case State::kStreaming:
      if (eof_) {
        ClientGone();
      } else {
        StartRead();
      }
      return;
    case State::kWriting:
      return;
    case State::kLingering:
      if (eof_) {
        CloseNow();
      } else {
        pos_ = len_;
        StartRead();
      }
      return;
    case State::kClosed:
      return;
  }
}

void Session::Process() {
  while (state_ == State::kHead || state_ == State::kBody) {
    if (state_ == State::kHead) {
      if (pos_ == len_) {
        if (eof_) {
          CloseNow();
        } else {
          StartRead();
        }
        return;
      }
      size_t consumed = 0;
      HeadStatus st = ParseRequestHead(std::string_view(in_.data() + pos_, len_ - pos_), kMaxHead,
                                       &head_, &consumed);
      if (st == HeadStatus::kIncomplete) {
        if (eof_) {
          CloseNow();
        } else {
          StartRead();
        }
        return;
      }
      if (st != HeadStatus::kDone) {
        ProtocolError(st == HeadStatus::kBad ? 400 : 431);
        return;
      }
      pos_ += consumed;
      BeginRequest();
      continue;
    }
    size_t consumed = 0;
    BodyDecoder::Status st = decoder_.Feed(in_.data() + pos_, len_ - pos_, &body_, &consumed);
    pos_ += consumed;
    if (st == BodyDecoder::Status::kError) {
      ProtocolError(400);
      return;
    }
    if (body_.size() > kMaxBody) {
      ProtocolError(413);
      return;
    }
    if (st == BodyDecoder::Status::kNeedMore) {
      if (eof_) {
        ClientGone();
      } else {
        StartRead();
      }
      return;
    }
    OnBodyComplete();
    return;
  }
}

void Session::BeginRequest() {
  in_request_ = true;
  keep_alive_ = head_.keep_alive;
  body_.clear();
  endpoint_ = Classify(head_.method, head_.Path());
  counted_ = !IsControlEndpoint(endpoint_);
  if (counted_) {
    shared_.requests.fetch_add(1, std::memory_order_relaxed);
    shared_.active_requests.fetch_add(1, std::memory_order_relaxed);
  }
  ReadControls();
  if (head_.has_content_length && head_.content_length > kMaxBody) {
    ProtocolError(413);
    return;
  }
  decoder_.Reset(head_.chunked, head_.content_length);
  if (head_.HasBody() && controls_.read_delay.count() > 0) {
    state_ = State::kReadDelay;
    read_delay_until_ = ReadDelayUntil(controls_, std::chrono::steady_clock::now());
    PollDuringReadDelay();
    return;
  }
  StartBody();
}

// x-mock-* headers steer completions only: control endpoints always get the defaults.
void Session::ReadControls() {
  controls_ = ParseControls(shared_.options(), counted_ ? std::span<const HeaderField>(head_.fields)
                                                        : std::span<const HeaderField>());
}

void Session::StartBody() {
  if (head_.expect_continue && head_.HasBody()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    error_code ec;
    asio::write(socket_, asio::buffer(kContinue.data(), kContinue.size()), ec);
    if (ec) {
      ClientGone();
      return;
    }
  }
  state_ = State::kBody;
}

// Nothing is read during the delay (so a large body backs up in TCP), but the socket is
// polled for a peer hang-up.
void Session::PollDuringReadDelay() {
  auto now = std::chrono::steady_clock::now();
  timer_.expires_at(NextReadDelayWake(now, read_delay_until_));
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec || self->state_ != State::kReadDelay) return;
    if (self->PeerHungUp()) {
      self->ClientGone();
    } else if (ReadDelayOver(std::chrono::steady_clock::now(), self->read_delay_until_)) {
      self->StartBody();
      self->Process();
    } else {
      self->PollDuringReadDelay();
    }
  });
}

bool Session::PeerHungUp() {
  pollfd p{};
  p.fd = socket_.native_handle();
  p.events = POLLIN | POLLRDHUP;
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// ---- Responses.

void Session::FormatResponse(int status, std::string_view content_type) {
  if (controls_.echo && counted_ && !resp_body_.empty() && resp_body_.back() == '}') {
    resp_body_.pop_back();
    resp_body_ += R"(,"echo":)";
    AppendRequestJson(resp_body_, head_, body_);
    resp_body_ += '}';
  }
  out_.clear();
  out_ += "HTTP/1.1 ";
  AppendInt(out_, status);
  out_ += ' ';
  out_ += ReasonPhrase(status);
  out_ += "\r\nContent-Type: ";
  out_ += content_type;
  out_ += "\r\nContent-Length: ";
  AppendInt(out_, static_cast<int64_t>(resp_body_.size()));
  out_ += "\r\n";
  out_ += shared_.server_header();
  if (!keep_alive_) {
    out_ += "Connection: close\r\n";
  } else if (head_.version_minor == 0) {
    out_ += "Connection: keep-alive\r\n";
  }
  out_ += "\r\n";
  if (head_.method != "HEAD") out_ += resp_body_;
}

void Session::Respond(int status, std::string_view content_type) {
  FormatResponse(status, content_type);
  WriteResponse();
}

void Session::RespondAfter(int status, std::string_view content_type, Duration delay) {
  FormatResponse(status, content_type);
  if (delay.count() <= 0) {
    WriteResponse();
    return;
  }
  Wait(delay);
}

// Waits before answering while watching the peer; then writes out_ or, for
// x-mock-close-after-tokens on a non-streaming request, drops the connection.
void Session::Wait(Duration delay) {
  state_ = State::kWaiting;
  if (!WatchPeer()) return;
  timer_.expires_after(delay);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec || self->state_ != State::kWaiting) return;
    if (self->abort_after_wait_) {
      self->AbortConnection();
    } else {
      self->WriteResponse();
    }
  });
}

// Keeps a read pending so a peer close is seen at once. False when the peer is already gone.
bool Session::WatchPeer() {
  if (eof_) {
    ClientGone();
    return false;
  }
  StartRead();
  return true;
}

void Session::WriteResponse() {
  state_ = State::kWriting;
  asio::async_write(
      socket_, asio::buffer(out_),
      [self = shared_from_this()](const error_code& ec, size_t) { self->OnResponseWritten(ec); });
}

void Session::OnResponseWritten(const error_code& ec) {
  if (state_ == State::kClosed) return;
  if (ec) {
    ClientGone();
    return;
  }
  EndRequest(true);
  if (!keep_alive_) {
    CloseGracefully();
    return;
  }
  state_ = State::kHead;
  Process();
}

// ---- Streaming.

void Session::StartStream() {
  streaming_ = true;
  shared_.active_streams.fetch_add(1, std::memory_order_relaxed);
  state_ = State::kStreaming;
  stream_start_ = std::chrono::steady_clock::now();
  stream_index_ = 0;
  stream_events_ = StreamEvents(controls_);
  if (!WatchPeer()) return;
  NextStreamStep();
}

void Session::NextStreamStep() {
  if (controls_.close_after > 0 && stream_index_ == controls_.close_after) {
    AbortConnection();
    return;
  }
  if (stream_index_ >= stream_events_) {
    WriteStreamTail();
    return;
  }
  SteadyTime due = StreamEventDueAt(controls_, stream_start_, stream_index_);
  if (due > std::chrono::steady_clock::now()) {
    timer_.expires_at(due);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->state_ != State::kStreaming) return;
      self->StreamEventDue();
    });
    return;
  }
  StreamEventDue();
}

void Session::StreamEventDue() {
  if (controls_.close_after == 0) {
    AbortConnection();
    return;
  }
  out_.clear();
  if (stream_index_ == 0) AppendStreamHead();
  resp_body_.clear();
  if (endpoint_ == Endpoint::kResponses) {
    AppendResponsesStreamEvent(resp_body_, responses_shape_, stream_index_);
  } else {
    AppendStreamEvent(resp_body_, shape_, stream_index_);
  }
  AppendChunk(out_, resp_body_);
  shared_.tokens_streamed.fetch_add(1);
  asio::async_write(socket_, asio::buffer(out_),
                    [self = shared_from_this()](const error_code& ec, size_t) {
                      if (self->state_ == State::kClosed) return;
                      if (ec) {
                        self->ClientGone();
                        return;
                      }
                      ++self->stream_index_;
                      self->NextStreamStep();
                    });
}

void Session::AppendStreamHead() {
  out_ +=
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\n";
  out_ += shared_.server_header();
  if (!keep_alive_) out_ += "Connection: close\r\n";
  out_ += "\r\n";
}

void Session::WriteStreamTail() {
  out_.clear();
  if (endpoint_ == Endpoint::kResponses) {  // response.completed ends it: no "[DONE]"
    resp_body_.clear();
    AppendResponsesStreamTail(resp_body_, responses_shape_);
    AppendChunk(out_, resp_body_);
    out_ += "0\r\n\r\n";
    WriteResponse();
    return;
  }
  if (request_.include_usage) {
    resp_body_.clear();
    AppendUsageEvent(resp_body_, shape_);
    AppendChunk(out_, resp_body_);
  }
  AppendChunk(out_, "data: [DONE]\n\n");
  out_ += "0\r\n\r\n";
  WriteResponse();
}

// ---- Endings.

void Session::EndRequest(bool completed) {
  if (!in_request_) return;
  in_request_ = false;
  abort_after_wait_ = false;
  if (counted_) {
    shared_.active_requests.fetch_sub(1, std::memory_order_relaxed);
    if (completed) shared_.completed.fetch_add(1, std::memory_order_relaxed);
  }
  if (streaming_) {
    streaming_ = false;
    shared_.active_streams.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Session::ClientGone() {
  if (in_request_ && counted_) shared_.client_disconnects.fetch_add(1);
  EndRequest(false);
  CloseNow();
}

void Session::AbortConnection() {
  EndRequest(false);
  CloseNow();
}

void Session::CloseNow() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  error_code ec;
  timer_.cancel();
  socket_.close(ec);
  shared_.connections_open.fetch_sub(1);
}

// After "Connection: close": send FIN, then drain until the peer closes (or a short time
// passes) so unread input does not turn the close into a reset.
void Session::CloseGracefully() {
  if (eof_) {
    CloseNow();
    return;
  }
  state_ = State::kLingering;
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    CloseNow();
    return;
  }
  if (!read_pending_) pos_ = len_;
  StartRead();
  timer_.expires_after(kLingerTime);
  timer_.async_wait([self = shared_from_this()](const error_code& wait_ec) {
    if (!wait_ec) self->CloseNow();
  });
}
}  // namespace infergate::mock
