// The typed, validated configuration. A Config is immutable once loaded; the running server
// holds it as a shared snapshot (std::shared_ptr<const Config>), so a request keeps the
// snapshot it started with. Every field has the default documented in config/infergate.yaml.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infergate/core/expected.h"
#include "infergate/core/units.h"

namespace infergate::config {

using namespace std::chrono_literals;

// A network address from "host:port", "[v6]:port" or ":port" (all interfaces).
struct HostPort {
  std::string host;  // literal IP or DNS name, without brackets; "0.0.0.0" for ":port"
  uint16_t port = 0;
};

struct ListenerConfig {
  std::string name;
  HostPort listen;
  uint64_t max_request_header_bytes = 64 * 1024;  // 431 above
  uint32_t max_request_headers = 100;             // 431 above
  uint64_t max_request_body_bytes = 16 << 20;     // 413 above
  Duration header_timeout = 10s;                  // 408 and close
  Duration body_timeout = 60s;                    // 408 and close
  Duration keepalive_timeout = 75s;               // idle client connection closed silently
  Duration send_timeout = 60s;                    // a client that stops reading is dropped
};

struct AdminConfig {
  HostPort listen{"127.0.0.1", 9901};
};

enum class LoadBalancing { kRoundRobin, kWeightedRoundRobin, kLeastRequest };

struct BackendConfig {
  std::string url;      // as written, e.g. "http://10.0.0.11:8000"
  std::string name;     // "host:port", unique within the pool
  HostPort address;     // parsed from url (scheme http; https comes with TLS)
  uint32_t weight = 1;  // 1..1000
};

struct PoolConfig {
  std::string name;
  LoadBalancing load_balancing = LoadBalancing::kLeastRequest;
  std::vector<BackendConfig> backends;
  Duration connect_timeout = 2s;
  uint32_t max_idle_connections = 64;  // per worker per backend
};

struct HeaderMatch {
  enum class Kind { kExact, kPresent, kAbsent, kRegex };
  std::string name;  // lower-cased
  Kind kind = Kind::kExact;
  std::string value;  // exact value or ECMAScript regex (whole-value match)
};

struct RouteMatch {
  std::optional<std::string> path;  // exact path (query string ignored)
  std::optional<std::string> path_prefix;
  std::vector<std::string> methods;  // upper-case; empty = any
  std::vector<std::string> models;   // globs ('*', '?') on the body's "model"; empty = any
  std::vector<HeaderMatch> headers;  // all must hold
  std::optional<std::string> host;   // case-insensitive, port ignored, "*.x.com" allowed
};

struct WeightedTarget {
  std::string pool;
  size_t pool_index = 0;  // index into Config::pools, filled by validation
  uint32_t weight = 1;
};

struct RouteTimeouts {
  Duration first_byte = 120s;  // until the backend's response head
  Duration idle = 60s;         // longest gap between response body chunks
  Duration total = 0s;         // whole exchange; 0 = off
};

struct RouteConfig {
  std::string name;
  RouteMatch match;
  std::vector<WeightedTarget> to;            // one entry for "to: pool"
  std::optional<std::string> rewrite_model;  // the model name the backend expects
  RouteTimeouts timeouts;
  int retries = 1;  // extra attempts before the first byte, 0..5
  bool needs_model() const { return !match.models.empty() || rewrite_model.has_value(); }
};

struct Config {
  std::string source;  // the file it was loaded from, for messages
  int workers = 0;     // 0 = number of CPUs; --workers overrides
  std::vector<ListenerConfig> listeners;
  std::optional<AdminConfig> admin;
  std::vector<PoolConfig> pools;
  std::vector<RouteConfig> routes;
};

// A positioned config error: "file:line:column: key.path: message".
struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  std::string path;
  std::string message;
  std::string ToString() const;
};

using LoadResult = Expected<std::shared_ptr<const Config>, std::vector<ConfigError>>;

// Parses and validates. Unknown keys, wrong types, bad units and dangling references are all
// errors; every error found is returned, not just the first.
LoadResult LoadConfigFile(const std::string& path);
LoadResult LoadConfigString(const std::string& yaml, const std::string& file_name);

// "host:port" parsing shared by listeners, backends and flags.
std::optional<HostPort> ParseHostPort(std::string_view text);

}  // namespace infergate::config
