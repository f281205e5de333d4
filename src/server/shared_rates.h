// shared_state.redis: the Redis-backed rate store in place of the process's own.
#pragma once

#include <string>

#include "infergate/config/config.h"
#include "infergate/isolation/runtime.h"
#include "infergate/observability/metrics.h"

namespace infergate::server {

// When the config sets shared_state.redis, puts a RedisRateStore in `state` (before the first
// snapshot is built). An error (the password variable unset, naming it) stops the start.
std::string UseSharedRates(const config::Config& config, observability::Registry& registry,
                           isolation::StateRegistry& state);

}  // namespace infergate::server
