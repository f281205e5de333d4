// The TLS byte stream: Asio's SSL stream behind the ByteStream interface.
#include "infergate/tls/stream.h"

#include "infergate/http/asio_byte_stream.h"

namespace infergate::tls {

std::unique_ptr<http::ByteStream> MakeTlsByteStream(TlsSocket stream) {
  return std::make_unique<http::AsioByteStream<TlsSocket>>(std::move(stream));
}

}  // namespace infergate::tls
