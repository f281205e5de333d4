// shared_state.redis: the Redis-backed rate store in place of the process's own.
#include "server/shared_rates.h"

#include "infergate/isolation/redis_rate_store.h"
#include "infergate/shared/redis_types.h"

namespace infergate::server {

std::string UseSharedRates(const config::Config& config, observability::Registry& registry,
                           isolation::StateRegistry& state) {
  const std::optional<config::RedisConfig>& redis = config.shared_state.redis;
  if (!redis) return {};
  isolation::RedisRateStoreOptions options;
  const std::string& host = redis->address.host;
  const std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                              ":" + std::to_string(redis->address.port);
  std::string why;
  if (!shared::ParseRedisAddress(address, &options.redis, &why)) {
    return "shared_state.redis.address: " + why;
  }
  options.redis.timeout = std::chrono::duration_cast<shared::Millis>(redis->timeout);
  if (!redis->password_env.empty()) {
    Expected<std::string, std::string> password = shared::ReadPasswordEnv(redis->password_env);
    if (!password.ok()) return "shared_state.redis.password_env: " + password.error();
    options.redis.password = std::move(*password);
  }
  options.local_share = config.shared_state.local_share;
  state.UseRates(std::make_unique<isolation::RedisRateStore>(std::move(options), &registry));
  return {};
}

}  // namespace infergate::server
