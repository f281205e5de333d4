// The HTTP/1.1 transport: the server side (a client connection serving one exchange at a time
// through the server-stream seam: keep-alive, pipelining limits, 100-continue, chunked or
// length framing, an abnormal end for a cut stream) and the client side (the upstream-stream
// seam over a backend connection and the pool's keep-alive connections).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <memory>
#include <string>
#include <vector>

#include "infergate/exchange/context.h"
#include "infergate/exchange/upstream_stream.h"

namespace infergate::h1 {

// Takes ownership of an accepted socket, and of the slot it took in the listener's
// ctx.listeners[listener]->slots, and serves it on the worker's io_context until it closes.
// `listener` indexes the listeners of ctx.snapshot's config.
void ServeConnection(exchange::WorkerContext& ctx, size_t listener,
                     boost::asio::ip::tcp::socket socket);

// The same after a TLS handshake that chose HTTP/1.1 (by ALPN, or without it): requests are
// https (their scheme, X-Forwarded-Proto). `peer_names`: the verified client certificate's
// names (tls::PeerCertificateNames), for tenant identification.
void ServeTlsConnection(exchange::WorkerContext& ctx, size_t listener,
                        boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream,
                        std::vector<std::string> peer_names = {});

// A new connection on `listener`: takes a slot under its max_connections, closing this worker's
// oldest idle keep-alive connection (else its oldest unfinished request head) to make room when
// at the cap. False: no room (counted); the caller closes the socket.
bool TakeConnectionSlot(exchange::WorkerContext& ctx, size_t listener);

// Upstream streams over HTTP/1.1 connections to a pool's backends, reusing the pool's idle
// keep-alive connections. One per worker.
std::unique_ptr<exchange::UpstreamConnector> MakeUpstreamConnector(boost::asio::any_io_executor ex);

}  // namespace infergate::h1
