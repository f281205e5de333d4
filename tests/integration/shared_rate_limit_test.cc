// Integration: a rate limit shared by two gateway instances through a real redis-server
// (shared_state.redis), and the local fallback while Redis is killed or stopped.
//
// The scheme (README "Rate limits", "Several instances"): each cell leases batches of 10% of its
// limit (3 units of 30/min) from a GCRA counter in Redis and spends them locally; while a lease
// is on its way, up to a batch more is taken on credit. So the fleet admits at most the GCRA
// limit (the burst of 30 plus one unit per 2 s of the test's run) plus a batch per instance.
// Units leased and not spent (at most a batch per instance) are lost to the count, so at least
// 30 - 2 * 3 of the burst are admitted, less a few takes that find both the allowance and the
// credit spent while the next lease is on the way.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "support/gateway.h"
#include "support/json.h"
#include "support/mock_server.h"
#include "support/pki.h"
#include "support/redis_server.h"

namespace infergate::testing {
namespace {

// printf %s acme-key | sha256sum
constexpr const char* kAcmeHash =
    "afacab3575137afa4e00d9cbcafcb14c9ae25f779d964eb0ea5b2c4eb5dfd163";
const Headers kAcme = {{"authorization", "Bearer acme-key"}};
constexpr int kLimit = 30;
constexpr int kBatch = 3;
constexpr int kInstances = 2;
// Fewer than the limit may be admitted: units leased and not spent (a batch per instance) stay
// counted, and a take that finds the allowance and the credit spent while a lease is on its
// way is refused; under a loaded machine (sanitizers, CI) leases take longer. The upper bounds
// are the property; this one only says the limiter does not refuse most of what it should take.
constexpr int kLowerBound = kLimit / 2;
// Redis's timeout in these tests: long enough that a loaded machine does not time leases out
// (which would send the instances to their local shares); a stopped Redis still only delays.

class SharedRateLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::Installed()) GTEST_SKIP() << "redis-server is not installed";
    redis_ = StartRedis();
    ASSERT_TRUE(redis_);
    mock_ = MockServer::Start({"--id", "m", "--model", "m"});
    ASSERT_TRUE(mock_);
    yaml_ =
        "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n    require_api_key: true\n"
        "admin:\n  listen: 127.0.0.1:0\npools:\n" +
        PoolYaml("main", {mock_->address()}, "    health_check: {enabled: false}\n") +
        "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n"
        "tenants:\n  - name: acme\n    api_keys_sha256: [" +
        kAcmeHash + "]\n    limits: {requests_per_minute: " + std::to_string(kLimit) +
        "}\nshared_state:\n  local_share: 0.5\n  redis: {address: " + redis_->address() +
        ", timeout: 500ms" + RedisKeys() + "}\n";
    for (auto& gw : gw_) {
      std::string why;
      gw = Gateway::Start(yaml_, {}, &why);
      ASSERT_TRUE(gw) << why;
      ASSERT_EQ(gw->WaitForMetric("infergate_shared_state_available", "", 1), 1);
    }
  }

  virtual std::unique_ptr<RedisServer> StartRedis() { return RedisServer::Start(); }
  // More keys of shared_state.redis (", key: value" each).
  virtual std::string RedisKeys() { return ""; }

  // `n` requests alternating between the instances; the admitted count. Every answer is a 200
  // or a 429: the limiter never makes a request fail or wait on Redis.
  int Send(int n) {
    HttpClient c0(gw_[0]->port());
    HttpClient c1(gw_[1]->port());
    int admitted = 0;
    for (int i = 0; i < n; ++i) {
      HttpResponse r = (i % 2 == 0 ? c0 : c1).Post("/v1/chat/completions", ChatBody("m"), kAcme);
      EXPECT_TRUE(r.status == 200 || r.status == 429) << i << ": " << r.status << " " << r.body;
      if (r.status == 200) ++admitted;
    }
    return admitted;
  }

  // What the GCRA limit admits over `elapsed` (the burst plus one unit per emission interval),
  // plus what each instance may take on credit while a lease is on its way (a batch).
  static int FleetBound(std::chrono::steady_clock::duration elapsed) {
    return kLimit + 1 + static_cast<int>(elapsed / std::chrono::seconds(60 / kLimit)) +
           kBatch * kInstances;
  }

  // Twice the limit's requests: the fleet admits about the limit, not twice it.
  void SendTwiceTheLimit() {
    const auto start = std::chrono::steady_clock::now();
    const int admitted = Send(2 * kLimit);
    const int bound = FleetBound(std::chrono::steady_clock::now() - start);
    EXPECT_LE(admitted, bound);
    EXPECT_GE(admitted, kLowerBound);
  }

  std::string yaml_;
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<MockServer> mock_;
  std::unique_ptr<Gateway> gw_[kInstances];
};

