// The Redis client's TLS transport (hiredis's reader and formatter over OpenSSL) against a real
// redis-server with TLS only: round trips, AUTH, the server's certificate verified (a wrong CA,
// a wrong name, a plain server), mutual TLS, and the failure modes the limiter relies on (killed
// and restarted, paused, a reply too large), and a subscriber. Errors are asserted by kind and
// message, never by how long they took.
#include <gtest/gtest.h>

#include <optional>

#include "infergate/shared/redis_client.h"
#include "infergate/shared/redis_script.h"
#include "support/pki.h"
#include "support/redis_server.h"
#include "support/redis_test_util.h"

namespace infergate::shared {
namespace {

using std::chrono::milliseconds;
using testing::Pki;
using testing::RedisServer;
using namespace infergate::shared::test;  // NOLINT: test helpers

class RedisTlsTest : public RedisClientTest {
 protected:
  void SetUp() override {
    RedisClientTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(pki_.ok()) << "openssl could not make the test certificates";
    // Names both ways the client may verify: the address's IP (the default) and a host name.
    auto leaf = pki_.Issue("redis", "localhost", "DNS:localhost,IP:127.0.0.1");
    ASSERT_TRUE(leaf);
    tls_ = {pki_.ca, leaf->cert, leaf->key};
  }
  // Verifies the server against the test CA.
  RedisOptions Tls() const {
    RedisOptions o = Patient();
    o.tls = true;
    o.ca_file = pki_.ca;
    return o;
  }
  // Runs until the client has failed at least twice (so last_error is settled), not ready.
  bool FailsTwice(RedisClient& client) {
    return RunUntil(io_, [&] { return client.stats().reconnects >= 2; }) && !client.available();
  }

  Pki pki_;
  RedisServer::Tls tls_;
};

TEST_F(RedisTlsTest, CommandsRoundTripOverTls) {
  auto server = RedisServer::StartTls(tls_);
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server, Tls());
  ASSERT_TRUE(client->available()) << client->last_error().message;
  const std::string binary("a\0b\r\nc", 6);
  ASSERT_TRUE(Cmd(*client, {"SET", "k", binary}).ok());
  EXPECT_EQ(Cmd(*client, {"GET", "k"})->str, binary);
  EXPECT_EQ(Cmd(*client, {"GET", "missing"})->type, RedisReply::Type::kNil);
  EXPECT_EQ(Cmd(*client, {"INCRBY", "n", "5"})->integer, 5);
  // A reply that arrives in many TLS records and reads.
  const std::string big(300 * 1024, 'x');
  ASSERT_TRUE(Cmd(*client, {"SET", "big", big}).ok());
  auto got = Cmd(*client, {"GET", "big"});
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->str, big);
  auto wrong = Cmd(*client, {"INCR", "k"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind, RedisErrorKind::kServerError);
  // Commands issued together are answered in order.
  std::vector<std::optional<RedisResult>> results(20);
  for (size_t i = 0; i < results.size(); ++i) {
    Spawn(io_, client->Command({"INCR", "counter"}), &results[i]);
  }
  ASSERT_TRUE(RunUntil(io_, [&] { return results.back().has_value(); }));
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i] && results[i]->ok());
    EXPECT_EQ((*results[i])->integer, static_cast<long long>(i + 1));
  }
  // The allowance script, and its EVAL fallback once the server forgot it.
  const auto deadline = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(5); };
  auto taken =
      *RunTask(io_, TakeAllowance(*client, "rl:tls", 2, std::chrono::seconds(60), deadline()));
  ASSERT_TRUE(taken.ok()) << taken.error().message;
  EXPECT_EQ(taken->total, 2);
  ASSERT_TRUE(Cmd(*client, {"SCRIPT", "FLUSH"}).ok());
  auto again =
      *RunTask(io_, TakeAllowance(*client, "rl:tls", 1, std::chrono::seconds(60), deadline()));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->total, 3);
  client->Close();
  EXPECT_EQ(client->state(), RedisState::kClosed);
  EXPECT_EQ(Cmd(*client, {"PING"}).error().kind, RedisErrorKind::kUnavailable);
}

TEST_F(RedisTlsTest, AuthenticatesOverTls) {
  auto server = RedisServer::StartTls(tls_, {"--requirepass", "right-horse-battery"});
  ASSERT_NE(server, nullptr);
  RedisOptions good = Tls();
  good.password = "right-horse-battery";
  good.server_name = "localhost";  // a host name instead of the address's IP
  auto client = Connect(*server, good);
  EXPECT_EQ(Cmd(*client, {"PING"})->str, "PONG");

  RedisOptions bad = Tls();
  bad.password = "wrong-staple";
  auto refused = Make(*server, bad);
  refused->Start();
  ASSERT_TRUE(RunUntil(io_, [&] {
    return refused->last_error().kind == RedisErrorKind::kAuthFailed;
  })) << refused->last_error().message;
  EXPECT_FALSE(refused->available());
}

