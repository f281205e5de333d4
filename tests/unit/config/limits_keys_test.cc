// The rate-limit keys: limits on tenants, API keys (item form, inheriting the tenant's), routes
// and models, shared_state.redis, and their positioned errors.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

#define HASH_A "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define HASH_B "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"

TEST(LimitsKeys, AbsentMeansNoLimits) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
tenants: [{name: t, api_keys_sha256: [)" HASH_A R"(]}]
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->tenants[0].limits);
  EXPECT_TRUE(config->tenants[0].key_limits.empty());
  EXPECT_FALSE(config->routes[0].limits);
  EXPECT_TRUE(config->model_limits.empty());
  EXPECT_FALSE(config->shared_state.redis);
}

TEST(LimitsKeys, EveryScope) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes:
  - name: chat
    to: p
    limits: {requests_per_minute: 10000}
tenants:
  - name: acme
    limits: {requests_per_minute: 600, tokens_per_minute: 200000, output_tokens_per_minute: 50000}
    api_keys_sha256:
      - )" HASH_A R"(
      - {sha256: )" HASH_B R"(, limits: {requests_per_minute: 60, shadow: true}}
model_limits:
  - {model: gpt-4o, limits: {tokens_per_minute: 1000}}
shared_state:
  local_share: 0.5
  redis: {address: 10.0.0.5:6379, password_env: REDIS_PASSWORD, timeout: 20ms, tls: false}
)"));
  ASSERT_NE(config, nullptr);
  const TenantConfig& t = config->tenants[0];
  ASSERT_TRUE(t.limits);
  EXPECT_EQ(t.limits->requests_per_minute, 600u);
  EXPECT_EQ(t.limits->tokens_per_minute, 200000u);
  EXPECT_EQ(t.limits->output_tokens_per_minute, 50000u);
  EXPECT_FALSE(t.limits->shadow);
  ASSERT_EQ(t.api_key_sha256.size(), 2u);
  ASSERT_EQ(t.key_limits.size(), 1u);
  EXPECT_EQ(t.key_limits[0].sha256, HASH_B);
  // The key sets its own requests and shadow; tokens are its tenant's.
  EXPECT_EQ(t.key_limits[0].limits.requests_per_minute, 60u);
  EXPECT_EQ(t.key_limits[0].limits.tokens_per_minute, 200000u);
  EXPECT_EQ(t.key_limits[0].limits.output_tokens_per_minute, 50000u);
  EXPECT_TRUE(t.key_limits[0].limits.shadow);
  ASSERT_TRUE(config->routes[0].limits);
  EXPECT_EQ(config->routes[0].limits->requests_per_minute, 10000u);
  EXPECT_EQ(config->routes[0].limits->tokens_per_minute, 0u);
  ASSERT_EQ(config->model_limits.size(), 1u);
  EXPECT_EQ(config->model_limits[0].model, "gpt-4o");
  EXPECT_EQ(config->model_limits[0].limits.tokens_per_minute, 1000u);
  ASSERT_TRUE(config->shared_state.redis);
  EXPECT_EQ(config->shared_state.local_share, 0.5);
  const RedisConfig& r = *config->shared_state.redis;
  EXPECT_EQ(r.address.host, "10.0.0.5");
  EXPECT_EQ(r.address.port, 6379);
  EXPECT_EQ(r.password_env, "REDIS_PASSWORD");
  EXPECT_EQ(r.timeout, 20ms);
  EXPECT_FALSE(r.tls);
}

// shared_state.redis.tls as the config reads it, given the YAML of its value.
std::optional<PoolTlsConfig> RedisTls(const std::string& tls) {
  const std::string yaml = R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state: {redis: {address: "10.0.0.5:6380", tls: )" +
                           tls + "}}\n";
  auto config = LoadOk(Yaml(yaml.c_str()));
  EXPECT_NE(config, nullptr);
  if (config == nullptr || !config->shared_state.redis) return std::nullopt;
  return config->shared_state.redis->tls;
}

TEST(LimitsKeys, RedisTlsTrueFalseOrAPoolsTlsKeys) {
  EXPECT_FALSE(RedisTls("false"));
  std::optional<PoolTlsConfig> defaults = RedisTls("true");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->ca, "");           // the system store
  EXPECT_EQ(defaults->server_name, "");  // the address's host
  EXPECT_EQ(defaults->client_certificate, "");
  EXPECT_FALSE(defaults->insecure_skip_verify);
  std::optional<PoolTlsConfig> block =
      RedisTls("{server_name: Redis.Internal, min_version: \"1.3\"}");
  ASSERT_TRUE(block);
  EXPECT_EQ(block->server_name, "redis.internal");
  EXPECT_TRUE(block->tls13_only);
}

