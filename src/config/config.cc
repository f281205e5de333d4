// Loading and validation of the YAML config; config/infergate.yaml documents every key.
#include "infergate/config/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <span>
#include <utility>

#include "config/address.h"
#include "config/yaml_reader.h"
#include "infergate/config/header_regex.h"

namespace infergate::config {
namespace {

using detail::ChildPath;
using detail::Diagnostics;
using detail::IsToken;
using detail::Lower;
using detail::Map;
using detail::MapEntry;
using detail::Pos;
using detail::PosOf;
using detail::Reader;
using detail::Value;

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
                                          "access_log"};
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
                                              "tls"};
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
constexpr std::string_view kRouteKeys[] = {"name",      "match",   "to",    "rewrite_model",
                                           "timeouts",  "retries", "retry", "compartment",
                                           "fallbacks", "degrade"};
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

using detail::NameSet;
using detail::Quoted;

std::string Upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

// Why `host` (lower-cased) is not a valid route host pattern, or empty when it is.
std::string HostPatternProblem(std::string_view host) {
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
      detail::ReadAccessLog(reader_, *v, config.access_log.emplace());
    }
    ReadOptional(*map, "canary_budget", config.canary_budget, [&](const Value& v) {
      return reader_.Number(v, detail::NumberRange{0, 1000, true});
    });
    CheckAddressConflicts();

    if (const Value* v = map->Require("pools", diag_)) {
      if (auto items = reader_.List(*v, "at least one pool is required")) {
        NameSet names;
        for (const Value& item : *items) ParsePool(item, names, config.pools.emplace_back());
      }
    }
    detail::ReadIsolation(reader_, *map, config);
    CheckApiKeys(config);
    if (const Value* v = map->Require("routes", diag_)) {
      if (auto items = reader_.List(*v, "at least one route is required")) {
        NameSet names;
        for (const Value& item : *items)
          ParseRoute(item, names, config, config.routes.emplace_back());
      }
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
    std::optional<HostPort> address = detail::ParseHostPortWithReason(*text, &why);
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
    detail::ReadListenerLimits(reader_, *map, out);
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
        if (detail::IsSha256Hex(hex)) {
          out.token_sha256 = std::move(hex);
        } else {
          diag_.Add(*token, detail::Sha256HexError("the SHA-256 of the admin token", text->size()));
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
          diag_.Add(site.at, "address " + detail::HostPortName(site.address) +
                                 " is already used by " + earlier.owner + " (line " +
                                 std::to_string(earlier.at.pos.line) + ")");
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
    detail::ReadPoolResilience(reader_, *map, out);
    if (const Value* rh = map->Find("request_headers"))
      detail::ReadRequestHeaders(reader_, *rh, out.request_headers);
    detail::ReadPoolTls(reader_, *map, out);
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
    std::optional<HostPort> address = detail::ParseBackendUrl(*text, &why, &out.https);
    if (!address) {
      diag_.Add(url, "invalid URL " + Quoted(*text) + ": " + why);
      return std::nullopt;
    }
    out.address = *address;
    out.name = detail::HostPortName(*address);
    return url;
  }

  void ParseRoute(const Value& v, NameSet& names, const Config& config, RouteConfig& out) {
    std::optional<Map> map = reader_.Mapping(v, kRouteKeys);
    if (!map) return;
    out.name = ReadName(*map, names, "route");
    if (const Value* match = map->Find("match")) ParseMatch(*match, out.match);
    if (const Value* to = map->Require("to", diag_)) ParseTargets(*to, out.to);
    if (const Value* rewrite = map->Find("rewrite_model")) {
      if (auto model = reader_.NonEmptyString(*rewrite)) out.rewrite_model = *model;
    }
    if (const Value* timeouts = map->Find("timeouts")) ParseTimeouts(*timeouts, out.timeouts);
    ReadOptional(*map, "retries", out.retries,
                 [&](const Value& x) { return reader_.Integer(x, 0, kMaxRetries); });
    if (const Value* retry = map->Find("retry"))
      detail::ReadRetryPolicy(reader_, *retry, out.retry);
    detail::ReadRouteDegradation(reader_, *map, config, pool_index_, out);
  }

  std::optional<std::string> ReadPath(const Value& v) {
    std::optional<std::string> path = reader_.String(v);
    if (!path) return std::nullopt;
    if (!path->starts_with('/')) {
      diag_.Add(v, "must start with \"/\" (found " + Quoted(*path) + ")");
      return std::nullopt;
    }
    if (path->find_first_of("?#") != std::string::npos) {
      diag_.Add(v, "must not contain \"?\" or \"#\" (the query string is ignored when matching)");
      return std::nullopt;
    }
    return path;
  }

  void ParseMatch(const Value& v, RouteMatch& out) {
    std::optional<Map> map = reader_.Mapping(v, kMatchKeys, /*null_is_empty=*/true);
    if (!map) return;
    const Value* path = map->Find("path");
    const Value* prefix = map->Find("path_prefix");
    if (path != nullptr) out.path = ReadPath(*path);
    if (prefix != nullptr) {
      if (path != nullptr) {
        diag_.Add(*prefix, "path and path_prefix cannot be used together (keep one)");
      } else {
        out.path_prefix = ReadPath(*prefix);
      }
    }
    if (const Value* methods = map->Find("methods")) {
      if (auto list = reader_.StringOrList(*methods, "omit methods to match any method")) {
        for (auto& [method, at] : *list) {
          if (!IsToken(method)) {
            diag_.Add(at, Quoted(method) + " is not a valid HTTP method");
            continue;
          }
          out.methods.push_back(Upper(method));
        }
      }
    }
    if (const Value* models = map->Find("model")) {
      if (auto list = reader_.StringOrList(*models, "omit model to match any model")) {
        for (auto& [model, at] : *list) {
          if (model.empty()) {
            diag_.Add(at, "must not be empty");
            continue;
          }
          out.models.push_back(model);
        }
      }
    }
    if (const Value* headers = map->Find("headers")) ParseHeaders(*headers, out.headers);
    if (const Value* host = map->Find("host")) {
      if (auto text = reader_.String(*host)) {
        std::string lowered = Lower(*text);
        std::string problem = HostPatternProblem(lowered);
        if (problem.empty()) {
          out.host = lowered;
        } else {
          diag_.Add(*host, problem);
        }
      }
    }
  }

  void ParseHeaders(const Value& v, std::vector<HeaderMatch>& out) {
    std::optional<Map> map = reader_.AnyKeyMapping(v);
    if (!map) return;
    if (map->entries().empty() && v.node.size() == 0) {
      diag_.Add(v, "empty mapping (omit headers to match any headers)");
      return;
    }
    std::map<std::string, int> first_line;
    for (const MapEntry& entry : map->entries()) {
      if (!IsToken(entry.key)) {
        diag_.Add(entry.key_pos, entry.value.path,
                  Quoted(entry.key) + " is not a valid header name");
        continue;
      }
      std::string name = Lower(entry.key);
      auto [it, inserted] = first_line.emplace(name, entry.key_pos.line);
      if (!inserted) {
        diag_.Add(entry.key_pos, entry.value.path,
                  "header " + Quoted(name) + " is already matched at line " +
                      std::to_string(it->second) + " (header names are case-insensitive)");
        continue;
      }
      HeaderMatch match;
      match.name = name;
      if (ParseHeaderCondition(entry.value, match)) out.push_back(std::move(match));
    }
  }

  bool ParseHeaderCondition(const Value& v, HeaderMatch& out) {
    if (v.node.IsScalar()) {
      out.kind = HeaderMatch::Kind::kExact;
      out.value = v.node.Scalar();
      return true;
    }
    if (!v.node.IsMap()) {
      diag_.Add(v, std::string(v.node.IsNull() ? "missing condition" : "expected a condition") +
                       " (write a value, {present: true}, {absent: true}, {exact: \"v\"} or "
                       "{regex: \"^re.*\"})");
      return false;
    }
    std::optional<Map> map = reader_.Mapping(v, kHeaderConditionKeys);
    if (!map) return false;
    if (v.node.size() == 0) {
      diag_.Add(v, "expected one of present, absent, exact, regex (found an empty mapping)");
      return false;
    }
    if (map->entries().size() > 1) {
      std::vector<std::string> keys;
      for (const MapEntry& entry : map->entries()) keys.push_back(entry.key);
      diag_.Add(v, "expected exactly one of present, absent, exact, regex (found " +
                       detail::JoinNames(keys) + ")");
      return false;
    }
    if (map->entries().empty()) return false;
    const MapEntry& entry = map->entries().front();
    if (entry.key == "present" || entry.key == "absent") {
      std::optional<bool> flag = reader_.Bool(entry.value);
      if (!flag) return false;
      bool present = (entry.key == "present") == *flag;
      out.kind = present ? HeaderMatch::Kind::kPresent : HeaderMatch::Kind::kAbsent;
      return true;
    }
    std::optional<std::string> text = reader_.String(entry.value);
    if (!text) return false;
    out.value = *text;
    if (entry.key == "exact") {
      out.kind = HeaderMatch::Kind::kExact;
      return true;
    }
    out.kind = HeaderMatch::Kind::kRegex;
    auto compiled = CompileHeaderRegex(*text);  // RE2, with log_errors off
    if (!compiled) {
      diag_.Add(entry.value, "invalid regex " + Quoted(*text) + ": " + compiled.error());
      return false;
    }
    return true;
  }

  void ParseTargets(const Value& v, std::vector<WeightedTarget>& out) {
    if (v.node.IsScalar()) {
      if (auto target = ResolvePool(v)) out.push_back(std::move(*target));
      return;
    }
    if (!v.node.IsSequence()) {
      constexpr std::string_view kWhat = "a pool name or a list of {pool: NAME, weight: N}";
      diag_.Add(v, v.node.IsNull() ? "missing value (expected " + std::string(kWhat) + ")"
                                   : "expected " + std::string(kWhat) + " (found a mapping)");
      return;
    }
    std::optional<std::vector<Value>> items = reader_.List(v, "at least one pool is required");
    if (!items) return;
    std::map<std::string, int> first_line;
    for (const Value& item : *items) {
      std::optional<WeightedTarget> target;
      const Value* pool_value = &item;
      std::optional<Map> map;
      if (item.node.IsScalar()) {
        target = ResolvePool(item);
      } else if (!item.node.IsMap()) {
        diag_.Add(item, item.node.IsNull()
                            ? "missing value (expected a pool name or {pool: NAME, weight: N})"
                            : "expected a pool name or {pool: NAME, weight: N} (found a list)");
        continue;
      } else {
        map = reader_.Mapping(item, kTargetKeys);
        if (!map) continue;
        pool_value = map->Require("pool", diag_);
        if (pool_value == nullptr) continue;
        target = ResolvePool(*pool_value);
        if (target) {
          ReadOptional(*map, "weight", target->weight,
                       [&](const Value& x) { return reader_.Integer(x, 1, kMaxWeight); });
        }
      }
      if (!target) continue;
      auto [it, inserted] = first_line.emplace(target->pool, pool_value->pos.line);
      if (!inserted) {
        diag_.Add(*pool_value, "pool " + Quoted(target->pool) + " is listed twice (first at line " +
                                   std::to_string(it->second) + ")");
        continue;
      }
      out.push_back(std::move(*target));
    }
  }

  std::optional<WeightedTarget> ResolvePool(const Value& v) {
    std::optional<std::string> name = reader_.NonEmptyString(v);
    if (!name) return std::nullopt;
    auto it = pool_index_.find(*name);
    if (it == pool_index_.end()) {
      std::vector<std::string> known;
      for (const std::string& pool : pool_names_) {
        if (!pool.empty()) known.push_back(pool);
      }
      diag_.Add(v, "unknown pool " + Quoted(*name) +
                       (known.empty() ? std::string(" (no pools are defined)")
                                      : " (known: " + detail::JoinNames(known) + ")"));
      return std::nullopt;
    }
    WeightedTarget target;
    target.pool = *name;
    target.pool_index = it->second;
    return target;
  }

  void ParseTimeouts(const Value& v, RouteTimeouts& out) {
    std::optional<Map> map = reader_.Mapping(v, kTimeoutKeys, /*null_is_empty=*/true);
    if (!map) return;
    auto non_negative = [&](const Value& x) { return reader_.DurationValue(x, false); };
    ReadOptional(*map, "first_byte", out.first_byte, non_negative);
    ReadOptional(*map, "idle", out.idle, non_negative);
    ReadOptional(*map, "total", out.total, non_negative);
  }

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
  std::vector<Value> api_key_sites_;  // require_api_key: true, for CheckApiKeys
};

