// The server-stream seam: one request and its response, between a transport (an HTTP/1.1
// connection, an HTTP/2 stream) and the exchange. The exchange receives the request's head, asks
// for its body when a phase needs it (ReceiveBody), and sends a head, body pieces and an end, or
// resets the stream; a per-exchange signal tells it that the peer went away. It never writes
// protocol bytes itself.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "infergate/config/config.h"
#include "infergate/core/error.h"
#include "infergate/http/message.h"

namespace infergate::exchange {

// Fired at most once, when the peer of a stream goes away (or the stream is torn down); the
// exchange subscribes to abort what it is doing (close the upstream, stop waiting).
class PeerGone {
 public:
  void Subscribe(std::function<void()> fn) { fn_ = std::move(fn); }
  void Unsubscribe() { fn_ = nullptr; }
  void Fire() {
    if (fired_) return;
    fired_ = true;
    if (fn_) fn_();
  }
  bool fired() const { return fired_; }
  void Reset() {
    fired_ = false;
    fn_ = nullptr;
  }

 private:
  std::function<void()> fn_;
  bool fired_ = false;
};

class ServerStream {
 public:
  virtual ~ServerStream() = default;

  // The request's head; request().body is complete only once ReceiveBody returned nullopt.
  virtual const http::Request& request() const = 0;
  // Receives the rest of the request (its body), at most once and before anything is written.
  // An exchange answered without calling it (a limit decided from the head) never makes the
  // transport buffer or parse the body; the transport then ends the request its own way
  // (HTTP/1.1 drops a small Content-Length body as it arrives, else closes the connection).
  // nullopt: request().body is complete. An error: it could not be received (kBodyTooLarge,
  // kRequestTimeout, kBadRequest; kClientAbort when the peer left), for the exchange to answer;
  // the stream is not reused. The default: a transport that hands over complete requests (HTTP/2
  // today).
  virtual boost::asio::awaitable<std::optional<Error>> ReceiveBody() { co_return std::nullopt; }
  virtual const config::ListenerConfig& listener() const = 0;
  virtual std::string_view client_address() const = 0;
  virtual PeerGone& peer_gone() = 0;
  virtual http::Protocol protocol() const { return http::Protocol::kHttp1; }
  // The client's connection is TLS (X-Forwarded-Proto: https). The transport says so, never the
  // request: an h2c client may claim any :scheme.
  virtual bool secure() const { return false; }
  // The subject and SAN names of the client certificate the TLS handshake verified (empty
  // without one): a source of tenant identification.
  virtual std::span<const std::string> peer_names() const { return {}; }

  // Buffered writes, framed by the transport; nothing is sent before Flush. WriteHead once.
  virtual void WriteHead(const http::ResponseHead& head) = 0;
  virtual void WriteBody(std::string_view piece) = 0;
  virtual void WriteEnd() = 0;  // the response is complete
  // Drops what is buffered and not flushed (a response head about to be retried).
  virtual void Discard() = 0;
  // Sends what is buffered. False when the peer is gone (or stopped reading for send_timeout):
  // nothing more can be sent, and peer_gone() has fired.
  virtual boost::asio::awaitable<bool> Flush() = 0;
  // Ends the response abnormally: what is buffered goes out without an end, then the stream is
  // cut (HTTP/1.1: no last chunk, connection closed), so no client takes it for complete.
  virtual boost::asio::awaitable<void> Reset() = 0;
};

}  // namespace infergate::exchange
