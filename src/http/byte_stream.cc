// A TCP socket behind the ByteStream interface.
#include "infergate/http/byte_stream.h"

#include "infergate/http/asio_byte_stream.h"

namespace infergate::http {

std::unique_ptr<ByteStream> MakeTcpByteStream(boost::asio::ip::tcp::socket socket) {
  return std::make_unique<AsioByteStream<boost::asio::ip::tcp::socket>>(std::move(socket));
}

}  // namespace infergate::http
