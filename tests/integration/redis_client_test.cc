// The Redis client (src/shared/) against a real redis-server, each test over both transports
// (plain TCP on hiredis's async API, TLS on hiredis's reader over OpenSSL): round trips, AUTH,
// SELECT, the allowance script under two concurrent clients, the failure modes the limiter
// relies on (killed, restarted, paused, a reply too large, the pending bound), and a subscriber.
// Errors are asserted by kind, never by how long they took.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>

#include "infergate/shared/redis_client.h"
#include "infergate/shared/redis_script.h"
#include "support/redis_server.h"
#include "support/redis_test_util.h"

namespace infergate::shared {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::RedisServer;
using namespace infergate::shared::test;  // NOLINT: test helpers

TEST_P(RedisTransportTest, CommandsRoundTrip) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server, Options());
  ASSERT_TRUE(client->available());
  const std::string binary("a\0b\r\nc", 6);
  auto set = Cmd(*client, {"SET", "k", binary});
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->type, RedisReply::Type::kStatus);
  EXPECT_EQ(set->str, "OK");
  auto get = Cmd(*client, {"GET", "k"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->str, binary);
  EXPECT_EQ(Cmd(*client, {"GET", "missing"})->type, RedisReply::Type::kNil);
  EXPECT_EQ(Cmd(*client, {"INCRBY", "n", "5"})->integer, 5);
  Cmd(*client, {"RPUSH", "l", "x", "y"});
  auto range = Cmd(*client, {"LRANGE", "l", "0", "-1"});
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->elements.size(), 2u);
  EXPECT_EQ(range->elements[1].str, "y");
  auto wrong = Cmd(*client, {"INCR", "k"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind, RedisErrorKind::kServerError);
  EXPECT_NE(wrong.error().message.find("ERR"), std::string::npos);
  EXPECT_EQ(client->stats().commands, 7u);
  EXPECT_EQ(client->stats().errors, 1u);

  client->Close();
  EXPECT_EQ(client->state(), RedisState::kClosed);
  EXPECT_EQ(Cmd(*client, {"PING"}).error().kind, RedisErrorKind::kUnavailable);
}

TEST_P(RedisTransportTest, SelectsTheConfiguredDatabase) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RedisOptions three = Options();
  three.db = 3;
  auto in_three = Connect(*server, three);
  auto in_zero = Connect(*server, Options());
  ASSERT_TRUE(Cmd(*in_three, {"SET", "where", "three"}).ok());
  EXPECT_EQ(Cmd(*in_zero, {"GET", "where"})->type, RedisReply::Type::kNil);
  EXPECT_EQ(Cmd(*in_three, {"GET", "where"})->str, "three");
}

TEST_P(RedisTransportTest, AuthenticatesWithThePasswordAndRefusesAWrongOneClearly) {
  auto server = StartServer({"--requirepass", "right-horse-battery"});
  ASSERT_NE(server, nullptr);
  RedisOptions good = Options();
  good.password = "right-horse-battery";
  auto client = Connect(*server, good);
  EXPECT_EQ(Cmd(*client, {"PING"})->str, "PONG");

  for (const std::string password : {"wrong-staple", ""}) {
    RedisOptions bad = Options();
    bad.password = password;
    std::string error;
    ASSERT_TRUE(ParseRedisAddress(server->address(), &bad, &error));
    auto refused = RedisClient::Create(io_.get_executor(), bad);
    refused->Start();
    ASSERT_TRUE(RunUntil(io_, [&] {
      return refused->last_error().kind == RedisErrorKind::kAuthFailed;
    })) << refused->last_error().message;
    EXPECT_FALSE(refused->available());
    auto ping = Cmd(*refused, {"PING"});
    ASSERT_FALSE(ping.ok());
    EXPECT_EQ(ping.error().kind, RedisErrorKind::kUnavailable);
    EXPECT_NE(ping.error().message.find(password.empty() ? "NOAUTH" : "AUTH refused"),
              std::string::npos)
        << ping.error().message;
    if (!password.empty()) {
      EXPECT_EQ(ping.error().message.find(password), std::string::npos) << "the password leaked";
    }
  }
}

