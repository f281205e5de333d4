// The HTTP/2 transport, server side: one client connection multiplexing request streams, each
// served by its own exchange through the server-stream seam. The connection runs over a byte
// stream (TCP for h2c; TLS plugs in beneath the same code).
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <string_view>

#include "infergate/config/config.h"
#include "infergate/exchange/context.h"
#include "infergate/http/byte_stream.h"
#include "infergate/http/h2/session.h"

namespace infergate::h2 {

// The codec settings of a listener: its request limits, timeouts and http2 keys.
SessionConfig MakeSessionConfig(const config::ListenerConfig& listener);

// Serves an HTTP/2 connection on `socket`, whose first bytes (`initial`: the client preface, and
// whatever followed it) were already read. Takes over the slot the connection holds in the
// listener's max_connections. `listener` indexes the listeners of ctx.snapshot's config.
void ServeConnection(exchange::WorkerContext& ctx, size_t listener,
                     boost::asio::ip::tcp::socket socket, std::string_view initial);
// The same over any byte stream (TLS, or an in-memory pipe in tests).
void ServeConnection(exchange::WorkerContext& ctx, size_t listener,
                     std::unique_ptr<http::ByteStream> io, std::string_view initial);

}  // namespace infergate::h2
