// The message gateway instances exchange about backends on the Redis channel of
// shared_state.verdicts (README "Shared verdicts"): one instance convicted a backend, or no longer
// does. JSON, so an operator can read it with `redis-cli SUBSCRIBE infergate:verdicts`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace infergate::upstream {

inline constexpr std::string_view kVerdictChannel = "infergate:verdicts";
// A message longer than this is not ours (pool and backend names are short): dropped unread.
inline constexpr size_t kMaxVerdictBytes = 4096;

struct SharedVerdict {
  std::string from;     // the instance that publishes (InstanceId())
  std::string pool;     // pool name
  std::string backend;  // backend name (host:port), as in every instance's config
  bool down = true;     // convicted (true) or cleared (false)
  std::string reason;   // "phi", "breaker_open,ejected", ...; for logs
};

std::string EncodeVerdict(const SharedVerdict& verdict);
// nullopt for anything else: malformed JSON, a missing field, another version, too long.
std::optional<SharedVerdict> DecodeVerdict(std::string_view message);

// This process's name on the channel: "host:pid:random", unique per start.
std::string InstanceId();

}  // namespace infergate::upstream
