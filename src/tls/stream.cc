// The TLS byte stream: Asio's SSL stream behind the ByteStream interface.
#include "infergate/tls/stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace infergate::tls {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

class TlsByteStream final : public http::ByteStream {
 public:
  explicit TlsByteStream(TlsSocket stream) : stream_(std::move(stream)) {
    error_code ec;
    auto remote = stream_.next_layer().remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string();
  }
  asio::any_io_executor executor() override { return stream_.get_executor(); }
  asio::awaitable<std::pair<error_code, size_t>> ReadSome(asio::mutable_buffer into) override {
    auto [ec, n] = co_await stream_.async_read_some(into, kNoThrow);
    co_return std::make_pair(ec, n);
  }
  asio::awaitable<error_code> Write(asio::const_buffer bytes) override {
    auto [ec, n] = co_await asio::async_write(stream_, bytes, kNoThrow);
    co_return ec;
  }
  void Close() override {
    error_code ignored;
    stream_.next_layer().close(ignored);
  }
  std::string RemoteAddress() const override { return remote_; }
  bool secure() const override { return true; }

 private:
  TlsSocket stream_;
  std::string remote_;
};

}  // namespace

std::unique_ptr<http::ByteStream> MakeTlsByteStream(TlsSocket stream) {
  return std::make_unique<TlsByteStream>(std::move(stream));
}

}  // namespace infergate::tls
