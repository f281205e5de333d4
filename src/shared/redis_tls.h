// The TLS transport of RedisClient: hiredis's standalone reply reader and command formatter
// over an asio::ssl::stream (OpenSSL through Boost.Asio), since Debian 12's hiredis 0.14 has no
// hiredis_ssl. It plays the part hiredis's async context plays for plain TCP: replies are handed
// to the client in order (RedisClient::OnReply), a subscriber's to RedisClient::OnMessage, and
// when the link goes every command still waiting gets a null reply before OnLinkGone.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infergate/core/clock.h"
#include "infergate/shared/redis_types.h"
#include "infergate/tls/client_context.h"

struct redisReader;

namespace infergate::shared {

class RedisClient;
struct ReplyBudget;

// One TLS connection to Redis. Executor thread only. Owned by the client (shared_ptr), kept
// alive by its outstanding reads and writes.
class RedisTlsLink : public std::enable_shared_from_this<RedisTlsLink> {
 public:
  RedisTlsLink(boost::asio::any_io_executor executor, RedisClient* client, ReplyBudget* budget);
  ~RedisTlsLink();
  RedisTlsLink(const RedisTlsLink&) = delete;
  RedisTlsLink& operator=(const RedisTlsLink&) = delete;

  // TCP connect and TLS handshake to `endpoint`, verifying `server_name` with `context`, cut at
  // `deadline`. Nullopt when open (then replies are read); else why not (kUnavailable, with
  // "TLS: certificate verify failed: ..." for a certificate the context refuses).
  boost::asio::awaitable<std::optional<RedisError>> Open(boost::asio::ip::tcp::endpoint endpoint,
                                                         const tls::ClientContext& context,
                                                         std::string server_name,
                                                         TimePoint deadline);

  // Formats and queues the command; its reply goes to OnReply with `privdata` (none when null).
  // False when closed.
  bool Send(int argc, const char** argv, const size_t* lengths, void* privdata);
  // Sends SUBSCRIBE `channel`: from then on every reply goes to OnMessage.
  bool Subscribe(const std::string& channel);
  // Bytes read and not yet parsed into a reply.
  size_t unparsed() const;
  bool open() const { return open_ && !closed_; }

  // Closes the connection. `error` non-empty: the connection failed (OnLinkGone reports it).
  void Close(const std::string& error = {});
  // The client is going: close without calling it again.
  void Detach();

 private:
  void Read();
  void Write();
  void Parse();

  using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::socket tcp_;
  tls::SessionSlot session_;  // must outlive the SSL in stream_
  std::optional<Stream> stream_;
  RedisClient* client_;
  redisReader* reader_;
  std::deque<void*> waiting_;  // privdata of the commands sent, in reply order
  bool subscribed_ = false;
  bool open_ = false;
  bool closed_ = false;
  bool writing_ = false;
  std::string out_;  // formatted commands not yet handed to a write
  std::string writing_buffer_;
  std::array<char, 16384> in_{};
};

}  // namespace infergate::shared
