// shared_state.redis: the Redis-backed rate store in place of the process's own, and the shared
// backend verdicts.
#pragma once

#include <string>

#include "infergate/config/config.h"
#include "infergate/isolation/runtime.h"
#include "infergate/observability/metrics.h"
#include "infergate/shared/redis_types.h"
#include "infergate/upstream/health_controller.h"

namespace infergate::server {

// The connection settings of shared_state.redis, the password read from its variable. An error
// (the variable unset, naming it) stops the start.
Expected<shared::RedisOptions, std::string> SharedRedisOptions(const config::RedisConfig& redis);

// When the config sets shared_state.redis, puts a RedisRateStore in `state` (before the first
// snapshot is built) and has `health` share verdicts (unless shared_state.verdicts is off). Call
// before the health controller starts.
std::string UseSharedState(const config::Config& config, observability::Registry& registry,
                           isolation::StateRegistry& state, upstream::HealthController& health);

}  // namespace infergate::server
