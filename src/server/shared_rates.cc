// shared_state.redis: the Redis-backed rate store in place of the process's own, and the shared
// backend verdicts.
#include "server/shared_rates.h"

#include "infergate/isolation/redis_rate_store.h"
#include "infergate/shared/redis_client.h"
#include "infergate/shared/redis_types.h"

namespace infergate::server {

Expected<shared::RedisOptions, std::string> SharedRedisOptions(const config::RedisConfig& redis) {
  shared::RedisOptions options;
  const std::string& host = redis.address.host;
  const std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                              ":" + std::to_string(redis.address.port);
  std::string why;
  if (!shared::ParseRedisAddress(address, &options, &why)) {
    return MakeUnexpected("shared_state.redis.address: " + why);
  }
  options.timeout = std::chrono::duration_cast<shared::Millis>(redis.timeout);
  if (redis.tls) {
    options.tls = true;
    options.ca_file = redis.tls->ca;
    options.server_name = redis.tls->server_name;
    options.cert_file = redis.tls->client_certificate;
    options.key_file = redis.tls->client_private_key;
    options.tls13_only = redis.tls->tls13_only;
    options.verify = !redis.tls->insecure_skip_verify;
    // Once, here at startup, for every client of the process (rate store, verdicts).
    auto context = shared::RedisClient::LoadTlsContext(options);
    if (!context.ok()) return MakeUnexpected("shared_state.redis.tls: " + context.error());
    options.tls_context = std::move(*context);
  }
  if (!redis.password_env.empty()) {
    Expected<std::string, std::string> password = shared::ReadPasswordEnv(redis.password_env);
    if (!password.ok())
      return MakeUnexpected("shared_state.redis.password_env: " + password.error());
    options.password = std::move(*password);
  }
  return options;
}

std::string UseSharedState(const config::Config& config, observability::Registry& registry,
                           isolation::StateRegistry& state, upstream::HealthController& health) {
  const std::optional<config::RedisConfig>& redis = config.shared_state.redis;
  if (!redis) return {};
  Expected<shared::RedisOptions, std::string> options = SharedRedisOptions(*redis);
  if (!options.ok()) return options.error();
  isolation::RedisRateStoreOptions rates;
  rates.redis = *options;
  rates.local_share = config.shared_state.local_share;
  state.UseRates(std::make_unique<isolation::RedisRateStore>(std::move(rates), &registry));
  health.ShareVerdicts(*options, config.shared_state.verdicts);
  return {};
}

}  // namespace infergate::server