TEST(LimitsKeys, RedisDefaults) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state: {redis: {address: "redis.internal:6379"}}
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_TRUE(config->shared_state.redis);
  EXPECT_EQ(config->shared_state.redis->timeout, 50ms);
  EXPECT_EQ(config->shared_state.local_share, 1.0);
  EXPECT_FALSE(config->shared_state.redis->tls);
  EXPECT_EQ(config->shared_state.redis->password_env, "");
  EXPECT_TRUE(config->shared_state.verdicts.enabled);
  EXPECT_EQ(config->shared_state.verdicts.hold, 10s);
  EXPECT_EQ(config->shared_state.verdicts.quiet, 60s);
}

TEST(LimitsKeys, SharedVerdicts) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis: {address: "10.0.0.5:6379"}
  verdicts: {enabled: false, hold: 3s, quiet: 0s}
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->shared_state.verdicts.enabled);
  EXPECT_EQ(config->shared_state.verdicts.hold, 3s);
  EXPECT_EQ(config->shared_state.verdicts.quiet, 0s);
}

class LimitsKeyErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(LimitsKeyErrors, Positioned) { ExpectErrorCase(GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Cases, LimitsKeyErrors,
    ::testing::Values(
        ErrorCase{"ZeroLimit", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p, limits: {requests_per_minute: 0}}]
)",
                  3, 57, "routes[0].limits.requests_per_minute", "out of range"},
        ErrorCase{"UnknownKey", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
tenants:
  - name: t
    limits: {request_per_minute: 5}
)",
                  6, 14, "tenants[0].limits.request_per_minute", "unknown key"},
        ErrorCase{"EmptyLimits", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
tenants:
  - name: t
    limits: {}
)",
                  6, 13, "tenants[0].limits", "sets no limit"},
        ErrorCase{"KeyItemWithoutHash", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
tenants:
  - name: t
    api_keys_sha256:
      - {limits: {requests_per_minute: 5}}
)",
                  7, 9, "tenants[0].api_keys_sha256[0]", "missing required key \"sha256\""},
        ErrorCase{"KeyItemBadHash", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
tenants:
  - name: t
    api_keys_sha256:
      - {sha256: abc, limits: {requests_per_minute: 5}}
)",
                  7, 18, "tenants[0].api_keys_sha256[0].sha256", "SHA-256"},
        ErrorCase{"ModelTwice", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
model_limits:
  - {model: m, limits: {requests_per_minute: 5}}
  - {model: m, limits: {requests_per_minute: 6}}
)",
                  6, 13, "model_limits[1].model", "already has limits (line 5)"},
        ErrorCase{"ModelWithoutLimits", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
model_limits:
  - {model: m}
)",
                  5, 5, "model_limits[0]", "missing required key \"limits\""},
        ErrorCase{"RedisAddressWithoutPort", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis: {address: 10.0.0.5}
)",
                  5, 20, "shared_state.redis.address", "HOST:PORT"},
        ErrorCase{"RedisPasswordInConfig", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis: {address: "10.0.0.5:6379", password_env: "hunter2!"}
)",
                  5, 51, "shared_state.redis.password_env", "not an environment variable name"},
        ErrorCase{"RedisTimeoutTooLong", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis: {address: "10.0.0.5:6379", timeout: 1m}
)",
                  5, 46, "shared_state.redis.timeout", "at most 10s"},
        ErrorCase{"RedisMissingAddress", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis: {tls: false}
)",
                  5, 10, "shared_state.redis", "missing required key \"address\""},
        ErrorCase{"VerdictsHoldZero", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis: {address: "10.0.0.5:6379"}
  verdicts: {hold: 0s}
)",
                  6, 20, "shared_state.verdicts.hold", "greater than 0"},
        ErrorCase{"VerdictsUnknownKey", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis: {address: "10.0.0.5:6379"}
  verdicts: {hold: 1s, ttl: 5s}
)",
                  6, 24, "shared_state.verdicts.ttl", "allowed: enabled, hold, quiet"},
        ErrorCase{"RedisTlsNotABool", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis: {address: "10.0.0.5:6379", tls: yes please}
)",
                  5, 42, "shared_state.redis.tls", "true or false"},
        ErrorCase{"RedisTlsCaUnreadable", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis:
    address: "10.0.0.5:6379"
    tls:
      ca: /nonexistent/redis-ca.pem
)",
                  8, 11, "shared_state.redis.tls.ca", "cannot read \"/nonexistent/redis-ca.pem\""},
        ErrorCase{"RedisTlsCertificateWithoutKey", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis:
    address: "10.0.0.5:6379"
    tls: {client_certificate: /etc/hostname}
)",
                  7, 31, "shared_state.redis.tls.client_certificate",
                  "needs client_private_key too"},
        ErrorCase{"RedisTlsUnknownKey", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  redis:
    address: "10.0.0.5:6379"
    tls: {ca_file: /etc/ssl/certs/ca-certificates.crt}
)",
                  7, 11, "shared_state.redis.tls.ca_file", "unknown key"},
        ErrorCase{"LocalShareZero", R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
shared_state:
  local_share: 0
  redis: {address: "10.0.0.5:6379"}
)",
                  5, 16, "shared_state.local_share", "greater than 0 and at most 1"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace infergate::config