std::string SyntaxMessage(const YAML::Exception& e, std::string_view yaml) {
  std::string message = "YAML syntax error: " + e.msg;
  std::string_view line;
  if (!e.mark.is_null() && e.mark.line >= 0) {
    size_t start = 0;
    for (int i = 0; i < e.mark.line && start != std::string_view::npos; ++i) {
      start = yaml.find('\n', start);
      if (start != std::string_view::npos) ++start;
    }
    if (start != std::string_view::npos) line = yaml.substr(start, yaml.find('\n', start) - start);
  }
  std::string_view indent = line.substr(0, line.find_first_not_of(" \t"));
  if (indent.find('\t') != std::string_view::npos) {
    message += " (tabs cannot be used for indentation; use spaces)";
  } else if (line.find("[") != std::string_view::npos &&
             line.find("]:") != std::string_view::npos) {
    message += " (quote IPv6 addresses, e.g. \"[::1]:8080\")";
  } else if (e.msg == "illegal map value") {
    message += " (check the indentation, and quote values that contain \": \")";
  }
  return message;
}

LoadResult Fail(Diagnostics& diag) { return MakeUnexpected(diag.TakeSorted()); }

}  // namespace

std::string ConfigError::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

std::optional<HostPort> ParseHostPort(std::string_view text) {
  std::string why;
  return detail::ParseHostPortWithReason(text, &why);
}

