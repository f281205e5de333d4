// RedisClient: connection state machine (connecting -> ready -> broken -> connecting ...),
// commands with deadlines, reconnect backoff.
#include "infergate/shared/redis_client.h"

#include <hiredis/async.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "infergate/core/log.h"
#include "infergate/core/random.h"
#include "infergate/tls/client_context.h"
#include "shared/redis_asio.h"
#include "shared/redis_reply.h"
#include "shared/redis_tls.h"

namespace infergate::shared {

namespace asio = boost::asio;

struct RedisClient::Pending {
  explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;  // expires at the deadline; cancelled when the result is set
  std::optional<RedisResult> result;
  bool abandoned = false;  // the caller timed out; the reply is dropped
};

namespace {

void ReplyCallback(redisAsyncContext* ac, void* reply, void* privdata) {
  static_cast<RedisClient*>(ac->data)->OnReply(ac->err != 0 ? ac->errstr : nullptr, reply,
                                               static_cast<RedisClient::Pending*>(privdata));
}

void MessageCallback(redisAsyncContext* ac, void* reply, void* /*privdata*/) {
  static_cast<RedisClient*>(ac->data)->OnMessage(reply);
}

RedisError Unavailable(const RedisError& why) {
  std::string message = "redis unavailable";
  if (!why.message.empty()) message += ": " + why.message;
  return {RedisErrorKind::kUnavailable, std::move(message)};
}

}  // namespace

std::shared_ptr<RedisClient> RedisClient::Create(asio::any_io_executor executor,
                                                 RedisOptions options) {
  return std::shared_ptr<RedisClient>(new RedisClient(std::move(executor), std::move(options)));
}

RedisClient::RedisClient(asio::any_io_executor executor, RedisOptions options)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      backoff_(options_.backoff_initial, options_.backoff_max),
      reconnect_timer_(executor_),
      budget_(std::make_unique<ReplyBudget>()) {
  budget_->limit = options_.max_reply_bytes;
}

RedisClient::~RedisClient() {
  closed_ = true;
  if (ac_ != nullptr) redisAsyncFree(ac_);
  if (tls_ != nullptr) tls_->Detach();
}

Expected<std::shared_ptr<const tls::ClientContext>, std::string> RedisClient::LoadTlsContext(
    const RedisOptions& options) {
  tls::ClientOptions o;
  o.ca = options.ca_file;
  o.certificate = options.cert_file;
  o.private_key = options.key_file;
  o.min_version = options.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION;
  o.verify = options.verify;
  std::string why;
  std::shared_ptr<const tls::ClientContext> context = tls::ClientContext::Load(o, &why);
  if (context == nullptr) return MakeUnexpected(std::move(why));
  return context;
}

RedisStats RedisClient::stats() const {
  RedisStats s;
  s.commands = commands_.load(std::memory_order_relaxed);
  s.timeouts = timeouts_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  return s;
}

void RedisClient::SetState(RedisState state) {
  state_.store(state, std::memory_order_release);
  for (auto* timer : ready_waiters_) timer->cancel();
}

void RedisClient::Start() {
  if (closed_ || ac_ != nullptr || generation_ > 0) return;
  if (options_.tls) {
    tls_context_ = options_.tls_context;
    if (tls_context_ == nullptr) {
      // Small files read once, when the client starts (SharedRedisOptions loads the gateway's
      // at startup instead).
      auto loaded = LoadTlsContext(options_);
      if (!loaded.ok()) {
        // A configuration error: no retry would mend it.
        NoteFailure({RedisErrorKind::kUnavailable, "TLS: " + loaded.error()});
        SetState(RedisState::kBroken);
        return;
      }
      tls_context_ = std::move(*loaded);
    }
    if (!options_.verify) {
      IG_WARN("redis %s:%u: TLS without certificate verification (insecure_skip_verify)",
              options_.host.c_str(), static_cast<unsigned>(options_.port));
    }
  }
  Connect();
}

void RedisClient::Close() {
  closed_ = true;
  reconnect_timer_.cancel();
  if (ac_ != nullptr) redisAsyncFree(ac_);  // OnContextGone follows from ev.cleanup
  ac_ = nullptr;
  if (tls_ != nullptr) {
    auto link = tls_;
    link->Close();  // OnLinkGone follows when it was open
    tls_.reset();
  }
  SetState(RedisState::kClosed);
}

void RedisClient::Connect() {
  if (closed_) return;
  if (++generation_ > 1) reconnects_.fetch_add(1, std::memory_order_relaxed);
  SetState(RedisState::kConnecting);
  budget_->exceeded = false;
  consecutive_timeouts_ = 0;
  if (options_.tls) {
    asio::co_spawn(executor_, ConnectTls(generation_), asio::detached);
    return;
  }
  // The host is an IP literal (ParseRedisAddress), so hiredis's getaddrinfo does no lookup and
  // the connect is non-blocking.
  redisAsyncContext* ac = redisAsyncConnect(options_.host.c_str(), options_.port);
  if (ac == nullptr || ac->err != 0) {
    NoteFailure({RedisErrorKind::kUnavailable,
                 std::string("connect: ") + (ac != nullptr ? ac->errstr : "out of memory")});
    if (ac != nullptr) redisAsyncFree(ac);
    SetState(RedisState::kBroken);
    ScheduleReconnect();
    return;
  }
  ac->data = this;
  // A subscriber sends nothing after SUBSCRIBE, so only TCP keepalive notices a Redis host that
  // vanished without a reset; then it reconnects and subscribes again.
  if (!channel_.empty()) redisEnableKeepAlive(&ac->c);
  LimitReplySize(ac->c.reader, budget_.get());
  AttachToAsio(ac, executor_, this);
  ac_ = ac;
  asio::co_spawn(
      executor_,
      Handshake(generation_, std::chrono::steady_clock::now() + options_.connect_timeout),
      asio::detached);
}

asio::awaitable<void> RedisClient::ConnectTls(uint64_t generation) {
  auto self = shared_from_this();
  const TimePoint deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
  auto link = std::make_shared<RedisTlsLink>(executor_, this, budget_.get());
  tls_ = link;
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options_.host, ec);
  std::optional<RedisError> failed;
  if (ec) {
    failed = RedisError{RedisErrorKind::kUnavailable, "connect: " + ec.message()};
  } else {
    const asio::ip::tcp::endpoint endpoint(address, options_.port);
    const std::string& name = options_.server_name.empty() ? options_.host : options_.server_name;
    failed = co_await link->Open(endpoint, *tls_context_, name, deadline);
  }
  if (generation != generation_ || closed_ || tls_ != link) co_return;
  if (failed) {
    tls_.reset();
    NoteFailure(std::move(*failed));
    SetState(RedisState::kBroken);
    ScheduleReconnect();
    co_return;
  }
  co_await Handshake(generation, deadline);
}

