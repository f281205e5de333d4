// An Asio stream (a TCP socket, or an SSL stream over one) behind the ByteStream interface: the
// one implementation both the cleartext and the TLS transports use.
#pragma once

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <string>
#include <type_traits>
#include <utility>

#include "infergate/http/byte_stream.h"

namespace infergate::http {

template <typename Stream>
class AsioByteStream final : public ByteStream {
 public:
  static constexpr bool kPlain = std::is_same_v<Stream, boost::asio::ip::tcp::socket>;

  explicit AsioByteStream(Stream stream, std::vector<std::string> peer_names = {})
      : stream_(std::move(stream)), peer_names_(std::move(peer_names)) {
    boost::system::error_code ec;
    auto remote = Lowest().remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string();
  }
  boost::asio::any_io_executor executor() override { return stream_.get_executor(); }
  boost::asio::awaitable<std::pair<boost::system::error_code, size_t>> ReadSome(
      boost::asio::mutable_buffer into) override {
    auto [ec, n] =
        co_await stream_.async_read_some(into, boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return std::make_pair(ec, n);
  }
  boost::asio::awaitable<boost::system::error_code> Write(
      boost::asio::const_buffer bytes) override {
    auto [ec, n] = co_await boost::asio::async_write(
        stream_, bytes, boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return ec;
  }
  boost::asio::awaitable<void> Shutdown() override {
    if constexpr (!kPlain) {
      if (!Lowest().is_open()) co_return;
      SSL_set_shutdown(stream_.native_handle(), SSL_RECEIVED_SHUTDOWN);
      [[maybe_unused]] auto done =  // an error: the peer is gone, nothing to do
          co_await stream_.async_shutdown(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }
  void Close() override {
    boost::system::error_code ignored;
    Lowest().close(ignored);
  }
  std::string RemoteAddress() const override { return remote_; }
  bool secure() const override { return !kPlain; }
  std::span<const std::string> peer_names() const override { return peer_names_; }

 private:
  boost::asio::ip::tcp::socket& Lowest() {
    if constexpr (kPlain) {
      return stream_;
    } else {
      return stream_.next_layer();
    }
  }

  Stream stream_;
  std::string remote_;
  std::vector<std::string> peer_names_;
};

}  // namespace infergate::http
