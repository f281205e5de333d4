// The byte stream a transport's connection runs over: TCP today, TLS over TCP next, an in-memory
// pipe in unit tests. The protocol code above it (HTTP/2's connection) does not know which.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace infergate::http {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  virtual boost::asio::any_io_executor executor() = 0;
  // Reads at least one byte; an error at the end of the stream, on a reset or after Close().
  virtual boost::asio::awaitable<std::pair<boost::system::error_code, size_t>> ReadSome(
      boost::asio::mutable_buffer into) = 0;
  // Writes all of `bytes`, or fails.
  virtual boost::asio::awaitable<boost::system::error_code> Write(
      boost::asio::const_buffer bytes) = 0;
  // Closes the stream now; pending operations end with an error. Idempotent.
  virtual void Close() = 0;
  // Ends the stream cleanly before Close (TLS: sends close_notify, without waiting for the
  // peer's). Nothing for TCP.
  virtual boost::asio::awaitable<void> Shutdown() { co_return; }
  // The peer's address, for logs and X-Forwarded-For ("" when unknown).
  virtual std::string RemoteAddress() const = 0;
  // TLS (X-Forwarded-Proto: https).
  virtual bool secure() const { return false; }
  // The names of the client certificate the TLS handshake verified (empty without one).
  virtual std::span<const std::string> peer_names() const { return {}; }
};

// A connected TCP socket as a byte stream.
std::unique_ptr<ByteStream> MakeTcpByteStream(boost::asio::ip::tcp::socket socket);

}  // namespace infergate::http
