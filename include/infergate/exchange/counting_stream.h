// A server stream in front of the transport's that counts the response body bytes the exchange
// gives it (relayed from a backend or written by the gateway: errors, fallback answers), less
// what it discards before a flush, for the access log. Every head passes through it, so it is
// also the one place the listener's CORS headers are added to every answer.
#pragma once

#include <cstdint>
#include <vector>

#include "infergate/exchange/server_stream.h"

namespace infergate::exchange {

class CountingServerStream final : public ServerStream {
 public:
  // Passes everything to `inner` from now on, counting from zero.
  void Wrap(ServerStream& inner) {
    inner_ = &inner;
    flushed_ = pending_ = 0;
    cors_active_ = false;
    cors_.clear();
  }
  // A CORS listener's policy from now on: every head loses its own access-control-* fields (a
  // backend's) and gets `fields` (none for a request without an allowed Origin). Until called
  // (after each Wrap), heads pass unchanged. The views must stay valid until the next Wrap.
  void SetCors(std::vector<HeaderField> fields) {
    cors_active_ = true;
    cors_ = std::move(fields);
  }
  // Body bytes handed on and not discarded.
  uint64_t bytes() const { return flushed_ + pending_; }

  const http::Request& request() const override { return inner_->request(); }
  const config::ListenerConfig& listener() const override { return inner_->listener(); }
  std::string_view client_address() const override { return inner_->client_address(); }
  PeerGone& peer_gone() override { return inner_->peer_gone(); }
  http::Protocol protocol() const override { return inner_->protocol(); }
  bool secure() const override { return inner_->secure(); }
  std::span<const std::string> peer_names() const override { return inner_->peer_names(); }
  boost::asio::awaitable<std::optional<Error>> ReceiveBody() override {
    return inner_->ReceiveBody();
  }

  void WriteHead(const http::ResponseHead& head) override {
    if (!cors_active_) return inner_->WriteHead(head);
    http::ResponseHead with = head;
    std::erase_if(with.headers, [](const HeaderField& f) {
      constexpr std::string_view kPrefix = "access-control-";
      return f.name.size() >= kPrefix.size() && IEquals(f.name.substr(0, kPrefix.size()), kPrefix);
    });
    with.headers.insert(with.headers.end(), cors_.begin(), cors_.end());
    inner_->WriteHead(with);
  }
  void WriteBody(std::string_view piece) override {
    pending_ += piece.size();
    inner_->WriteBody(piece);
  }
  void WriteEnd() override { inner_->WriteEnd(); }
  void Discard() override {
    pending_ = 0;
    inner_->Discard();
  }
  boost::asio::awaitable<bool> Flush() override {
    flushed_ += pending_;
    pending_ = 0;
    return inner_->Flush();
  }
  boost::asio::awaitable<void> Reset() override {
    flushed_ += pending_;  // what is buffered goes out before the cut
    pending_ = 0;
    return inner_->Reset();
  }

 private:
  ServerStream* inner_ = nullptr;
  bool cors_active_ = false;
  std::vector<HeaderField> cors_;
  uint64_t flushed_ = 0;
  uint64_t pending_ = 0;
};

}  // namespace infergate::exchange