asio::awaitable<void> RedisClient::Handshake(uint64_t generation, TimePoint deadline) {
  auto self = shared_from_this();
  std::vector<std::vector<std::string>> steps;
  if (!options_.password.empty()) steps.push_back({"AUTH", options_.password});
  if (options_.db != 0) steps.push_back({"SELECT", std::to_string(options_.db)});
  steps.push_back({"PING"});
  for (const auto& step : steps) {
    RedisError error;
    auto pending = Send(step, deadline, &error);
    std::optional<RedisResult> result;
    if (pending != nullptr) {
      result.emplace(co_await Await(std::move(pending)));
    } else {
      result.emplace(MakeUnexpected(error));
    }
    if (generation != generation_ || closed_) co_return;
    if (!result->ok()) {
      RedisError why = result->error();
      const bool auth = why.kind == RedisErrorKind::kServerError &&
                        (step[0] == "AUTH" || why.message.starts_with("NOAUTH"));
      why.kind = auth ? RedisErrorKind::kAuthFailed : RedisErrorKind::kUnavailable;
      why.message = (why.kind == RedisErrorKind::kAuthFailed ? "AUTH refused: " : step[0] + ": ") +
                    why.message;
      // With no connection left, OnContextGone (OnLinkGone) has already recorded why.
      if (Linked()) Break(std::move(why));
      co_return;
    }
  }
  backoff_.Reset();
  last_error_ = {};
  IG_INFO("redis %s:%u: connected", options_.host.c_str(), static_cast<unsigned>(options_.port));
  if (!channel_.empty() && Linked()) {
    // hiredis (and the TLS link) keep MessageCallback for the channel and call it for every
    // message (and with no reply when the connection goes).
    const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
    const size_t lengths[] = {9, channel_.size()};
    const bool sent = ac_ != nullptr ? redisAsyncCommandArgv(ac_, MessageCallback, nullptr, 2, argv,
                                                             lengths) == REDIS_OK
                                     : tls_->Subscribe(channel_);
    if (!sent) {
      Break({RedisErrorKind::kConnectionLost, "SUBSCRIBE could not be sent"});
    }
    co_return;  // ready once redis confirms the subscription (OnMessage)
  }
  SetState(RedisState::kReady);
}