TEST_F(SharedRateLimitTest, ALimitOfThirtyAdmitsAboutThirtyAcrossBothInstances) {
  SendTwiceTheLimit();
}

// The same fleet over TLS, and mutual TLS: redis-server with TLS only and client certificates
// required; each instance's shared_state.redis.tls names the CA and its client certificate. SetUp
// waits until both instances report Redis available, so both connected over mutual TLS.
class SharedRateLimitTlsTest : public SharedRateLimitTest {
 protected:
  std::unique_ptr<RedisServer> StartRedis() override {
    if (!pki_.ok()) return nullptr;
    auto server = pki_.Issue("redis", "localhost", "DNS:localhost,IP:127.0.0.1");
    client_ = pki_.Issue("gateway", "infergate", "DNS:infergate.test");
    if (!server || !client_) return nullptr;
    return RedisServer::StartTls({pki_.ca, server->cert, server->key, true});
  }
  std::string RedisKeys() override {
    return ", tls: {ca: " + pki_.ca + ", client_certificate: " + client_->cert +
           ", client_private_key: " + client_->key + "}";
  }
  Pki pki_;
  std::optional<Pki::Leaf> client_;
};

TEST_F(SharedRateLimitTlsTest, ALimitOfThirtyAdmitsAboutThirtyAcrossBothInstancesOverTls) {
  SendTwiceTheLimit();
}

TEST_F(SharedRateLimitTest, AReloadKeepsTheSharedCount) {
  const auto start = std::chrono::steady_clock::now();
  int admitted = Send(kLimit / 2);
  // The same limit after a reload of each instance: the cells (and their leases) are kept.
  for (auto& gw : gw_) {
    ASSERT_TRUE(gw->RewriteConfig(yaml_));
    HttpResponse r = gw->AdminReload();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.find("shared_state"), std::string::npos) << r.body;
  }
  admitted += Send(2 * kLimit);
  // shared_state is read at start: a reload that changes it is applied without it, and says so.
  std::string changed = yaml_;
  changed.replace(changed.find("local_share: 0.5"), 16, "local_share: 0.9");
  ASSERT_TRUE(gw_[0]->RewriteConfig(changed));
  HttpResponse r = gw_[0]->AdminReload();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("shared_state: changing it needs a restart"), std::string::npos) << r.body;
  EXPECT_LE(admitted, FleetBound(std::chrono::steady_clock::now() - start));
  EXPECT_GE(admitted, kLowerBound);
}

TEST_F(SharedRateLimitTest, RedisKilledBothServeOnLocalSharesThenRejoinWhenItReturns) {
  EXPECT_EQ(Send(4), 4);
  redis_->Kill();
  for (auto& gw : gw_) {
    EXPECT_EQ(gw->WaitForMetric("infergate_shared_state_available", "", 0), 0);
  }
  // Local shares: 15 each (local_share 0.5), less what each took before; then refused.
  const int local = Send(2 * kLimit);
  // Serving goes on (the takes that find a lease on its way when Redis died are refused until
  // the lease fails; README "Redis down"), within the local shares.
  EXPECT_GE(local, 2);
  EXPECT_LE(local, kLimit);
  // One warning per instance for the outage (at most one per 30 s), none before it.
  const std::string warning = "shared_state: Redis unreachable";
  for (auto& gw : gw_) {
    EXPECT_TRUE(gw->process().WaitForOutput(warning, std::chrono::seconds(5)));
    const std::string out = gw->process().Output();
    EXPECT_EQ(out.find(warning, out.find(warning) + 1), std::string::npos) << out;
  }
  ASSERT_TRUE(redis_->Restart());
  for (auto& gw : gw_) {
    EXPECT_EQ(
        gw->WaitForMetric("infergate_shared_state_available", "", 1, std::chrono::seconds(15)), 1);
  }
  for (auto& gw : gw_) {
    EXPECT_TRUE(gw->process().WaitForOutput("Redis reachable again", std::chrono::seconds(5)));
  }
  // Redis came back empty: the shared count starts full again, and holds the fleet to it.
  const auto start = std::chrono::steady_clock::now();
  const int shared = Send(2 * kLimit + 10);
  EXPECT_LE(shared, FleetBound(std::chrono::steady_clock::now() - start));
  EXPECT_GE(shared, kLowerBound);
}

