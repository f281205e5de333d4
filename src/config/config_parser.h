// The config parser shared by config.cc (the document, listeners, admin, pools) and
// route_keys.cc (routes: matches, headers, targets, timeouts). Private to src/config.
#pragma once

#include <algorithm>
#include <cctype>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "config/address.h"
#include "config/yaml_reader.h"
#include "infergate/config/config.h"
#include "infergate/config/header_regex.h"

namespace infergate::config::detail {

constexpr std::string_view kRootKeys[] = {"workers",
                                          "log_format",
                                          "listeners",
                                          "admin",
                                          "pools",
                                          "routes",
                                          "canary_budget",
                                          "compartments",
                                          "tiers",
                                          "tenants",
                                          "tenant_identification",
                                          "runners",
                                          "access_log",
                                          "models",
                                          "model_limits",
                                          "shared_state"};
constexpr std::string_view kListenerKeys[] = {"name",
                                              "listen",
                                              "max_request_header_bytes",
                                              "max_request_headers",
                                              "max_request_body_bytes",
                                              "header_timeout",
                                              "body_timeout",
                                              "keepalive_timeout",
                                              "send_timeout",
                                              "max_connections",
                                              "require_api_key",
                                              "protocols",
                                              "http2",
                                              "tls",
                                              "cors"};
constexpr std::string_view kAdminKeys[] = {"listen", "token_sha256"};
constexpr std::string_view kPoolKeys[] = {"name",
                                          "load_balancing",
                                          "connect_timeout",
                                          "max_idle_connections",
                                          "dns_refresh",
                                          "backends",
                                          "health_check",
                                          "failure_detector",
                                          "circuit_breaker",
                                          "outlier_ejection",
                                          "panic_threshold",
                                          "overprovisioning_factor",
                                          "slow_start",
                                          "retry_budget",
                                          "affinity",
                                          "load_report",
                                          "adaptive_concurrency",
                                          "request_headers",
                                          "tls",
                                          "inject_stream_usage"};
constexpr std::string_view kBackendKeys[] = {"url", "weight", "priority"};
constexpr std::string_view kRouteKeys[] = {
    "name",    "match", "to",          "rewrite_model", "response_model", "timeouts",
    "retries", "retry", "compartment", "fallbacks",     "degrade",        "limits"};
constexpr std::string_view kMatchKeys[] = {"path",  "path_prefix", "methods",
                                           "model", "headers",     "host"};
constexpr std::string_view kHeaderConditionKeys[] = {"present", "absent", "exact", "regex"};
constexpr std::string_view kTargetKeys[] = {"pool", "weight"};
constexpr std::string_view kTimeoutKeys[] = {"first_byte", "idle", "total"};

constexpr std::pair<std::string_view, LoadBalancing> kLoadBalancingNames[] = {
    {"round_robin", LoadBalancing::kRoundRobin},
    {"weighted_round_robin", LoadBalancing::kWeightedRoundRobin},
    {"least_request", LoadBalancing::kLeastRequest},
    {"least_queue", LoadBalancing::kLeastQueue},
};

constexpr int64_t kMaxWorkers = 1024;
constexpr int64_t kMaxIdleConnections = 100000;
constexpr int64_t kMaxWeight = 1000;
constexpr int64_t kMaxPriority = 7;
constexpr int64_t kMaxRetries = 5;

constexpr std::string_view kAddressExamples = "write e.g. 0.0.0.0:8080, [::1]:8080 or :8080";

inline std::string Upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

// Why `host` (lower-cased) is not a valid route host pattern, or empty when it is.
inline std::string HostPatternProblem(std::string_view host) {
  if (host.empty()) return "must not be empty";
  if (host.front() == '[' && host.back() == ']' && host.size() > 2) return "";
  if (host.find(':') != std::string_view::npos) {
    return "write the host without a port (the port is ignored when matching)";
  }
  std::string_view rest = host;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.find('*') != std::string_view::npos) {
    return "\"*\" is only allowed as the whole first label, e.g. *.example.com";
  }
  bool valid =
      !rest.empty() && rest.front() != '.' && rest.back() != '.' &&
      rest.find("..") == std::string_view::npos &&
      std::all_of(rest.begin(), rest.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
      });
  if (!valid) return Quoted(host) + " is not a valid host name";
  return "";
}