void RedisClient::Subscribe(std::string channel, std::function<void(std::string_view)> on_message) {
  channel_ = std::move(channel);
  on_message_ = std::move(on_message);
}

void RedisClient::OnMessage(void* reply) {
  // No reply: the connection is going (OnContextGone follows). The subscription's confirmation
  // ("subscribe", channel, count) makes the client ready.
  const auto* r = static_cast<const redisReply*>(reply);
  if (r == nullptr || closed_ || !on_message_ || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
    return;
  const redisReply* kind = r->element[0];
  const redisReply* payload = r->element[2];
  if (kind->type != REDIS_REPLY_STRING) return;
  const std::string_view what(kind->str, kind->len);
  if (what == "subscribe") {
    if (state() == RedisState::kConnecting) SetState(RedisState::kReady);
    return;
  }
  if (what != "message" || payload->type != REDIS_REPLY_STRING) return;
  on_message_(std::string_view(payload->str, payload->len));
}

void RedisClient::Break(RedisError why) {
  NoteFailure(std::move(why));
  if (tls_ != nullptr) {
    auto link = tls_;
    link->Close();  // replies in flight end with kConnectionLost, then OnLinkGone
    return;
  }
  if (ac_ == nullptr) return;
  redisAsyncContext* ac = ac_;
  redisAsyncFree(ac);  // replies in flight end with kConnectionLost, then OnContextGone
}

void RedisClient::NoteFailure(RedisError why) {
  // One line per new reason, so a server down for an hour logs once, not at every retry. Redis's
  // error texts never echo the AUTH password.
  if (state() == RedisState::kReady || why.message != last_error_.message) {
    IG_WARN("redis %s:%u: %s%s; reconnecting with backoff", options_.host.c_str(),
            static_cast<unsigned>(options_.port),
            state() == RedisState::kReady ? "connection lost: " : "", why.message.c_str());
  }
  last_error_ = std::move(why);
}

void RedisClient::OnContextGone(redisAsyncContext* ac) {
  if (ac != ac_) return;
  ac_ = nullptr;
  if (ac->err != 0) {
    RedisError why{RedisErrorKind::kConnectionLost, ac->errstr};
    if (reply_too_large_) why = {RedisErrorKind::kReplyTooLarge, "reply over max_reply_bytes"};
    NoteFailure(std::move(why));
  }
  AfterGone();
}

void RedisClient::OnLinkGone(RedisTlsLink* link, const std::string& error) {
  if (link != tls_.get()) return;
  auto keep = std::move(tls_);
  if (!error.empty()) {
    RedisError why{RedisErrorKind::kConnectionLost, error};
    if (reply_too_large_) why = {RedisErrorKind::kReplyTooLarge, "reply over max_reply_bytes"};
    NoteFailure(std::move(why));
  }
  AfterGone();
}

void RedisClient::AfterGone() {
  reply_too_large_ = false;
  // hiredis has answered every callback (with no reply) before its cleanup hook; what is left
  // was never handed to it.
  for (auto& pending : inflight_) {
    if (!pending->abandoned && !pending->result) {
      pending->result.emplace(
          MakeUnexpected(RedisError{RedisErrorKind::kConnectionLost, "closed"}));
      pending->timer.cancel();
    }
  }
  inflight_.clear();
  if (closed_) {
    SetState(RedisState::kClosed);
    return;
  }
  SetState(RedisState::kBroken);
  ScheduleReconnect();
}

void RedisClient::ScheduleReconnect() {
  if (closed_) return;
  reconnect_timer_.expires_after(backoff_.Next(ThreadRng()));
  reconnect_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || self == nullptr) return;
    self->Connect();
  });
}

void RedisClient::OnRead() {
  // A bulk string is buffered whole before hiredis parses it: refuse it while it arrives.
  if (!Linked()) return;
  const size_t unparsed = ac_ != nullptr ? UnparsedBytes(ac_->c.reader) : tls_->unparsed();
  if (unparsed <= options_.max_reply_bytes) return;
  budget_->exceeded = true;
  Break({RedisErrorKind::kReplyTooLarge, "reply over max_reply_bytes"});
}

