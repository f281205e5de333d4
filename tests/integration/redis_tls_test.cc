// What only the Redis client's TLS transport has (the rest runs over both transports in
// redis_client_test.cc): the server's certificate verified (a wrong CA, a wrong name, a plain
// server), a host name instead of the address's IP, mutual TLS, and replies spread over many
// TLS records and reads.
#include <gtest/gtest.h>

#include <optional>

#include "infergate/shared/redis_client.h"
#include "support/pki.h"
#include "support/redis_server.h"
#include "support/redis_test_util.h"

namespace infergate::shared {
namespace {

using testing::Pki;
using testing::RedisServer;
using namespace infergate::shared::test;  // NOLINT: test helpers

using RedisTlsTest = RedisTransportTest;  // instantiated with TLS only

// Runs until `client` has failed at least twice (so last_error is settled) without being ready.
bool FailsTwice(asio::io_context& io, RedisClient& client) {
  return RunUntil(io, [&] { return client.stats().reconnects >= 2; }) && !client.available();
}

TEST_P(RedisTlsTest, LargeRepliesAndManyCommandsInFlightKeepTheirOrder) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RedisOptions o = Options();
  o.server_name = "localhost";  // a host name instead of the address's IP
  auto client = Connect(*server, o);
  ASSERT_TRUE(client->available()) << client->last_error().message;
  const std::string big(300 * 1024, 'x');  // many TLS records, many reads
  ASSERT_TRUE(Cmd(*client, {"SET", "big", big}).ok());
  auto got = Cmd(*client, {"GET", "big"});
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->str, big);
  std::vector<std::optional<RedisResult>> results(20);
  for (auto& result : results) Spawn(io_, client->Command({"INCR", "counter"}), &result);
  ASSERT_TRUE(RunUntil(io_, [&] { return results.back().has_value(); }));
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i] && results[i]->ok());
    EXPECT_EQ((*results[i])->integer, static_cast<long long>(i + 1));
  }
}

TEST_P(RedisTlsTest, AServerTheCaDoesNotVouchForIsRefused) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  Pki other;
  ASSERT_TRUE(other.ok());
  RedisOptions o = Options();
  o.ca_file = other.ca;
  auto client = Make(*server, o);
  client->Start();
  ASSERT_TRUE(FailsTwice(io_, *client));
  EXPECT_EQ(client->last_error().kind, RedisErrorKind::kUnavailable);
  EXPECT_EQ(client->last_error().message.find("TLS: certificate verify failed: "), 0u)
      << client->last_error().message;
  auto r = Cmd(*client, {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, RedisErrorKind::kUnavailable);
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos);

  RedisOptions misnamed = Options();
  misnamed.server_name = "redis.elsewhere.test";
  auto wrong_name = Make(*server, misnamed);
  wrong_name->Start();
  ASSERT_TRUE(FailsTwice(io_, *wrong_name));
  EXPECT_EQ(wrong_name->last_error().message.find("TLS: certificate verify failed: "), 0u)
      << wrong_name->last_error().message;
}

TEST_P(RedisTlsTest, APlainServerIsNeverSpokenToInClear) {
  auto server = RedisServer::Start({"--requirepass", "secret-in-clear"});
  ASSERT_NE(server, nullptr);
  RedisOptions o = Options();
  o.password = "secret-in-clear";
  o.connect_timeout = std::chrono::milliseconds(300);
  auto client = Make(*server, o);
  client->Start();
  ASSERT_TRUE(FailsTwice(io_, *client));
  EXPECT_EQ(client->last_error().message.find("TLS: "), 0u) << client->last_error().message;
}

TEST_P(RedisTlsTest, MutualTlsNeedsTheClientCertificate) {
  ASSERT_TRUE(Certificates());
  RedisServer::Tls mutual = ServerTls();
  mutual.require_client_cert = true;
  auto server = RedisServer::StartTls(mutual);
  ASSERT_NE(server, nullptr);
  auto without = Make(*server, Options());
  without->Start();
  ASSERT_TRUE(FailsTwice(io_, *without));
  EXPECT_FALSE(without->last_error().message.empty());

  auto leaf = pki_->Issue("gateway", "infergate", "DNS:infergate.test");
  ASSERT_TRUE(leaf);
  RedisOptions o = Options();
  o.cert_file = leaf->cert;
  o.key_file = leaf->key;
  auto with = Connect(*server, o);
  ASSERT_TRUE(with->available()) << with->last_error().message;
  EXPECT_EQ(Cmd(*with, {"PING"})->str, "PONG");
}

INSTANTIATE_TEST_SUITE_P(Transports, RedisTlsTest, ::testing::Values(true),
                         [](const ::testing::TestParamInfo<bool>&) { return std::string("Tls"); });

}  // namespace
}  // namespace infergate::shared
