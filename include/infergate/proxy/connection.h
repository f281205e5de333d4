// Serving client connections: HTTP/1.1 downstream, the exchange phases (decode, route, pick,
// forward, stream, finish) and the upstream HTTP/1.1 client.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "infergate/proxy/context.h"

namespace infergate::proxy {

// Takes ownership of an accepted socket and serves it on the worker's io_context until it
// closes. `listener` indexes ctx.snapshot->config->listeners.
void ServeConnection(WorkerContext& ctx, size_t listener, boost::asio::ip::tcp::socket socket);

}  // namespace infergate::proxy
