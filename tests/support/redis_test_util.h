// Helpers of the Redis client's integration tests (redis_client_test.cc, redis_tls_test.cc):
// running an io_context until a condition holds, coroutines whose results land in optionals,
// and a fixture that connects clients to a RedisServer.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infergate/shared/redis_client.h"
#include "support/pki.h"
#include "support/redis_server.h"

namespace infergate::shared::test {

namespace asio = boost::asio;

inline constexpr auto kLimit = std::chrono::seconds(20);  // a bound on every wait, not a target

// Runs the event loop until `done` holds (each turn handles one event, or none within 20 ms).
inline bool RunUntil(asio::io_context& io, const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + kLimit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Runs `task` on `io`; its result lands in `*out`. (co_spawn's futures would need a default
// constructible T, which Expected is not.)
template <typename T>
void Spawn(asio::io_context& io, asio::awaitable<T> task, std::optional<T>* out) {
  asio::co_spawn(
      io,
      [task = std::move(task), out]() mutable -> asio::awaitable<void> {
        out->emplace(co_await std::move(task));
      },
      asio::detached);
}

template <typename T>
std::optional<T> RunTask(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> out;
  Spawn(io, std::move(task), &out);
  EXPECT_TRUE(RunUntil(io, [&] { return out.has_value(); })) << "the coroutine did not finish";
  return out;
}

inline RedisResult Unfinished() {
  return MakeUnexpected(RedisError{RedisErrorKind::kProtocol, "test: unfinished"});
}

// PUBLISH until a subscriber got it (the reply counts the receivers): a message published before
// the subscription reached the server is lost by design.
inline bool PublishUntilHeard(asio::io_context& io, RedisClient& publisher,
                              const std::string& channel, const std::string& message,
                              const std::vector<std::string>& heard) {
  return RunUntil(io, [&] {
    if (std::find(heard.begin(), heard.end(), message) != heard.end()) return true;
    std::optional<RedisResult> r;
    Spawn(io, publisher.Command({"PUBLISH", channel, message}), &r);
    RunUntil(io, [&] { return r.has_value(); });
    return false;
  });
}

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::RedisServer::Installed())
      GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server)";
  }

  // A client of `server`, started; not ready (with the reason printed) when `expect_ready` fails.
  std::shared_ptr<RedisClient> Connect(testing::RedisServer& server, RedisOptions options = {}) {
    auto client = Make(server, std::move(options));
    client->Start();
    EXPECT_TRUE(Ready(*client)) << client->last_error().message;
    return client;
  }
  // A client of `server`, not started.
  std::shared_ptr<RedisClient> Make(testing::RedisServer& server, RedisOptions options) {
    std::string error;
    EXPECT_TRUE(ParseRedisAddress(server.address(), &options, &error)) << error;
    return RedisClient::Create(io_.get_executor(), options);
  }
  static RedisOptions Patient() {
    RedisOptions o;
    o.timeout = std::chrono::seconds(5);  // the machine may be loaded: not about timeouts
    o.backoff_initial = std::chrono::milliseconds(20);
    o.backoff_max = std::chrono::milliseconds(200);
    return o;
  }
  bool Ready(RedisClient& client) {
    return RunTask(io_, client.WaitReady(std::chrono::steady_clock::now() + kLimit))
        .value_or(false);
  }
  RedisResult Cmd(RedisClient& client, std::vector<std::string> args) {
    return RunTask(io_, client.Command(std::move(args))).value_or(Unfinished());
  }

  asio::io_context io_;
};

// The same test over plain TCP (parameter false) and TLS (true, verified against a test CA, the
// server's certificate naming 127.0.0.1 and localhost).
class RedisTransportTest : public RedisClientTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool tls() const { return GetParam(); }
  // A redis-server speaking the test's transport only. Nullptr when it does not start.
  std::unique_ptr<testing::RedisServer> StartServer(std::vector<std::string> args = {}) {
    if (!tls()) return testing::RedisServer::Start(std::move(args));
    if (!Certificates()) return nullptr;
    return testing::RedisServer::StartTls(ServerTls(), std::move(args));
  }
  // The test CA and the server's certificate (made once per test); false when openssl failed.
  bool Certificates() {
    if (!pki_) pki_.emplace();
    if (pki_->ok() && !leaf_)
      leaf_ = pki_->Issue("redis", "localhost", "DNS:localhost,IP:127.0.0.1");
    return leaf_.has_value();
  }
  testing::RedisServer::Tls ServerTls() const { return {pki_->ca, leaf_->cert, leaf_->key}; }
  // Patient(), over TLS verified against the test CA when the test's transport is TLS.
  RedisOptions Options() {
    RedisOptions o = Patient();
    o.tls = tls();
    if (tls() && Certificates()) o.ca_file = pki_->ca;
    return o;
  }

  std::optional<testing::Pki> pki_;  // TLS only
  std::optional<testing::Pki::Leaf> leaf_;
};

}  // namespace infergate::shared::test