TEST_F(SharedRateLimitTest, RedisStoppedRequestsAreStillAnswered) {
  EXPECT_EQ(Send(4), 4);
  redis_->Pause();
  // Every request gets its answer (Send checks 200 or 429); the limiter falls back locally.
  EXPECT_GT(Send(20), 0);
  redis_->Resume();
  for (auto& gw : gw_) {
    EXPECT_EQ(
        gw->WaitForMetric("infergate_shared_state_available", "", 1, std::chrono::seconds(15)), 1);
  }
  // Each instance serves again: its next lease (or its local share's refill) admits a request
  // within a few seconds; every answer meanwhile is a 200 or a 429.
  for (int i = 0; i < kInstances; ++i) {
    HttpClient c(gw_[i]->port());
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    int status = 0;
    while (status != 200 && std::chrono::steady_clock::now() < until) {
      status = c.Post("/v1/chat/completions", ChatBody("m"), kAcme).status;
      ASSERT_TRUE(status == 200 || status == 429) << status;
      if (status != 200) gw_[i]->WaitForMetric("infergate_shared_state_available", "", 1);
    }
    EXPECT_EQ(status, 200) << "instance " << i;
  }
}

// Tokens likewise: a shared 600 tokens/min, charged from the mock's usage (its prompt count plus
// 10 completion tokens per answer), admits about 600 tokens' worth of requests across both
// instances, not twice that.
TEST(SharedTokenLimit, ATokenLimitIsSharedByBothInstances) {
  if (!RedisServer::Installed()) GTEST_SKIP() << "redis-server is not installed";
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis);
  auto mock = MockServer::Start({"--id", "m", "--model", "m", "--tokens", "10"});
  ASSERT_TRUE(mock);
  constexpr int kTokens = 600;
  const std::string yaml =
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n    require_api_key: true\n"
      "admin:\n  listen: 127.0.0.1:0\npools:\n" +
      PoolYaml("main", {mock->address()}, "    health_check: {enabled: false}\n") +
      "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n"
      "tenants:\n  - name: acme\n    api_keys_sha256: [" +
      kAcmeHash + "]\n    limits: {tokens_per_minute: " + std::to_string(kTokens) +
      "}\nshared_state:\n  local_share: 0.5\n  redis: {address: " + redis->address() +
      ", timeout: 500ms}\n";
  std::unique_ptr<Gateway> gw[kInstances];
  for (auto& g : gw) {
    std::string why;
    g = Gateway::Start(yaml, {}, &why);
    ASSERT_TRUE(g) << why;
    ASSERT_EQ(g->WaitForMetric("infergate_shared_state_available", "", 1), 1);
  }
  const std::string body =
      R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hello"}]})";
  HttpClient c0(gw[0]->port());
  HttpClient c1(gw[1]->port());
  const auto start = std::chrono::steady_clock::now();
  int admitted = 0;
  int64_t charged = 0;  // the answers' total_tokens
  for (int i = 0; i < 120; ++i) {
    HttpResponse r = (i % 2 == 0 ? c0 : c1).Post("/v1/chat/completions", body, kAcme);
    ASSERT_TRUE(r.status == 200 || r.status == 429) << i << ": " << r.status << " " << r.body;
    if (r.status != 200) continue;
    ++admitted;
    charged += JsonInt(r.body, "/usage/total_tokens").value_or(0);
  }
  ASSERT_GT(admitted, 0);
  const int64_t per_request = charged / admitted;
  ASSERT_GT(per_request, 10);
  // What the fleet's GCRA allows over the run (600 plus 10 a second), plus what the estimates
  // miss: requests are admitted on an estimate (the messages' 35 bytes / 4, rounded up, plus
  // max_tokens: 19) and their real counts are sent to Redis with the next lease, so each
  // instance may spend a batch (60 tokens) plus what was left of the one before (under half a
  // batch) at the estimate before its corrections land, each request then costing
  // (real - estimate) more than was taken.
  constexpr int64_t kEstimate = 19;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Plus a batch per instance taken on credit while a lease is on its way.
  const int64_t miss = kInstances * 60 + kInstances * (60 / kEstimate + 2) *
                                             std::max<int64_t>(0, per_request - kEstimate);
  EXPECT_LE(charged, kTokens + static_cast<int64_t>(elapsed * kTokens / 60) + miss)
      << admitted << " requests of " << per_request << " tokens";
  // Unspent leases (a batch of 60 per instance) are lost to the count, no more.
  EXPECT_GE(charged, kTokens - 2 * 60 - 4 * per_request) << admitted << " requests";
}

TEST(SharedRateLimitStart, AnUnsetPasswordVariableStopsTheStartNamingIt) {
  const std::string yaml =
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\npools:\n" +
      PoolYaml("main", {"127.0.0.1:9"}, "    health_check: {enabled: false}\n") +
      "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n"
      "shared_state:\n  redis: {address: 127.0.0.1:6379, password_env: "
      "INFERGATE_TEST_UNSET_REDIS_PASSWORD}\n";
  ::unsetenv("INFERGATE_TEST_UNSET_REDIS_PASSWORD");
  std::string why;
  EXPECT_FALSE(Gateway::Start(yaml, {}, &why));
  EXPECT_NE(why.find("INFERGATE_TEST_UNSET_REDIS_PASSWORD"), std::string::npos) << why;
}

}  // namespace
}  // namespace infergate::testing
