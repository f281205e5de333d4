// Routes in the config: match (path, methods, model, headers, host), targets, timeouts.
#include <algorithm>

#include "config/config_parser.h"

namespace infergate::config::detail {

void ConfigParser::ParseRoute(const Value& v, NameSet& names, const Config& config,
                              RouteConfig& out) {
  std::optional<Map> map = reader_.Mapping(v, kRouteKeys);
  if (!map) return;
  out.name = ReadName(*map, names, "route");
  if (const Value* match = map->Find("match")) ParseMatch(*match, out.match);
  if (const Value* to = map->Require("to", diag_)) ParseTargets(*to, out.to);
  if (const Value* rewrite = map->Find("rewrite_model")) {
    if (auto model = reader_.NonEmptyString(*rewrite)) out.rewrite_model = *model;
  }
  if (const Value* rm = map->Find("response_model")) {
    static constexpr std::pair<std::string_view, RouteConfig::ResponseModel> kChoices[] = {
        {"backend", RouteConfig::ResponseModel::kBackend},
        {"requested", RouteConfig::ResponseModel::kRequested},
    };
    if (auto choice = reader_.Enum<RouteConfig::ResponseModel>(*rm, kChoices))
      out.response_model = *choice;
  }
  if (const Value* timeouts = map->Find("timeouts")) ParseTimeouts(*timeouts, out.timeouts);
  ReadOptional(*map, "retries", out.retries,
               [&](const Value& x) { return reader_.Integer(x, 0, kMaxRetries); });
  if (const Value* retry = map->Find("retry")) ReadRetryPolicy(reader_, *retry, out.retry);
  ReadRouteDegradation(reader_, *map, config, pool_index_, out);
  if (const Value* limits = map->Find("limits")) out.limits = ReadLimits(reader_, *limits);
}

std::optional<std::string> ConfigParser::ReadPath(const Value& v) {
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

void ConfigParser::ParseMatch(const Value& v, RouteMatch& out) {
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
  // GET and HEAD of /v1/models and /v1/models/{id} are the gateway's own answers.
  if (out.path && (*out.path == "/v1/models" || out.path->starts_with("/v1/models/"))) {
    const bool get = out.methods.empty() ||
                     std::any_of(out.methods.begin(), out.methods.end(),
                                 [](const std::string& m) { return m == "GET" || m == "HEAD"; });
    if (get) models_route_sites_.push_back(*path);
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

void ConfigParser::ParseHeaders(const Value& v, std::vector<HeaderMatch>& out) {
  std::optional<Map> map = reader_.AnyKeyMapping(v);
  if (!map) return;
  if (map->entries().empty() && v.node.size() == 0) {
    diag_.Add(v, "empty mapping (omit headers to match any headers)");
    return;
  }
  std::map<std::string, int> first_line;
  for (const MapEntry& entry : map->entries()) {
    if (!IsToken(entry.key)) {
      diag_.Add(entry.key_pos, entry.value.path, Quoted(entry.key) + " is not a valid header name");
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

bool ConfigParser::ParseHeaderCondition(const Value& v, HeaderMatch& out) {
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
    diag_.Add(
        v, "expected exactly one of present, absent, exact, regex (found " + JoinNames(keys) + ")");
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

void ConfigParser::ParseTargets(const Value& v, std::vector<WeightedTarget>& out) {
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

std::optional<WeightedTarget> ConfigParser::ResolvePool(const Value& v) {
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
                                    : " (known: " + JoinNames(known) + ")"));
    return std::nullopt;
  }
  WeightedTarget target;
  target.pool = *name;
  target.pool_index = it->second;
  return target;
}

void ConfigParser::ParseTimeouts(const Value& v, RouteTimeouts& out) {
  std::optional<Map> map = reader_.Mapping(v, kTimeoutKeys, /*null_is_empty=*/true);
  if (!map) return;
  auto non_negative = [&](const Value& x) { return reader_.DurationValue(x, false); };
  ReadOptional(*map, "first_byte", out.first_byte, non_negative);
  ReadOptional(*map, "idle", out.idle, non_negative);
  ReadOptional(*map, "total", out.total, non_negative);
}

}  // namespace infergate::config::detail
