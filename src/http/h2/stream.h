// One HTTP/2 request stream (private to src/http/h2/): the server-stream seam for its exchange and
// the source of its response body, and what it needs from its connection.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infergate/exchange/context.h"
#include "infergate/exchange/exchange.h"
#include "infergate/http/h2/session.h"

namespace infergate::h2 {

namespace asio = boost::asio;

// Whether a warning of one kind is due: at most one per 10 s per worker (`last`: thread_local).
inline bool WarnDue(TimePoint& last) {
  const TimePoint now = std::chrono::steady_clock::now();
  if (last != TimePoint{} && now - last < std::chrono::seconds(10)) return false;
  last = now;
  return true;
}

// What a stream uses of the connection that carries it.
class StreamHost {
 public:
  virtual ~StreamHost() = default;
  virtual ServerSession& session() = 0;
  virtual const config::ListenerConfig& listener() const = 0;
  virtual std::string_view client_ip() const = 0;
  virtual asio::any_io_executor executor() const = 0;
  virtual exchange::WorkerContext& ctx() = 0;
  virtual const exchange::Snapshot& snapshot() const = 0;
  virtual void Kick() = 0;          // frames may be ready: wake the write loop
  virtual bool secure() const = 0;  // the connection is TLS
  virtual std::span<const std::string> peer_names() const = 0;  // its client certificate's
  virtual void CountReset(exchange::H2ResetCause cause) = 0;
};

// One request stream: the server-stream seam for its exchange and the source of its response
// body. Lives until both its exchange is done and the codec closed the stream.
class Stream final : public exchange::ServerStream, public ResponseSource {
 public:
  Stream(StreamHost& conn, std::unique_ptr<StreamRequest> req);
  // Serves another request with the same object: its exchange, timers and buffers are reused.
  void Reuse(std::unique_ptr<StreamRequest> req);
  // The request, given back when the stream is retired.
  std::unique_ptr<StreamRequest> TakeRequest() { return std::move(req_); }

  int32_t id() const { return req_->stream_id; }
  const StreamRequest& stream_request() const { return *req_; }
  exchange::Exchange& exchange() { return exchange_; }
  bool closed() const { return closed_; }
  bool finished() const { return complete_ || reset_sent_; }
  bool exchange_done = false;

  // The codec closed the stream (`by_client`: RST_STREAM from the client).
  void OnClosed(bool by_client);
  // Answers a request the codec refused (431, 413, 408, 400) as HTTP/1.1 would.
  asio::awaitable<void> AnswerError();

  // ServerStream
  const http::Request& request() const override { return req_->request; }
  const config::ListenerConfig& listener() const override;
  std::string_view client_address() const override;
  exchange::PeerGone& peer_gone() override { return peer_gone_; }
  http::Protocol protocol() const override { return http::Protocol::kH2; }
  bool secure() const override { return conn_.secure(); }
  std::span<const std::string> peer_names() const override { return conn_.peer_names(); }
  void WriteHead(const http::ResponseHead& head) override;
  void WriteBody(std::string_view piece) override {
    if (!no_body_) pending_.append(piece);
  }
  void WriteEnd() override { end_ = true; }
  void Discard() override;
  asio::awaitable<bool> Flush() override;
  asio::awaitable<void> Reset() override;

  // ResponseSource
  size_t Pull(uint8_t* buf, size_t len, bool* eof) override;

 private:
  bool Waiting() const { return has_source_ && (!pending_.empty() || (end_ && !complete_)); }
  void Submit();
  void OnSendTimeout();

  StreamHost& conn_;
  std::unique_ptr<StreamRequest> req_;
  exchange::PeerGone peer_gone_;
  exchange::Wake drained_;
  exchange::Deadline send_deadline_;
  // The head as written, owned (the exchange's views end with its call).
  int status_ = 200;
  std::string head_fields_;
  std::vector<uint32_t> head_offsets_;
  std::optional<uint64_t> content_length_;
  bool has_body_ = true;
  bool head_set_ = false;
  bool submitted_ = false;
  bool has_source_ = false;
  bool no_body_ = false;
  std::string pending_;  // body bytes not yet pulled into frames
  size_t pulled_ = 0;    // of pending_
  bool end_ = false;
  bool complete_ = false;  // the whole response went to the codec (END_STREAM)
  bool reset_sent_ = false;
  bool closed_ = false;
  exchange::Exchange exchange_;
};

}  // namespace infergate::h2