void RedisClient::OnReply(const char* error, void* reply, Pending* pending) {
  std::shared_ptr<Pending> keep;
  // Replies come in order, so this is normally the first entry.
  auto it = std::find_if(inflight_.begin(), inflight_.end(),
                         [pending](const auto& p) { return p.get() == pending; });
  if (it == inflight_.end()) return;
  keep = std::move(*it);
  inflight_.erase(it);
  std::optional<RedisResult> result;
  if (reply != nullptr) {
    consecutive_timeouts_ = 0;
    result.emplace(ConvertReply(reply));
  } else if (budget_->exceeded) {
    budget_->exceeded = false;  // the reply being read belonged to this command
    reply_too_large_ = true;    // why the connection closes (hiredis says "Out of memory")
    result.emplace(MakeUnexpected(RedisError{
        RedisErrorKind::kReplyTooLarge,
        "reply over max_reply_bytes (" + std::to_string(options_.max_reply_bytes) + ")"}));
  } else {
    std::string why = error != nullptr ? error : "connection closed";
    result.emplace(MakeUnexpected(RedisError{RedisErrorKind::kConnectionLost, std::move(why)}));
  }
  if (keep->abandoned) return;
  keep->result = std::move(result);
  keep->timer.cancel();
}

std::shared_ptr<RedisClient::Pending> RedisClient::Send(const std::vector<std::string>& args,
                                                        TimePoint deadline, RedisError* error) {
  if (!Linked()) {
    *error = Unavailable(last_error_);
    return nullptr;
  }
  if (inflight_.size() >= options_.max_pending) {
    *error = {RedisErrorKind::kOverloaded,
              std::to_string(inflight_.size()) + " redis commands already in flight"};
    return nullptr;
  }
  if (args.empty()) {
    *error = {RedisErrorKind::kProtocol, "empty command"};
    return nullptr;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto pending = std::make_shared<Pending>(executor_);
  pending->timer.expires_at(deadline);
  const int argc = static_cast<int>(argv.size());
  const bool sent = tls_ != nullptr
                        ? tls_->Send(argc, argv.data(), lengths.data(), pending.get())
                        : redisAsyncCommandArgv(ac_, ReplyCallback, pending.get(), argc,
                                                argv.data(), lengths.data()) == REDIS_OK;
  if (!sent) {
    *error = {RedisErrorKind::kConnectionLost, "the connection is closing"};
    return nullptr;
  }
  inflight_.push_back(pending);
  return pending;
}

asio::awaitable<RedisResult> RedisClient::Await(std::shared_ptr<Pending> pending) {
  auto [ec] = co_await pending->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  (void)ec;  // cancelled (a result) or expired (none): the result decides
  if (pending->result) co_return std::move(*pending->result);
  pending->abandoned = true;
  co_return MakeUnexpected(RedisError{RedisErrorKind::kTimeout, "no reply from redis in time"});
}

asio::awaitable<RedisResult> RedisClient::Command(std::vector<std::string> args) {
  return Command(std::move(args), std::chrono::steady_clock::now() + options_.timeout);
}

asio::awaitable<RedisResult> RedisClient::Command(std::vector<std::string> args,
                                                  TimePoint deadline) {
  auto self = shared_from_this();
  commands_.fetch_add(1, std::memory_order_relaxed);
  RedisError error;
  std::shared_ptr<Pending> pending;
  if (state() == RedisState::kReady) {
    pending = Send(args, deadline, &error);
  } else {
    error = Unavailable(last_error_);
  }
  if (pending == nullptr) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    co_return MakeUnexpected(std::move(error));
  }
  RedisResult result = co_await Await(std::move(pending));
  if (result.ok()) co_return result;
  if (result.error().kind != RedisErrorKind::kTimeout) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    co_return result;
  }
  timeouts_.fetch_add(1, std::memory_order_relaxed);
  if (++consecutive_timeouts_ >= options_.broken_after_timeouts && Linked() &&
      state() == RedisState::kReady) {
    Break({RedisErrorKind::kTimeout,
           std::to_string(consecutive_timeouts_) + " commands in a row got no reply in time"});
  }
  co_return result;
}

asio::awaitable<bool> RedisClient::WaitReady(TimePoint deadline) {
  auto self = shared_from_this();
  asio::steady_timer timer(executor_);
  // Each pass waits for a state change or the deadline; a state change wakes at most once per
  // transition, and transitions are paced by the backoff, so this ends by the deadline.
  for (int pass = 0; pass < 100000 && !available() && !closed_; ++pass) {
    if (std::chrono::steady_clock::now() >= deadline) break;
    timer.expires_at(deadline);
    ready_waiters_.push_back(&timer);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    std::erase(ready_waiters_, &timer);
  }
  co_return available();
}

}  // namespace infergate::shared