asio::awaitable<bool> TakeMany(RedisClient& client, std::string key, int n,
                               std::vector<int64_t>* totals, int* failures) {
  for (int i = 0; i < n; ++i) {
    auto taken = co_await TakeAllowance(client, key, 1, seconds(60),
                                        std::chrono::steady_clock::now() + seconds(5));
    if (taken.ok()) {
      totals->push_back(taken->total);
    } else {
      ++*failures;
    }
  }
  co_return true;
}

TEST_P(RedisTransportTest, AllowanceScriptCountsAtomicallyAcrossTwoClients) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto a = Connect(*server, Options());
  auto b = Connect(*server, Options());
  std::vector<int64_t> totals;
  int failures = 0;
  constexpr int kWorkers = 20, kEach = 10;
  std::vector<std::optional<bool>> done(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    RedisClient& client = (w % 2 == 0) ? *a : *b;
    Spawn(io_, TakeMany(client, "rl:acme", kEach, &totals, &failures), &done[w]);
  }
  ASSERT_TRUE(RunUntil(io_, [&] {
    return std::all_of(done.begin(), done.end(), [](const auto& d) { return d.has_value(); });
  }));
  EXPECT_EQ(failures, 0);
  // Every take saw a distinct total: 1..200, nothing lost or counted twice.
  std::set<int64_t> distinct(totals.begin(), totals.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kWorkers * kEach));
  EXPECT_EQ(*distinct.begin(), 1);
  EXPECT_EQ(*distinct.rbegin(), kWorkers * kEach);

  auto last = *RunTask(io_, TakeAllowance(*a, "rl:acme", 0, seconds(60),
                                          std::chrono::steady_clock::now() + seconds(5)));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->total, kWorkers * kEach);
  EXPECT_GT(last->window_left.count(), 0);
  EXPECT_LE(last->window_left.count(), 60000);

  // A server that forgot its scripts (SCRIPT FLUSH, or a restart) gets the source again.
  ASSERT_TRUE(Cmd(*a, {"SCRIPT", "FLUSH"}).ok());
  auto after_flush = *RunTask(io_, TakeAllowance(*b, "rl:acme", 1, seconds(60),
                                                 std::chrono::steady_clock::now() + seconds(5)));
  ASSERT_TRUE(after_flush.ok()) << after_flush.error().message;
  EXPECT_EQ(after_flush->total, kWorkers * kEach + 1);
  auto exists = Cmd(*a, {"SCRIPT", "EXISTS", AllowanceScript().sha1()});
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ(exists->elements.at(0).integer, 1);
}

TEST_P(RedisTransportTest, KilledFailsFastThenReconnectsByItselfWhenRestarted) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server, Options());
  ASSERT_TRUE(Cmd(*client, {"SET", "before", "1"}).ok());
  server->Kill();
  ASSERT_TRUE(RunUntil(io_, [&] { return !client->available(); }));
  // Not connected: refused at once, not after the (5 s) timeout.
  auto down = Cmd(*client, {"GET", "before"});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().kind, RedisErrorKind::kUnavailable) << down.error().message;
  EXPECT_EQ(client->stats().timeouts, 0u);

  ASSERT_TRUE(server->Restart());
  ASSERT_TRUE(Ready(*client)) << client->last_error().message;
  auto back = Cmd(*client, {"GET", "before"});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->type, RedisReply::Type::kNil);  // restarted empty: counts lost, not service
  EXPECT_GE(client->stats().reconnects, 1u);
}

