// What an HTTP/1.1 client connection holds only while it serves a request: the read buffer, the
// request decoder, the request, the response's output buffer, the peer-gone signal and the
// exchange. An idle cleartext keep-alive connection holds none of it (only its socket, a small
// header, a pending wait for readability and its keep-alive alarm): it takes a Busy from its
// worker's free list when bytes arrive and gives it back when the response is sent and nothing
// more is buffered, so 10,000 idle clients cost 10,000 small headers, not 10,000 exchanges.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>
#include <vector>

#include "infergate/exchange/context.h"
#include "infergate/exchange/exchange.h"
#include "infergate/http/h1_codec.h"
#include "infergate/http/message.h"

namespace infergate::h1 {

struct Busy {
  Busy(exchange::WorkerContext& ctx, const boost::asio::any_io_executor& ex);

  std::vector<char> in;  // the client's bytes (the connection keeps the offsets into it)
  http::RequestDecoder decoder;
  // Wakes the connection's coroutine when its one client read completes (the read is shared by
  // request decoding and disconnect watching, so it runs on a callback, not in the coroutine).
  boost::asio::steady_timer read_event;
  http::Request request;
  exchange::PeerGone peer_gone;
  std::string out;  // the response bytes not yet written
  exchange::Exchange exchange;
};

// One worker's spare Busy objects (ctx.h1_spares). At most kMaxSpare are kept: a burst of
// concurrent requests leaves no more than that behind once it is over.
class BusyPool final : public exchange::TransportSpares {
 public:
  static constexpr size_t kMaxSpare = 256;
  // A spare, or a new one; its decoder takes the listener's limits.
  // All of a worker's connections share `ex`, its io_context's executor.
  static std::unique_ptr<Busy> Take(exchange::WorkerContext& ctx,
                                    const boost::asio::any_io_executor& ex,
                                    const http::RequestLimits& limits);
  // Back to the free list (large buffers released first); deleted when the list is full or the
  // worker is shutting down (ctx.h1_spares already gone). Only between requests: nothing of
  // the exchange may still be running.
  static void Give(exchange::WorkerContext& ctx, std::unique_ptr<Busy> busy);

 private:
  std::vector<std::unique_ptr<Busy>> free_;
};

}  // namespace infergate::h1
