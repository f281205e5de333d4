// A TCP socket behind the ByteStream interface.
#include "infergate/http/byte_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace infergate::http {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

class TcpByteStream final : public ByteStream {
 public:
  explicit TcpByteStream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
    error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string();
  }
  asio::any_io_executor executor() override { return socket_.get_executor(); }
  asio::awaitable<std::pair<error_code, size_t>> ReadSome(asio::mutable_buffer into) override {
    auto [ec, n] = co_await socket_.async_read_some(into, kNoThrow);
    co_return std::make_pair(ec, n);
  }
  asio::awaitable<error_code> Write(asio::const_buffer bytes) override {
    auto [ec, n] = co_await asio::async_write(socket_, bytes, kNoThrow);
    co_return ec;
  }
  void Close() override {
    error_code ignored;
    socket_.close(ignored);
  }
  std::string RemoteAddress() const override { return remote_; }

 private:
  asio::ip::tcp::socket socket_;
  std::string remote_;
};

}  // namespace

std::unique_ptr<ByteStream> MakeTcpByteStream(asio::ip::tcp::socket socket) {
  return std::make_unique<TcpByteStream>(std::move(socket));
}

}  // namespace infergate::http
