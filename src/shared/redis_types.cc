// Address parsing, the password from the environment, and names of the Redis client's enums.
#include <arpa/inet.h>

#include <cstdlib>
#include <string>

#include "infergate/shared/redis_types.h"

namespace infergate::shared {

bool ParseRedisAddress(std::string_view address, RedisOptions* options, std::string* error) {
  std::string host;
  std::string_view port_text;
  if (address.starts_with('[')) {
    const auto close = address.find(']');
    if (close == std::string_view::npos) {
      *error = "unclosed '[' in redis address";
      return false;
    }
    host = std::string(address.substr(1, close - 1));
    const auto rest = address.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        *error = "expected ':' after ']' in redis address";
        return false;
      }
      port_text = rest.substr(1);
    }
  } else if (address.find(':') != address.rfind(':')) {
    host = std::string(address);  // a bare IPv6 address: the port needs brackets
  } else {
    const auto colon = address.rfind(':');
    host = std::string(address.substr(0, colon));
    if (colon != std::string_view::npos) port_text = address.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  // An IP literal only: a name would make hiredis resolve it with a blocking getaddrinfo on the
  // event loop.
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1) {
    *error = "redis address '" + std::string(address) +
             "': the host must be an IP address (names are not resolved)";
    return false;
  }
  unsigned port = 6379;
  if (!port_text.empty() || address.ends_with(':')) {
    port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) {
        port = 0;
        break;
      }
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) {
      *error = "redis address '" + std::string(address) + "': bad port";
      return false;
    }
  }
  options->host = std::move(host);
  options->port = static_cast<uint16_t>(port);
  return true;
}

Expected<std::string, std::string> ReadPasswordEnv(const std::string& name) {
  const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') {
    return MakeUnexpected("environment variable " + name +
                          " (redis password_env) is unset or empty");
  }
  return std::string(value);
}

std::string_view RedisErrorKindName(RedisErrorKind kind) {
  switch (kind) {
    case RedisErrorKind::kUnavailable:
      return "unavailable";
    case RedisErrorKind::kTimeout:
      return "timeout";
    case RedisErrorKind::kOverloaded:
      return "overloaded";
    case RedisErrorKind::kConnectionLost:
      return "connection_lost";
    case RedisErrorKind::kReplyTooLarge:
      return "reply_too_large";
    case RedisErrorKind::kServerError:
      return "server_error";
    case RedisErrorKind::kAuthFailed:
      return "auth_failed";
    case RedisErrorKind::kProtocol:
      return "protocol";
  }
  return "unknown";
}

std::string_view RedisStateName(RedisState state) {
  switch (state) {
    case RedisState::kConnecting:
      return "connecting";
    case RedisState::kReady:
      return "ready";
    case RedisState::kBroken:
      return "broken";
    case RedisState::kClosed:
      return "closed";
  }
  return "unknown";
}

}  // namespace infergate::shared