class ConfigParser {
 public:
  ConfigParser(Diagnostics& diag, std::string_view source) : diag_(diag), reader_(diag, source) {}

  void Parse(const YAML::Node& root, Config& config) {
    Value root_value{root, "", PosOf(root)};
    if (!root.IsMap()) {
      diag_.Add(root_value,
                "the top level must be a mapping with listeners, pools and routes (found " +
                    std::string(root.IsSequence() ? "a list" : "a single value") + ")");
      return;
    }
    std::optional<Map> map = reader_.Mapping(root_value, kRootKeys);
    if (!map) return;

    ReadOptional(*map, "workers", config.workers,
                 [&](const Value& v) { return reader_.Integer(v, 0, kMaxWorkers); });
    static constexpr std::pair<std::string_view, LogFormat> kLogFormats[] = {
        {"text", LogFormat::kText}, {"json", LogFormat::kJson}};
    ReadOptional(*map, "log_format", config.log_format,
                 [&](const Value& v) { return reader_.Enum<LogFormat>(v, kLogFormats); });

    if (const Value* v = map->Require("listeners", diag_)) {
      if (auto items = reader_.List(*v, "at least one listener is required")) {
        NameSet names;
        for (const Value& item : *items) {
          ParseListener(item, names, config.listeners.emplace_back());
        }
      }
    }
    if (const Value* v = map->Find("admin")) ParseAdmin(*v, config.admin.emplace());
    if (const Value* v = map->Find("access_log")) {
      ReadAccessLog(reader_, *v, config.access_log.emplace());
    }
    ReadOptional(*map, "canary_budget", config.canary_budget, [&](const Value& v) {
      return reader_.Number(v, NumberRange{0, 1000, true});
    });
    CheckAddressConflicts();

    if (const Value* v = map->Require("pools", diag_)) {
      if (auto items = reader_.List(*v, "at least one pool is required")) {
        NameSet names;
        for (const Value& item : *items) ParsePool(item, names, config.pools.emplace_back());
      }
    }
    ReadIsolation(reader_, *map, config);
    CheckApiKeys(config);
    if (const Value* v = map->Require("routes", diag_)) {
      if (auto items = reader_.List(*v, "at least one route is required")) {
        NameSet names;
        for (const Value& item : *items)
          ParseRoute(item, names, config, config.routes.emplace_back());
      }
    }
    if (const Value* v = map->Find("models")) ReadModels(reader_, *v, config.models);
    if (const Value* v = map->Find("model_limits"))
      ReadModelLimits(reader_, *v, config.model_limits);
    if (const Value* v = map->Find("shared_state"))
      ReadSharedState(reader_, *v, config.shared_state);
    for (const Value& at : models_route_sites_) {
      config.warnings.push_back(
          ConfigError{diag_.file(), at.pos.line, at.pos.column, "",
                      "warning: " + at.path +
                          ": this route is never reached for GET and HEAD: infergate answers "
                          "/v1/models and /v1/models/{id} itself (see models: in the docs)"}
              .ToString());
    }
  }

 private:
  // Reads `key` when present and stores it into `out`; a bad value leaves the default.
  template <typename T, typename Read>
  void ReadOptional(const Map& map, std::string_view key, T& out, Read read) {
    if (const Value* v = map.Find(key)) {
      if (auto parsed = read(*v)) out = static_cast<T>(*parsed);
    }
  }

  std::string ReadName(const Map& map, NameSet& names, std::string_view noun) {
    return names.ReadName(reader_, map, noun);
  }

