// One Redis connection driven by a worker's event loop: commands as awaitables with an absolute
// deadline each, a bounded number in flight, and reconnects with jittered exponential backoff.
//
// Two transports under one state machine (connecting -> handshake -> ready -> broken -> ...):
// plain TCP is hiredis's async API on the worker's io_context (src/shared/redis_asio.cc); TLS
// (options.tls) is hiredis's standalone reply reader and command formatter over an
// asio::ssl::stream (src/shared/redis_tls.cc), since Debian 12's hiredis 0.14 has no
// hiredis_ssl. Both hand replies back through OnReply/OnMessage in order and end every command
// still waiting with a null reply when the connection goes, so deadlines, the pending bound, the
// reply size limit, the handshake, Subscribe and the backoff are the same code for both. The TLS
// handshake counts against connect_timeout. No blocking call: the connect included.
//
// Thread safety: Start, Close and Command run on the executor's thread only (one client per
// worker, shared-nothing). available(), state() and stats() may be read from any thread.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "infergate/core/clock.h"
#include "infergate/shared/backoff.h"
#include "infergate/shared/redis_types.h"

struct redisAsyncContext;

namespace infergate::tls {
class ClientContext;
}

namespace infergate::shared {

struct ReplyBudget;  // src/shared/redis_reply.h
class RedisTlsLink;  // src/shared/redis_tls.h

class RedisClient : public std::enable_shared_from_this<RedisClient> {
 public:
  static std::shared_ptr<RedisClient> Create(boost::asio::any_io_executor executor,
                                             RedisOptions options);
  ~RedisClient();
  // The TLS context of options.tls's settings (CA file or the system store, client certificate):
  // reads files, so call it at startup, not on an event loop. The error names what is wrong.
  static Expected<std::shared_ptr<const tls::ClientContext>, std::string> LoadTlsContext(
      const RedisOptions& options);
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Starts connecting (non-blocking). Until the handshake is done commands fail with
  // kUnavailable; a failed or broken connection is retried after Backoff::Next.
  void Start();
  // Closes the connection: commands in flight end with kConnectionLost, later ones with
  // kUnavailable, and no reconnect follows.
  void Close();

  // Sends `args` (command name first) and waits for the reply until options.timeout from now,
  // or until `deadline`. Never throws; a late reply to a timed-out command is dropped.
  boost::asio::awaitable<RedisResult> Command(std::vector<std::string> args);
  boost::asio::awaitable<RedisResult> Command(std::vector<std::string> args, TimePoint deadline);

  // Makes this connection a subscriber (call before Start): after every handshake, the first and
  // each reconnect's, it subscribes to `channel` and calls `on_message` on the executor with each
  // message published there. It is ready (available()) once Redis confirms the subscription. A
  // subscribed connection takes no other command; what is published while it is down is lost.
  void Subscribe(std::string channel, std::function<void(std::string_view)> on_message);

  // Waits until the client is ready or `deadline` passes (for startup and tests). True if ready.
  boost::asio::awaitable<bool> WaitReady(TimePoint deadline);

  // Ready: connected and handshaken.
  bool available() const { return state_.load(std::memory_order_acquire) == RedisState::kReady; }
  RedisState state() const { return state_.load(std::memory_order_acquire); }
  RedisStats stats() const;
  // Why the last connection attempt failed or the last connection broke (empty message if none).
  // Executor thread only.
  const RedisError& last_error() const { return last_error_; }
  const RedisOptions& options() const { return options_; }

  // Internal: entry points of the transports' callbacks (src/shared/). OnReply's `error` is the
  // transport's reason when the reply is null because the connection failed (else null).
  struct Pending;
  void OnReply(const char* error, void* reply, Pending* pending);
  void OnContextGone(redisAsyncContext* ac);
  void OnLinkGone(RedisTlsLink* link, const std::string& error);
  void OnRead();
  void OnMessage(void* reply);

 private:
  RedisClient(boost::asio::any_io_executor executor, RedisOptions options);
  void Connect();
  boost::asio::awaitable<void> ConnectTls(uint64_t generation);
  boost::asio::awaitable<void> Handshake(uint64_t generation, TimePoint deadline);
  // After either transport's connection went: fails what is left, then reconnects (or closes).
  void AfterGone();
  bool Linked() const { return ac_ != nullptr || tls_ != nullptr; }
  void Break(RedisError why);
  // Records why the connection failed (last_error_), with a warning when the reason is new.
  void NoteFailure(RedisError why);
  void ScheduleReconnect();
  void SetState(RedisState state);
  // Sends without looking at the state (the handshake uses it). Null result when sent.
  std::shared_ptr<Pending> Send(const std::vector<std::string>& args, TimePoint deadline,
                                RedisError* error);
  boost::asio::awaitable<RedisResult> Await(std::shared_ptr<Pending> pending);

  boost::asio::any_io_executor executor_;
  RedisOptions options_;
  redisAsyncContext* ac_ = nullptr;                        // plain TCP
  std::shared_ptr<RedisTlsLink> tls_;                      // TLS
  std::shared_ptr<const tls::ClientContext> tls_context_;  // options.tls_context, or Start's
  uint64_t generation_ = 0;                                // connection attempts so far
  std::atomic<RedisState> state_{RedisState::kBroken};
  bool closed_ = false;
  bool reply_too_large_ = false;  // the reader refused a reply: why the connection closes
  int consecutive_timeouts_ = 0;
  std::deque<std::shared_ptr<Pending>> inflight_;  // sent, in reply order
  Backoff backoff_;
  boost::asio::steady_timer reconnect_timer_;
  std::vector<boost::asio::steady_timer*> ready_waiters_;  // WaitReady's timers, woken on change
  RedisError last_error_;
  std::unique_ptr<ReplyBudget> budget_;
  std::string channel_;  // Subscribe's
  std::function<void(std::string_view)> on_message_;
  std::atomic<uint64_t> commands_{0}, timeouts_{0}, errors_{0}, reconnects_{0};
};

}  // namespace infergate::shared
