// TLS connections for the transports: an accepted socket's server handshake (bounded in time,
// failures counted by reason and never logged per connection), and the TLS byte stream the
// HTTP/2 connection runs over.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <memory>

#include "infergate/http/byte_stream.h"

namespace infergate::tls {

using TlsSocket = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

// A TLS stream after its handshake as a byte stream (secure() is true).
std::unique_ptr<http::ByteStream> MakeTlsByteStream(TlsSocket stream);

}  // namespace infergate::tls