  std::optional<HostPort> ReadAddress(const Value& v) {
    std::optional<std::string> text = reader_.String(v);
    if (!text) return std::nullopt;
    std::string why;
    std::optional<HostPort> address = ParseHostPortWithReason(*text, &why);
    if (!address) {
      diag_.Add(v, Quoted(*text) + " is not a valid address: " + why + " (" +
                       std::string(kAddressExamples) + ")");
    }
    return address;
  }

  void ParseListener(const Value& v, NameSet& names, ListenerConfig& out) {
    std::optional<Map> map = reader_.Mapping(v, kListenerKeys);
    if (!map) return;
    out.name = ReadName(*map, names, "listener");
    if (const Value* listen = map->Require("listen", diag_)) {
      if (auto address = ReadAddress(*listen)) {
        out.listen = *address;
        listen_sites_.push_back({"listener " + Quoted(out.name), *address, *listen});
      }
    }
    ReadListenerLimits(reader_, *map, out);
    if (const Value* require = map->Find("require_api_key")) {
      if (auto flag = reader_.Bool(*require)) {
        out.require_api_key = *flag;
        if (*flag) api_key_sites_.push_back(*require);
      }
    }
  }

  // A listener that requires API keys needs tenants that have some.
  void CheckApiKeys(const Config& config) {
    bool any_key = std::any_of(config.tenants.begin(), config.tenants.end(),
                               [](const TenantConfig& t) { return !t.api_key_sha256.empty(); });
    if (any_key) return;
    for (const Value& at : api_key_sites_) {
      diag_.Add(at,
                "no tenant has api_keys_sha256, so every request would get 401 (add tenants "
                "with api_keys_sha256, or set require_api_key: false)");
    }
  }

  void ParseAdmin(const Value& v, AdminConfig& out) {
    std::optional<Map> map = reader_.Mapping(v, kAdminKeys, /*null_is_empty=*/true);
    if (!map) return;
    if (const Value* listen = map->Find("listen")) {
      if (auto address = ReadAddress(*listen)) {
        out.listen = *address;
        listen_sites_.push_back({"the admin listener", *address, *listen});
      }
    }
    if (const Value* token = map->Find("token_sha256")) {
      if (auto text = reader_.String(*token)) {
        std::string hex = Lower(*text);
        if (IsSha256Hex(hex)) {
          out.token_sha256 = std::move(hex);
        } else {
          diag_.Add(*token, Sha256HexError("the SHA-256 of the admin token", text->size()));
        }
      }
    }
  }

  // Two listeners on one address would silently share it (SO_REUSEPORT) or fail to bind.
  void CheckAddressConflicts() {
    for (size_t i = 0; i < listen_sites_.size(); ++i) {
      const ListenSite& site = listen_sites_[i];
      if (site.address.port == 0) continue;
      for (size_t j = 0; j < i; ++j) {
        const ListenSite& earlier = listen_sites_[j];
        if (earlier.address.port == site.address.port &&
            earlier.address.host == site.address.host) {
          diag_.Add(site.at, "address " + HostPortName(site.address) + " is already used by " +
                                 earlier.owner + " (line " + std::to_string(earlier.at.pos.line) +
                                 ")");
          break;
        }
      }
    }
  }