TEST_F(RedisTlsTest, AServerTheCaDoesNotVouchForIsRefused) {
  auto server = RedisServer::StartTls(tls_);
  ASSERT_NE(server, nullptr);
  Pki other;
  ASSERT_TRUE(other.ok());
  RedisOptions o = Tls();
  o.ca_file = other.ca;
  auto client = Make(*server, o);
  client->Start();
  ASSERT_TRUE(FailsTwice(*client));
  EXPECT_EQ(client->last_error().kind, RedisErrorKind::kUnavailable);
  EXPECT_EQ(client->last_error().message.find("TLS: certificate verify failed: "), 0u)
      << client->last_error().message;
  auto r = Cmd(*client, {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos);

  RedisOptions misnamed = Tls();
  misnamed.server_name = "redis.elsewhere.test";
  auto wrong_name = Make(*server, misnamed);
  wrong_name->Start();
  ASSERT_TRUE(FailsTwice(*wrong_name));
  EXPECT_EQ(wrong_name->last_error().message.find("TLS: certificate verify failed: "), 0u)
      << wrong_name->last_error().message;
}

TEST_F(RedisTlsTest, APlainServerIsNeverSpokenToInClear) {
  auto server = RedisServer::Start({"--requirepass", "secret-in-clear"});
  ASSERT_NE(server, nullptr);
  RedisOptions o = Tls();
  o.password = "secret-in-clear";
  auto client = Make(*server, o);
  client->Start();
  ASSERT_TRUE(FailsTwice(*client));
  EXPECT_EQ(client->last_error().message.find("TLS: "), 0u) << client->last_error().message;
}

TEST_F(RedisTlsTest, MutualTlsNeedsTheClientCertificate) {
  RedisServer::Tls mutual = tls_;
  mutual.require_client_cert = true;
  auto server = RedisServer::StartTls(mutual);
  ASSERT_NE(server, nullptr);
  auto without = Make(*server, Tls());
  without->Start();
  ASSERT_TRUE(FailsTwice(*without));
  EXPECT_FALSE(without->last_error().message.empty());

  auto leaf = pki_.Issue("gateway", "infergate", "DNS:infergate.test");
  ASSERT_TRUE(leaf);
  RedisOptions o = Tls();
  o.cert_file = leaf->cert;
  o.key_file = leaf->key;
  auto with = Connect(*server, o);
  ASSERT_TRUE(with->available()) << with->last_error().message;
  EXPECT_EQ(Cmd(*with, {"PING"})->str, "PONG");
}

TEST_F(RedisTlsTest, KilledThenRestartedReconnectsByItself) {
  auto server = RedisServer::StartTls(tls_);
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server, Tls());
  ASSERT_TRUE(Cmd(*client, {"SET", "before", "1"}).ok());
  server->Kill();
  ASSERT_TRUE(RunUntil(io_, [&] { return !client->available(); }));
  auto down = Cmd(*client, {"GET", "before"});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().kind, RedisErrorKind::kUnavailable) << down.error().message;
  EXPECT_EQ(client->stats().timeouts, 0u);
  ASSERT_TRUE(server->Restart());
  ASSERT_TRUE(Ready(*client)) << client->last_error().message;
  auto back = Cmd(*client, {"GET", "before"});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->type, RedisReply::Type::kNil);
  EXPECT_GE(client->stats().reconnects, 1u);
}

TEST_F(RedisTlsTest, PausedServerCommandsEndAtTheirDeadlineThenTheConnectionIsGivenUp) {
  auto server = RedisServer::StartTls(tls_);
  ASSERT_NE(server, nullptr);
  RedisOptions o = Tls();
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
  // While paused, the TLS handshake itself gets no answer: cut at connect_timeout, retried.
  const uint64_t before = client->stats().reconnects;
  ASSERT_TRUE(RunUntil(io_, [&] { return client->stats().reconnects >= before + 2; }));
  EXPECT_EQ(client->last_error().message, "TLS: handshake timed out");
  server->Resume();
  ASSERT_TRUE(Ready(*client)) << client->last_error().message;
  EXPECT_TRUE(Cmd(*client, {"GET", "paused"}).ok());
}

TEST_F(RedisTlsTest, AReplyOverTheLimitIsRefusedAndTheClientRecovers) {
  auto server = RedisServer::StartTls(tls_);
  ASSERT_NE(server, nullptr);
  RedisOptions o = Tls();
  o.max_reply_bytes = 64 * 1024;
  auto client = Connect(*server, o);
  ASSERT_TRUE(Cmd(*client, {"SET", "big", std::string(1 << 20, 'x')}).ok());
  ASSERT_TRUE(Cmd(*client, {"SET", "small", "ok"}).ok());
  auto r = Cmd(*client, {"GET", "big"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, RedisErrorKind::kReplyTooLarge) << r.error().message;
  ASSERT_TRUE(Ready(*client)) << client->last_error().message;
  EXPECT_EQ(Cmd(*client, {"GET", "small"})->str, "ok");
}

TEST_F(RedisTlsTest, ASubscriberHearsMessagesOverTls) {
  auto server = RedisServer::StartTls(tls_);
  ASSERT_NE(server, nullptr);
  auto publisher = Connect(*server, Tls());
  auto subscriber = Make(*server, Tls());
  std::vector<std::string> heard;
  subscriber->Subscribe("verdicts", [&](std::string_view m) { heard.emplace_back(m); });
  subscriber->Start();
  ASSERT_TRUE(Ready(*subscriber)) << subscriber->last_error().message;
  auto first = Cmd(*publisher, {"PUBLISH", "verdicts", "one"});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->integer, 1);  // ready means subscribed
  ASSERT_TRUE(RunUntil(io_, [&] { return !heard.empty(); }));
  EXPECT_EQ(heard[0], "one");

  server->Kill();
  ASSERT_TRUE(RunUntil(io_, [&] { return !subscriber->available(); }));
  ASSERT_TRUE(server->Restart());
  ASSERT_TRUE(Ready(*subscriber)) << subscriber->last_error().message;
  ASSERT_TRUE(Ready(*publisher)) << publisher->last_error().message;
  EXPECT_TRUE(PublishUntilHeard(io_, *publisher, "verdicts", "after restart", heard));
  subscriber->Close();
  EXPECT_EQ(subscriber->state(), RedisState::kClosed);
}

}  // namespace
}  // namespace infergate::shared