TEST_P(RedisTransportTest, StartedBeforeRedisConnectsWhenItComesUp) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  server->Stop();
  RedisOptions o = Options();
  std::string error;
  ASSERT_TRUE(ParseRedisAddress(server->address(), &o, &error)) << error;
  auto client = RedisClient::Create(io_.get_executor(), o);
  client->Start();
  ASSERT_TRUE(RunUntil(io_, [&] { return client->stats().reconnects >= 2; }));
  EXPECT_FALSE(client->available());
  EXPECT_NE(client->last_error().message.find("refused"), std::string::npos)
      << client->last_error().message;
  auto down = Cmd(*client, {"PING"});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().kind, RedisErrorKind::kUnavailable);
  EXPECT_NE(down.error().message.find("refused"), std::string::npos) << down.error().message;

  ASSERT_TRUE(server->Restart());
  ASSERT_TRUE(Ready(*client)) << client->last_error().message;
  EXPECT_EQ(Cmd(*client, {"PING"})->str, "PONG");
}

TEST_P(RedisTransportTest, AHandshakeWithNoAnswerIsGivenUpAndRetried) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  server->Pause();  // the kernel still accepts connections; redis answers nothing
  RedisOptions o = Options();
  o.connect_timeout = milliseconds(200);
  std::string error;
  ASSERT_TRUE(ParseRedisAddress(server->address(), &o, &error)) << error;
  auto client = RedisClient::Create(io_.get_executor(), o);
  client->Start();
  ASSERT_TRUE(RunUntil(io_, [&] { return client->stats().reconnects >= 1; }));
  EXPECT_FALSE(client->available());
  // No answer to the TLS handshake, or (plain TCP) to the PING of the handshake.
  EXPECT_EQ(client->last_error().message.find(tls() ? "TLS: handshake timed out" : "PING: "), 0u)
      << client->last_error().message;
  EXPECT_EQ(Cmd(*client, {"PING"}).error().kind, RedisErrorKind::kUnavailable);
  server->Resume();
  ASSERT_TRUE(Ready(*client)) << client->last_error().message;
}

TEST_P(RedisTransportTest, ALateReplyIsDroppedNotGivenToTheNextCommand) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RedisOptions o = Options();
  auto client = Connect(*server, o);
  ASSERT_TRUE(Cmd(*client, {"SET", "s", "hello"}).ok());
  server->Pause();
  // A deadline already past: the command is sent and its caller told at once that it timed out.
  auto late = RunTask(io_, client->Command({"INCRBY", "n", "5"}, std::chrono::steady_clock::now()))
                  .value_or(Unfinished());
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().kind, RedisErrorKind::kTimeout);
  server->Resume();
  auto next = Cmd(*client, {"GET", "s"});
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->type, RedisReply::Type::kString);
  EXPECT_EQ(next->str, "hello");
  EXPECT_EQ(Cmd(*client, {"GET", "n"})->str, "5");  // the timed-out command still ran
  EXPECT_TRUE(client->available());
  EXPECT_EQ(client->stats().timeouts, 1u);
}

TEST_P(RedisTransportTest, PausedServerCommandsEndInTimeoutThenTheConnectionIsGivenUp) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RedisOptions o = Options();
  o.timeout = milliseconds(200);
  o.connect_timeout = milliseconds(500);
  o.broken_after_timeouts = 3;
  auto client = Connect(*server, o);
  ASSERT_TRUE(Cmd(*client, {"PING"}).ok());
  server->Pause();
  for (int i = 0; i < 3; ++i) {
    auto r = Cmd(*client, {"INCR", "paused"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, RedisErrorKind::kTimeout) << i << ": " << r.error().message;
  }
  EXPECT_FALSE(client->available());
  EXPECT_EQ(client->last_error().kind, RedisErrorKind::kTimeout);
  auto given_up = Cmd(*client, {"INCR", "paused"});
  ASSERT_FALSE(given_up.ok());
  EXPECT_EQ(given_up.error().kind, RedisErrorKind::kUnavailable);
  EXPECT_EQ(client->stats().timeouts, 3u);

  server->Resume();
  ASSERT_TRUE(Ready(*client)) << client->last_error().message;
  auto after = Cmd(*client, {"GET", "paused"});
  ASSERT_TRUE(after.ok()) << after.error().message;
}

