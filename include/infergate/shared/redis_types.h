// Value types of the Redis client (src/shared/): its options (what the config's
// shared_state.redis block maps to), replies, errors and counters.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/core/expected.h"

namespace infergate::tls {
class ClientContext;  // include/infergate/tls/client_context.h
}

namespace infergate::shared {

using Millis = std::chrono::milliseconds;

// What the config's `shared_state: {redis: {address, password_env, timeout, tls}}` maps to, plus
// limits with defaults. The password itself is never in the config: the caller reads it from the
// environment variable `password_env` names (ReadPasswordEnv) and hands it here.
struct RedisOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string password;  // AUTH <password> when not empty; never logged
  int db = 0;            // SELECT db when not 0
  // TLS to Redis (RedisClient's TLS transport: hiredis's reader and formatter over OpenSSL).
  bool tls = false;
  std::string ca_file;      // PEM CA certificates the server's must chain to; "": system store
  std::string server_name;  // SNI and the name verified; "": `host` (an IP: its IP SAN)
  std::string cert_file;    // client certificate (PEM chain, leaf first), for mutual TLS
  std::string key_file;     // its unencrypted PEM key, set with cert_file
  bool tls13_only = false;  // TLS 1.3 only (else 1.2 or 1.3)
  bool verify = true;       // false: no chain or name check (insecure_skip_verify)
  // The TLS context those settings make (RedisClient::LoadTlsContext), loaded once at startup
  // and shared by every client of the process; null: the client loads its own when it starts.
  std::shared_ptr<const tls::ClientContext> tls_context;
  // Each command's absolute deadline, from when it is issued: past it the caller gets kTimeout.
  Millis timeout{50};
  // TCP connect, the TLS handshake and the Redis handshake (AUTH, SELECT, PING) must finish
  // within this.
  Millis connect_timeout{1000};
  // Commands sent and not yet answered (including those whose caller already timed out); over
  // it a command fails at once with kOverloaded.
  size_t max_pending = 256;
  // One reply's size (bulk bytes plus 16 bytes per element); a larger reply fails its command
  // with kReplyTooLarge and the connection is reopened.
  size_t max_reply_bytes = 1 << 20;
  // This many timeouts in a row with no reply in between mark the connection broken.
  int broken_after_timeouts = 3;
  // Reconnect backoff: initial delay, doubled per failed attempt up to `backoff_max`, with equal
  // jitter (half fixed, half random).
  Millis backoff_initial{100};
  Millis backoff_max{5000};
};

// "host:port" or "host" (port 6379); "[v6]:port" or a bare "v6" for IPv6. The host must be an
// IP address ("localhost" means 127.0.0.1). False with `error` set when malformed.
bool ParseRedisAddress(std::string_view address, RedisOptions* options, std::string* error);

// The value of the environment variable `name` (the config's password_env). An unset or empty
// variable is an error naming the variable (never the value).
Expected<std::string, std::string> ReadPasswordEnv(const std::string& name);

enum class RedisErrorKind {
  kUnavailable,     // not connected (connecting, broken, closed): failed at once
  kTimeout,         // no reply before the command's deadline
  kOverloaded,      // max_pending commands already in flight
  kConnectionLost,  // the connection broke while the command was in flight
  kReplyTooLarge,   // the reply exceeded max_reply_bytes
  kServerError,     // Redis answered with an error reply (message is Redis's text)
  kAuthFailed,      // the handshake's AUTH was refused
  kProtocol,        // anything else (bad arguments, unexpected reply shape)
};

std::string_view RedisErrorKindName(RedisErrorKind kind);

struct RedisError {
  RedisErrorKind kind = RedisErrorKind::kProtocol;
  std::string message;
};

// A reply, copied out of hiredis. Top-level error replies become RedisError{kServerError};
// errors nested in arrays (EXEC, scripts) stay here as kError.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  long long integer = 0;
  std::string str;  // kString, kStatus, kError
  std::vector<RedisReply> elements;
};

using RedisResult = Expected<RedisReply, RedisError>;

enum class RedisState { kConnecting, kReady, kBroken, kClosed };

std::string_view RedisStateName(RedisState state);

// Counters for metrics: monotonic totals since the client was made.
struct RedisStats {
  uint64_t commands = 0;    // Command() calls
  uint64_t timeouts = 0;    // commands that ended in kTimeout
  uint64_t errors = 0;      // commands that ended in any other error (kServerError included)
  uint64_t reconnects = 0;  // connection attempts after the first
};

}  // namespace infergate::shared
