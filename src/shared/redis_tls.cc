// RedisTlsLink: hiredis's reader and formatter over a TLS stream (see redis_tls.h).
#include "shared/redis_tls.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "infergate/shared/redis_client.h"
#include "shared/redis_reply.h"

namespace infergate::shared {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
}  // namespace

RedisTlsLink::RedisTlsLink(asio::any_io_executor executor, RedisClient* client, ReplyBudget* budget)
    : executor_(executor), tcp_(executor), client_(client), reader_(redisReaderCreate()) {
  if (reader_ != nullptr) LimitReplySize(reader_, budget);
}

RedisTlsLink::~RedisTlsLink() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

asio::awaitable<std::optional<RedisError>> RedisTlsLink::Open(asio::ip::tcp::endpoint endpoint,
                                                              const tls::ClientContext& context,
                                                              std::string server_name,
                                                              TimePoint deadline) {
  auto self = shared_from_this();
  if (reader_ == nullptr) co_return RedisError{RedisErrorKind::kUnavailable, "out of memory"};
  // The deadline closes the socket, which ends the connect or the handshake at once.
  auto timer = std::make_shared<asio::steady_timer>(executor_, deadline);
  auto expired = std::make_shared<bool>(false);
  timer->async_wait([this, self, expired](error_code ec) {
    if (ec) return;
    *expired = true;
    error_code ignored;
    if (stream_) {
      stream_->lowest_layer().close(ignored);
    } else {
      tcp_.close(ignored);
    }
  });
  struct CancelOnExit {
    std::shared_ptr<asio::steady_timer> timer;
    ~CancelOnExit() { timer->cancel(); }
  } cancel{timer};
  auto [ec] = co_await tcp_.async_connect(endpoint, kNoThrow);
  if (closed_) co_return RedisError{RedisErrorKind::kUnavailable, "closed"};
  if (ec) {
    co_return RedisError{RedisErrorKind::kUnavailable,
                         "connect: " + (*expired ? std::string("timed out") : ec.message())};
  }
  error_code ignored;
  tcp_.set_option(asio::ip::tcp::no_delay(true), ignored);
  // A subscriber sends nothing after SUBSCRIBE: keepalive notices a Redis host that vanished.
  tcp_.set_option(asio::socket_base::keep_alive(true), ignored);
  std::string why;
  SSL* ssl = context.NewSsl(server_name, &session_, &why);
  if (ssl == nullptr) co_return RedisError{RedisErrorKind::kUnavailable, "TLS: " + why};
  stream_.emplace(std::move(tcp_), ssl);
  auto [hec] = co_await stream_->async_handshake(asio::ssl::stream_base::client, kNoThrow);
  if (closed_) co_return RedisError{RedisErrorKind::kUnavailable, "closed"};
  if (hec) {
    std::string detail;
    if (*expired) co_return RedisError{RedisErrorKind::kUnavailable, "TLS: handshake timed out"};
    if (tls::ClassifyHandshakeFailure(ssl, &detail) != tls::HandshakeFailure::kHandshake) {
      co_return RedisError{RedisErrorKind::kUnavailable,
                           "TLS: certificate verify failed: " + detail};
    }
    co_return RedisError{RedisErrorKind::kUnavailable, "TLS: handshake: " + hec.message()};
  }
  open_ = true;
  Read();
  if (!out_.empty()) Write();
  co_return std::nullopt;
}

bool RedisTlsLink::Send(int argc, const char** argv, const size_t* lengths, void* privdata) {
  if (closed_ || subscribed_) return false;
  char* command = nullptr;
  const int length = redisFormatCommandArgv(&command, argc, argv, lengths);
  if (length < 0 || command == nullptr) return false;
  out_.append(command, static_cast<size_t>(length));
  redisFreeCommand(command);
  if (privdata != nullptr) waiting_.push_back(privdata);
  if (open_) Write();
  return true;
}

bool RedisTlsLink::Subscribe(const std::string& channel) {
  const char* argv[] = {"SUBSCRIBE", channel.c_str()};
  const size_t lengths[] = {9, channel.size()};
  if (!Send(2, argv, lengths, nullptr)) return false;
  subscribed_ = true;
  return true;
}

size_t RedisTlsLink::unparsed() const { return reader_ != nullptr ? UnparsedBytes(reader_) : 0; }

void RedisTlsLink::Write() {
  if (writing_ || closed_ || !open_ || out_.empty()) return;
  writing_ = true;
  writing_buffer_.swap(out_);
  out_.clear();
  asio::async_write(*stream_, asio::buffer(writing_buffer_),
                    [self = shared_from_this()](error_code ec, size_t) {
                      self->writing_ = false;
                      self->writing_buffer_.clear();
                      if (self->closed_) return;
                      if (ec) {
                        self->Close("write: " + ec.message());
                        return;
                      }
                      self->Write();
                    });
}

void RedisTlsLink::Read() {
  if (closed_) return;
  stream_->async_read_some(asio::buffer(in_), [self = shared_from_this()](error_code ec, size_t n) {
    if (self->closed_) return;
    if (ec) {
      self->Close(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                      ? std::string("Server closed the connection")
                      : "read: " + ec.message());
      return;
    }
    if (redisReaderFeed(self->reader_, self->in_.data(), n) != REDIS_OK) {
      self->Close("Out of memory");
      return;
    }
    // The client refuses a reply over its size limit while it arrives (it closes the link).
    if (self->client_ != nullptr) self->client_->OnRead();
    if (self->closed_) return;
    self->Parse();
    self->Read();
  });
}

void RedisTlsLink::Parse() {
  while (!closed_) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
      Close(reader_->errstr[0] != '\0' ? reader_->errstr : "protocol error");
      return;
    }
    if (reply == nullptr) return;
    if (subscribed_ && waiting_.empty()) {
      if (client_ != nullptr) client_->OnMessage(reply);
    } else if (!waiting_.empty()) {
      void* privdata = waiting_.front();
      waiting_.pop_front();
      if (client_ != nullptr) {
        client_->OnReply(nullptr, reply, static_cast<RedisClient::Pending*>(privdata));
      }
    }
    freeReplyObject(reply);
  }
}

void RedisTlsLink::Close(const std::string& error) {
  if (closed_) return;
  auto self = shared_from_this();
  closed_ = true;
  error_code ignored;
  if (stream_) {
    stream_->lowest_layer().close(ignored);
  } else {
    tcp_.close(ignored);
  }
  if (client_ == nullptr) return;
  const char* why = error.empty() ? nullptr : error.c_str();
  // As hiredis does: every command still waiting, then the subscription, hear a null reply.
  while (!waiting_.empty()) {
    void* privdata = waiting_.front();
    waiting_.pop_front();
    if (client_ != nullptr) {
      client_->OnReply(why, nullptr, static_cast<RedisClient::Pending*>(privdata));
    }
  }
  if (subscribed_ && client_ != nullptr) client_->OnMessage(nullptr);
  if (open_ && client_ != nullptr) client_->OnLinkGone(this, error);
}

void RedisTlsLink::Detach() {
  client_ = nullptr;
  Close();
}

}  // namespace infergate::shared