  void ParsePool(const Value& v, NameSet& names, PoolConfig& out) {
    size_t index = pool_names_.size();
    pool_names_.emplace_back();
    std::optional<Map> map = reader_.Mapping(v, kPoolKeys);
    if (!map) return;
    out.name = ReadName(*map, names, "pool");
    if (!out.name.empty()) {
      pool_names_[index] = out.name;
      pool_index_.emplace(out.name, index);
    }
    ReadOptional(*map, "load_balancing", out.load_balancing, [&](const Value& x) {
      return reader_.Enum<LoadBalancing>(x, kLoadBalancingNames);
    });
    ReadOptional(*map, "connect_timeout", out.connect_timeout,
                 [&](const Value& x) { return reader_.DurationValue(x, true); });
    ReadOptional(*map, "max_idle_connections", out.max_idle_connections,
                 [&](const Value& x) { return reader_.Integer(x, 0, kMaxIdleConnections); });
    ReadOptional(*map, "dns_refresh", out.dns_refresh,
                 [&](const Value& x) { return reader_.DurationValue(x, false); });
    if (const Value* backends = map->Require("backends", diag_)) {
      if (auto items = reader_.List(*backends, "at least one backend is required")) {
        std::map<std::string, int> first_line;  // by backend name
        for (const Value& item : *items) {
          BackendConfig& backend = out.backends.emplace_back();
          std::optional<Value> url = ParseBackend(item, backend);
          if (!url) continue;
          auto [it, inserted] = first_line.emplace(backend.name, url->pos.line);
          if (!inserted) {
            diag_.Add(*url, "duplicate backend url " + Quoted(backend.url) + " (same address " +
                                backend.name + " as line " + std::to_string(it->second) + ")");
          }
        }
      }
    }
    ReadPoolResilience(reader_, *map, out);
    if (const Value* rh = map->Find("request_headers"))
      ReadRequestHeaders(reader_, *rh, out.request_headers);
    ReadPoolTls(reader_, *map, out);
    ReadOptional(*map, "inject_stream_usage", out.inject_stream_usage,
                 [&](const Value& x) { return reader_.Bool(x); });
  }

  // Returns the url's value when the backend was read.
  std::optional<Value> ParseBackend(const Value& v, BackendConfig& out) {
    Value url;
    if (v.node.IsScalar()) {
      url = Value{v.node, ChildPath(v.path, "url"), v.pos};
    } else {
      if (!v.node.IsMap()) {
        diag_.Add(v, v.node.IsNull() ? "missing value (expected a URL or {url: URL, weight: N})"
                                     : "expected a URL or {url: URL, weight: N} (found a list)");
        return std::nullopt;
      }
      std::optional<Map> map = reader_.Mapping(v, kBackendKeys);
      if (!map) return std::nullopt;
      ReadOptional(*map, "weight", out.weight,
                   [&](const Value& x) { return reader_.Integer(x, 1, kMaxWeight); });
      ReadOptional(*map, "priority", out.priority,
                   [&](const Value& x) { return reader_.Integer(x, 0, kMaxPriority); });
      const Value* found = map->Require("url", diag_);
      if (found == nullptr) return std::nullopt;
      url = *found;
    }
    std::optional<std::string> text = reader_.NonEmptyString(url);
    if (!text) return std::nullopt;
    out.url = *text;
    std::string why;
    std::optional<HostPort> address = ParseBackendUrl(*text, &why, &out.https);
    if (!address) {
      diag_.Add(url, "invalid URL " + Quoted(*text) + ": " + why);
      return std::nullopt;
    }
    out.address = *address;
    out.name = HostPortName(*address);
    return url;
  }

  void ParseRoute(const Value& v, NameSet& names, const Config& config, RouteConfig& out);

  std::optional<std::string> ReadPath(const Value& v);

  void ParseMatch(const Value& v, RouteMatch& out);

  void ParseHeaders(const Value& v, std::vector<HeaderMatch>& out);

  bool ParseHeaderCondition(const Value& v, HeaderMatch& out);

  void ParseTargets(const Value& v, std::vector<WeightedTarget>& out);

  std::optional<WeightedTarget> ResolvePool(const Value& v);

  void ParseTimeouts(const Value& v, RouteTimeouts& out);

  struct ListenSite {
    std::string owner;
    HostPort address;
    Value at;
  };

  Diagnostics& diag_;
  Reader reader_;
  std::vector<std::string> pool_names_;  // by index; empty where the name was bad
  std::map<std::string, size_t> pool_index_;
  std::vector<ListenSite> listen_sites_;
  std::vector<Value> api_key_sites_;       // require_api_key: true, for CheckApiKeys
  std::vector<Value> models_route_sites_;  // match.path values the gateway's /v1/models shadows
};

}  // namespace infergate::config::detail