TEST_P(RedisTransportTest, CommandsOverThePendingBoundFailAtOnce) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RedisOptions o = Options();
  o.timeout = milliseconds(300);
  o.max_pending = 4;
  o.broken_after_timeouts = 100;
  auto client = Connect(*server, o);
  server->Pause();
  std::vector<std::optional<RedisResult>> results(6);
  for (auto& result : results) Spawn(io_, client->Command({"PING"}), &result);
  ASSERT_TRUE(RunUntil(io_, [&] {
    return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); });
  }));
  int timeouts = 0, overloaded = 0;
  for (auto& result : results) {
    const RedisResult& r = *result;
    ASSERT_FALSE(r.ok());
    timeouts += r.error().kind == RedisErrorKind::kTimeout;
    overloaded += r.error().kind == RedisErrorKind::kOverloaded;
  }
  EXPECT_EQ(timeouts, 4);
  EXPECT_EQ(overloaded, 2);
  server->Resume();
}

TEST_P(RedisTransportTest, AReplyOverTheLimitIsRefusedAndTheClientRecovers) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RedisOptions o = Options();
  o.max_reply_bytes = 64 * 1024;
  auto client = Connect(*server, o);
  ASSERT_TRUE(Cmd(*client, {"SET", "big", std::string(1 << 20, 'x')}).ok());
  std::vector<std::string> push = {"RPUSH", "many"};
  for (int i = 0; i < 10000; ++i) push.push_back("1");
  ASSERT_TRUE(Cmd(*client, push).ok());
  ASSERT_TRUE(Cmd(*client, {"SET", "small", "ok"}).ok());

  for (const char* key : {"big", "many"}) {
    auto r = std::string(key) == "big" ? Cmd(*client, {"GET", key})
                                       : Cmd(*client, {"LRANGE", key, "0", "-1"});
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_EQ(r.error().kind, RedisErrorKind::kReplyTooLarge) << key << ": " << r.error().message;
    ASSERT_TRUE(Ready(*client)) << client->last_error().message;
    auto small = Cmd(*client, {"GET", "small"});
    ASSERT_TRUE(small.ok()) << small.error().message;
    EXPECT_EQ(small->str, "ok");
  }
}

TEST_P(RedisTransportTest, ASubscriberHearsEveryMessageAndSubscribesAgainAfterARestart) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto publisher = Connect(*server, Options());
  RedisOptions options = Options();
  std::string error;
  ASSERT_TRUE(ParseRedisAddress(server->address(), &options, &error)) << error;
  auto subscriber = RedisClient::Create(io_.get_executor(), options);
  std::vector<std::string> heard;
  subscriber->Subscribe("verdicts", [&](std::string_view m) { heard.emplace_back(m); });
  subscriber->Start();
  ASSERT_TRUE(Ready(*subscriber)) << subscriber->last_error().message;
  // Ready means subscribed: the first PUBLISH reaches it.
  auto first = Cmd(*publisher, {"PUBLISH", "verdicts", std::string("one\0two", 7)});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->integer, 1);
  ASSERT_TRUE(RunUntil(io_, [&] { return !heard.empty(); }));
  EXPECT_EQ(heard[0], std::string("one\0two", 7));
  EXPECT_EQ(Cmd(*publisher, {"PUBLISH", "elsewhere", "x"})->integer, 0) << "one channel only";

  server->Kill();
  ASSERT_TRUE(RunUntil(io_, [&] { return !subscriber->available(); }));
  ASSERT_TRUE(server->Restart());
  ASSERT_TRUE(Ready(*subscriber)) << subscriber->last_error().message;
  ASSERT_TRUE(Ready(*publisher)) << publisher->last_error().message;
  EXPECT_TRUE(PublishUntilHeard(io_, *publisher, "verdicts", "after restart", heard));
  EXPECT_GE(subscriber->stats().reconnects, 1u);
  subscriber->Close();
  EXPECT_EQ(subscriber->state(), RedisState::kClosed);
}

INSTANTIATE_TEST_SUITE_P(Transports, RedisTransportTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Tls" : "Plain");
                         });

}  // namespace
}  // namespace infergate::shared
