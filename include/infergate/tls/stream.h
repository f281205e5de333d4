// TLS connections for the transports: an accepted socket's server handshake (bounded in time,
// failures counted by reason and never logged per connection), and the TLS byte stream the
// HTTP/2 connection runs over.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <memory>
#include <string>
#include <vector>

#include "infergate/http/byte_stream.h"

namespace infergate::tls {

using TlsSocket = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

// A TLS stream after its handshake as a byte stream (secure() is true), with the names of the
// client certificate the handshake verified.
std::unique_ptr<http::ByteStream> MakeTlsByteStream(TlsSocket stream,
                                                    std::vector<std::string> peer_names = {});

// The names a verified client certificate carries, for tenant identification: its subject's
// common names, then its subjectAltName DNS names, URIs and e-mail addresses, in that order;
// empty without a peer certificate. At most kMaxPeerNames names of at most kMaxPeerNameLength
// bytes each are kept (a longer name is skipped, not cut).
inline constexpr size_t kMaxPeerNames = 32;
inline constexpr size_t kMaxPeerNameLength = 255;
std::vector<std::string> PeerCertificateNames(const SSL* ssl);

}  // namespace infergate::tls
