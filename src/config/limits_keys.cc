// The rate-limit keys: a `limits` mapping (tenants, API keys, routes, model_limits items), the
// item form of api_keys_sha256 ({sha256: HEX, limits: {...}}), the top-level model_limits list
// and shared_state (Redis, for rate limits shared across instances). config/infergate.yaml
// documents them.
#include <cctype>
#include <map>

#include "config/yaml_reader.h"

namespace infergate::config::detail {
namespace {

constexpr std::string_view kLimitsKeys[] = {"requests_per_minute", "tokens_per_minute",
                                            "output_tokens_per_minute", "shadow"};
constexpr std::string_view kApiKeyKeys[] = {"sha256", "limits"};
constexpr std::string_view kModelLimitsKeys[] = {"model", "limits"};
constexpr std::string_view kSharedStateKeys[] = {"redis", "local_share", "verdicts"};
constexpr std::string_view kVerdictsKeys[] = {"enabled", "hold", "quiet"};
constexpr std::string_view kRedisKeys[] = {"address", "password_env", "timeout", "tls"};

constexpr int64_t kMaxPerMinute = 1'000'000'000'000;  // 10^12: far above any real limit
constexpr Duration kMaxRedisTimeout = std::chrono::seconds(10);

bool IsEnvName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// `inherited`: the values of the keys left out (an API key takes its tenant's).
std::optional<LimitsConfig> ReadLimitsFrom(Reader& reader, const Value& v,
                                           const LimitsConfig& inherited) {
  std::optional<Map> map = reader.Mapping(v, kLimitsKeys);
  if (!map) return std::nullopt;
  LimitsConfig out = inherited;
  Keys keys(reader, *map);
  const bool ok =
      keys.Integer("requests_per_minute", out.requests_per_minute, 1, kMaxPerMinute).ok &
      keys.Integer("tokens_per_minute", out.tokens_per_minute, 1, kMaxPerMinute).ok &
      keys.Integer("output_tokens_per_minute", out.output_tokens_per_minute, 1, kMaxPerMinute).ok &
      keys.Bool("shadow", out.shadow).ok;
  if (!ok || map->entries().size() != v.node.size()) return std::nullopt;  // reported
  if (!out.any() && map->Find("shadow") == nullptr) {
    reader.diag().Add(v,
                      "sets no limit (give requests_per_minute, tokens_per_minute or "
                      "output_tokens_per_minute, or omit limits)");
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::optional<LimitsConfig> ReadLimits(Reader& reader, const Value& v) {
  return ReadLimitsFrom(reader, v, LimitsConfig{});
}

std::optional<std::vector<ApiKeyItem>> ReadApiKeyItems(Reader& reader, const Value& v,
                                                       const std::optional<LimitsConfig>& tenant) {
  std::vector<ApiKeyItem> out;
  if (!v.node.IsSequence()) {
    auto single = reader.StringOrList(v, "");
    if (!single) return std::nullopt;
    for (auto& [text, at] : *single) out.push_back({std::move(text), at, std::nullopt});
    return out;
  }
  auto items = reader.List(v,
                           "omit api_keys_sha256 for a tenant named by "
                           "tenant_identification.header only");
  if (!items) return std::nullopt;
  for (const Value& item : *items) {
    if (!item.node.IsMap()) {
      if (auto text = reader.String(item)) out.push_back({std::move(*text), item, std::nullopt});
      continue;
    }
    std::optional<Map> map = reader.Mapping(item, kApiKeyKeys);
    if (!map) continue;
    const Value* hash = map->Require("sha256", reader.diag());
    const Value* limits = map->Find("limits");
    std::optional<LimitsConfig> own;
    if (limits != nullptr) {
      own = ReadLimitsFrom(reader, *limits, tenant.value_or(LimitsConfig{}));
      if (!own) continue;
    }
    if (hash == nullptr) continue;
    if (auto text = reader.String(*hash)) out.push_back({std::move(*text), *hash, own});
  }
  return out;
}

void ReadModelLimits(Reader& reader, const Value& v, std::vector<ModelLimitsConfig>& out) {
  auto items = reader.List(v, "omit model_limits when no model has a limit of its own");
  if (!items) return;
  std::map<std::string, int> first_line;
  for (const Value& item : *items) {
    std::optional<Map> map = reader.Mapping(item, kModelLimitsKeys);
    if (!map) continue;
    const Value* model = map->Require("model", reader.diag());
    const Value* limits = map->Require("limits", reader.diag());
    if (model == nullptr || limits == nullptr) continue;
    std::optional<std::string> name = reader.NonEmptyString(*model);
    std::optional<LimitsConfig> parsed = ReadLimits(reader, *limits);
    if (!name || !parsed) continue;
    auto [it, inserted] = first_line.emplace(*name, model->pos.line);
    if (!inserted) {
      reader.diag().Add(*model, "model " + Quoted(*name) + " already has limits (line " +
                                    std::to_string(it->second) + ")");
      continue;
    }
    out.push_back({std::move(*name), *parsed});
  }
}

void ReadSharedState(Reader& reader, const Value& v, SharedStateConfig& out) {
  std::optional<Map> map = reader.Mapping(v, kSharedStateKeys);
  if (!map) return;
  Keys(reader, *map)
      .Number("local_share", out.local_share, NumberRange{0, 1, /*min_exclusive=*/true});
  if (const Value* verdicts = map->Find("verdicts")) {
    if (std::optional<Map> vm = reader.Mapping(*verdicts, kVerdictsKeys)) {
      Keys keys(reader, *vm);
      keys.Bool("enabled", out.verdicts.enabled);
      keys.Time("hold", out.verdicts.hold, /*must_be_positive=*/true);
      keys.Time("quiet", out.verdicts.quiet, /*must_be_positive=*/false);
    }
  }
  const Value* redis_at = map->Require("redis", reader.diag());
  if (redis_at == nullptr) return;
  std::optional<Map> redis = reader.Mapping(*redis_at, kRedisKeys);
  if (!redis) return;
  RedisConfig r;
  bool ok = true;
  if (const Value* address = redis->Require("address", reader.diag())) {
    if (auto text = reader.NonEmptyString(*address)) {
      std::string why;
      if (auto parsed = ParseHostPortWithReason(*text, &why)) {
        r.address = *parsed;
      } else {
        reader.diag().Add(*address, why + " (write HOST:PORT, e.g. 10.0.0.5:6379)");
        ok = false;
      }
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const Value* env = redis->Find("password_env")) {
    std::optional<std::string> name = reader.NonEmptyString(*env);
    if (name && !IsEnvName(*name)) {
      reader.diag().Add(*env, Quoted(*name) +
                                  " is not an environment variable name (the password itself "
                                  "never goes in the config: name the variable that holds it)");
      ok = false;
    } else if (name) {
      r.password_env = *name;
    }
  }
  Keys keys(reader, *redis);
  Field timeout = keys.Time("timeout", r.timeout, /*must_be_positive=*/true);
  if (timeout.at != nullptr && timeout.ok && r.timeout > kMaxRedisTimeout) {
    reader.diag().Add(*timeout.at, "at most 10s (requests are held no longer than this)");
    ok = false;
  }
  // tls: true | false | {ca, server_name, client_certificate, client_private_key, min_version,
  // insecure_skip_verify}: a pool's tls keys, files checked at load.
  if (const Value* tls = redis->Find("tls")) {
    if (tls->node.IsMap()) {
      PoolTlsConfig block;
      ReadTlsBlock(reader, *tls, block);
      r.tls = std::move(block);
    } else {
      bool on = false;
      Field field = keys.Bool("tls", on);
      if (!field.ok) ok = false;
      if (on) r.tls = PoolTlsConfig{};
    }
  }
  if (ok) out.redis = r;
}

}  // namespace infergate::config::detail
