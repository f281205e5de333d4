// The upstream-stream seam: send a request to one backend, get its response head, then body
// pieces. The HTTP/1.1 client and its keep-alive pool sit behind it; tests put a
// fault-injecting fake there.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string_view>

#include "infergate/core/error.h"
#include "infergate/http/message.h"

namespace infergate::upstream {
class PoolRuntime;
}

namespace infergate::exchange {

// What the exchange asks a backend for.
struct UpstreamRequest {
  const http::Request* request = nullptr;
  http::ForwardContext forward;
};

// Where a backend's response goes, as it is decoded. Views are valid only during the call.
class ResponseEvents {
 public:
  virtual ~ResponseEvents() = default;
  virtual void OnHead(const http::ResponseHead& head) = 0;  // final heads only (1xx skipped)
  virtual void OnBody(std::string_view piece) = 0;
};

// One request to one backend. Errors are values (kConnectFailed, kUpstreamReset,
// kBadUpstreamResponse, kUpstreamBodyBroken); a stream that was Abort()ed fails its pending
// operation at once.
class UpstreamStream {
 public:
  virtual ~UpstreamStream() = default;
  // A kept-alive connection was taken from the pool (Connect is then immediate).
  virtual bool reused() const = 0;
  virtual boost::asio::awaitable<std::optional<Error>> Connect() = 0;
  // Sends the request and reads until a final response head was delivered to `events` (with
  // any body bytes that came with it).
  virtual boost::asio::awaitable<std::optional<Error>> Send(const UpstreamRequest& req,
                                                            ResponseEvents& events) = 0;
  // Reads once more; body pieces go to `events`.
  virtual boost::asio::awaitable<std::optional<Error>> Read(ResponseEvents& events) = 0;
  virtual bool complete() const = 0;  // the whole response was delivered
  // Closes the connection now; a pending operation fails.
  virtual void Abort() = 0;
  // After a complete response: keeps the connection for another request when it can carry one.
  virtual void Finish() = 0;
};

// Opens streams to a pool's backends.
class UpstreamConnector {
 public:
  virtual ~UpstreamConnector() = default;
  virtual std::unique_ptr<UpstreamStream> Open(upstream::PoolRuntime& pool, size_t backend) = 0;
  // Takes back a stream that is done (after Finish, Abort, or a failure): its connection is
  // closed unless Finish kept it, and the object may be reused by a later Open.
  virtual void Recycle(std::unique_ptr<UpstreamStream> stream) { stream.reset(); }
};

}  // namespace infergate::exchange