LoadResult LoadConfigString(const std::string& yaml, const std::string& file_name) {
  Diagnostics diag(file_name);
  try {
    std::vector<YAML::Node> documents;
    try {
      documents = detail::LoadAllDocuments(yaml);
    } catch (const YAML::Exception& e) {
      Pos pos;
      if (!e.mark.is_null() && e.mark.line >= 0) pos = {e.mark.line + 1, e.mark.column + 1};
      diag.Add(pos, "", SyntaxMessage(e, yaml));
      return Fail(diag);
    }
    if (documents.empty() || documents.front().IsNull()) {
      diag.Add(Pos{}, "", "the config is empty (expected listeners, pools and routes)");
      return Fail(diag);
    }
    for (size_t i = 1; i < documents.size(); ++i) {
      if (!documents[i].IsNull()) {
        diag.Add(PosOf(documents[i]), "",
                 "only one YAML document is allowed (remove the second \"---\" section)");
        break;
      }
    }
    auto config = std::make_shared<Config>();
    config->source = file_name;
    ConfigParser(diag, yaml).Parse(documents.front(), *config);
    if (!diag.empty()) return Fail(diag);
    return std::shared_ptr<const Config>(std::move(config));
  } catch (const std::exception& e) {
    diag.Add(Pos{}, "", std::string("internal error while loading the config: ") + e.what());
    return Fail(diag);
  }
}

LoadResult LoadConfigFile(const std::string& path) {
  auto cannot_read = [&](int error) {
    return MakeUnexpected(std::vector<ConfigError>{
        ConfigError{path, 0, 0, "", std::string("cannot read: ") + std::strerror(error)}});
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cannot_read(errno);
  std::string content;
  char buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      int error = errno;
      ::close(fd);
      return cannot_read(error);
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return LoadConfigString(content, path);
}

}  // namespace infergate::config
