// The config keys of isolation and degradation: compartments (bulkheads), priority tiers,
// tenants, in-process runners, and a route's compartment, fallbacks and degradation triggers.
// config/infergate.yaml documents them.
#include <algorithm>
#include <cctype>
#include <map>
#include <utility>

#include "config/address.h"
#include "config/yaml_reader.h"

namespace infergate::config {

std::string_view TriggerName(Trigger t) {
  switch (t) {
    case Trigger::kNoBackend:
      return "no_backend";
    case Trigger::kCompartmentFull:
      return "compartment_full";
    case Trigger::kConcurrencyLimit:
      return "concurrency_limit";
    case Trigger::kRetriesExhausted:
      return "retries_exhausted";
    case Trigger::kFirstByteTimeout:
      return "first_byte_timeout";
    case Trigger::kSaturation:
      return "saturation";
    case Trigger::kPredictedWait:
      return "predicted_wait";
    case Trigger::kContextLengthExceeded:
      return "context_length_exceeded";
    case Trigger::kContentFilter:
      return "content_filter";
  }
  return "unknown";
}

namespace detail {
namespace {

constexpr std::string_view kCompartmentKeys[] = {
    "name", "max_concurrent", "max_queue", "max_wait", "on_full", "retry_after", "thread_pool"};
constexpr std::string_view kThreadPoolKeys[] = {"threads", "queue"};
constexpr std::string_view kTierKeys[] = {"name", "reserve_percent"};
constexpr std::string_view kTenantKeys[] = {"name", "api_keys_sha256", "certificate_names",
                                            "tier", "compartment",     "limits"};
constexpr std::string_view kIdentificationKeys[] = {"header", "client_certificate",
                                                    "anonymous_tier"};
constexpr std::string_view kRunnerKeys[] = {
    "name",       "kind",   "compartment", "model",         "tokens",         "token_cost",
    "model_file", "device", "context",     "chat_template", "kv_cache_bytes", "max_tokens"};
// The keys only a gguf runner takes.
constexpr std::string_view kGgufOnlyKeys[] = {"model_file",    "device",         "context",
                                              "chat_template", "kv_cache_bytes", "max_tokens"};
constexpr std::string_view kPoolFallbackKeys[] = {"pool", "rewrite_model", "compartment", "on"};
constexpr std::string_view kRunnerFallbackKeys[] = {"runner", "on"};
constexpr std::string_view kStaticFallbackKeys[] = {"static", "model", "on"};
constexpr std::string_view kDegradeKeys[] = {"on", "saturation", "max_predicted_wait",
                                             "recover_after"};
constexpr std::string_view kSaturationKeys[] = {"queue_above", "kv_cache_above"};

constexpr std::pair<std::string_view, CompartmentConfig::OnFull> kOnFullNames[] = {
    {"reject", CompartmentConfig::OnFull::kReject},
    {"degrade", CompartmentConfig::OnFull::kDegrade},
};
constexpr std::pair<std::string_view, RunnerConfig::Kind> kRunnerKinds[] = {
    {"synthetic", RunnerConfig::Kind::kSynthetic},
    {"gguf", RunnerConfig::Kind::kGguf},
};
constexpr std::pair<std::string_view, Trigger> kTriggerNames[] = {
    {"no_backend", Trigger::kNoBackend},
    {"compartment_full", Trigger::kCompartmentFull},
    {"concurrency_limit", Trigger::kConcurrencyLimit},
    {"retries_exhausted", Trigger::kRetriesExhausted},
    {"first_byte_timeout", Trigger::kFirstByteTimeout},
    {"saturation", Trigger::kSaturation},
    {"predicted_wait", Trigger::kPredictedWait},
    {"context_length_exceeded", Trigger::kContextLengthExceeded},
    {"content_filter", Trigger::kContentFilter},
};

constexpr int64_t kMaxConcurrent = 1000000;
constexpr int64_t kMaxQueue = 1000000;
constexpr int64_t kMaxThreads = 256;
constexpr int64_t kMaxThreadQueue = 100000;
constexpr int64_t kMaxTokens = 100000;

uint32_t Bit(Trigger t) { return 1u << static_cast<int>(t); }

// Looks a name up in a list read earlier; reports an unknown one with the known names.
template <typename T>
std::optional<size_t> Resolve(Reader& reader, const Value& v, const std::vector<T>& items,
                              std::string_view noun, std::string_view section) {
  std::optional<std::string> name = reader.NonEmptyString(v);
  if (!name) return std::nullopt;
  std::vector<std::string> known;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].name == *name) return i;
    if (!items[i].name.empty()) known.push_back(items[i].name);
  }
  reader.diag().Add(v, "unknown " + std::string(noun) + " " + Quoted(*name) +
                           (known.empty() ? " (no " + std::string(section) + " are defined)"
                                          : " (known: " + JoinNames(known) + ")"));
  return std::nullopt;
}

class IsolationReader {
 public:
  IsolationReader(Reader& reader, Config& out) : reader_(reader), diag_(reader.diag()), out_(out) {}

  void Read(const Map& root) {
    if (const Value* v = root.Find("compartments")) {
      if (auto items = reader_.List(*v, "omit compartments when no route or tenant uses one")) {
        NameSet names;
        for (const Value& item : *items) ReadCompartment(item, names);
      }
    }
    if (const Value* v = root.Find("tiers")) {
      if (auto items = reader_.List(*v, "omit tiers for a single tier")) {
        NameSet names;
        for (const Value& item : *items) ReadTier(item, names);
      }
    }
    if (out_.tiers.empty()) out_.tiers.push_back(TierConfig{"default", 0});
    out_.tenant_identification.anonymous_tier = out_.tiers.size() - 1;
    if (const Value* v = root.Find("tenant_identification")) ReadIdentification(*v);
    if (const Value* v = root.Find("tenants")) {
      if (auto items = reader_.List(*v, "omit tenants when requests are not told apart")) {
        NameSet names;
        std::map<std::string, int> key_lines;
        std::map<std::string, int> name_lines;
        for (const Value& item : *items) ReadTenant(item, names, key_lines, name_lines);
      }
    }
    if (const Value* v = root.Find("runners")) {
      if (auto items = reader_.List(*v, "omit runners when no route falls back to one")) {
        NameSet names;
        for (const Value& item : *items) ReadRunner(item, names);
      }
    }
  }

 private:
  void ReadCompartment(const Value& v, NameSet& names) {
    std::optional<Map> map = reader_.Mapping(v, kCompartmentKeys);
    CompartmentConfig& c = out_.compartments.emplace_back();
    if (!map) return;
    c.name = ReadName(*map, names, "compartment");
    Keys keys(reader_, *map);
    keys.Integer("max_concurrent", c.max_concurrent, 1, kMaxConcurrent);
    keys.Integer("max_queue", c.max_queue, 0, kMaxQueue);
    keys.Time("max_wait", c.max_wait, true);
    keys.Enum("on_full", c.on_full, kOnFullNames);
    keys.Time("retry_after", c.retry_after, false);
    if (const Value* pool = map->Find("thread_pool")) {
      if (std::optional<Map> tp = reader_.Mapping(*pool, kThreadPoolKeys)) {
        c.thread_pool.threads = 1;
        Keys tp_keys(reader_, *tp);
        tp_keys.Integer("threads", c.thread_pool.threads, 1, kMaxThreads);
        tp_keys.Integer("queue", c.thread_pool.queue, 0, kMaxThreadQueue);
      }
    }
  }

  void ReadTier(const Value& v, NameSet& names) {
    std::optional<Map> map = reader_.Mapping(v, kTierKeys);
    TierConfig& t = out_.tiers.emplace_back();
    if (!map) return;
    t.name = ReadName(*map, names, "tier");
    Field reserve =
        Keys(reader_, *map).Number("reserve_percent", t.reserve_percent, NumberRange{0, 99});
    if (reserve.at != nullptr && reserve.ok && out_.tiers.size() == 1 && t.reserve_percent > 0) {
      diag_.Add(*reserve.at,
                "the first tier is the highest: there is no higher tier to reserve capacity for "
                "(set reserve_percent on the lower tiers)");
    }
  }

  void ReadIdentification(const Value& v) {
    std::optional<Map> map = reader_.Mapping(v, kIdentificationKeys);
    if (!map) return;
    if (const Value* header = map->Find("header")) {
      if (auto text = reader_.NonEmptyString(*header)) {
        if (!IsToken(*text)) {
          diag_.Add(*header, Quoted(*text) + " is not a valid header name");
        } else {
          out_.tenant_identification.header = Lower(*text);
        }
      }
    }
    if (const Value* tier = map->Find("anonymous_tier")) {
      if (auto i = Resolve(reader_, *tier, out_.tiers, "tier", "tiers"))
        out_.tenant_identification.anonymous_tier = *i;
    }
    Field cert = Keys(reader_, *map)
                     .Bool("client_certificate", out_.tenant_identification.client_certificate);
    if (cert.at != nullptr && cert.ok && out_.tenant_identification.client_certificate) {
      const bool verified =
          std::any_of(out_.listeners.begin(), out_.listeners.end(),
                      [](const ListenerConfig& l) { return l.tls && !l.tls->client_ca.empty(); });
      if (!verified) {
        diag_.Add(*cert.at,
                  "no listener verifies client certificates: set tls.client_ca on the listener "
                  "whose clients are identified by certificate");
      }
    }
  }

  // A tenant's client-certificate names: each identifies one tenant, and only when
  // tenant_identification.client_certificate is on.
  void ReadCertificateNames(const Value& v, TenantConfig& t, std::map<std::string, int>& lines) {
    auto list = reader_.StringOrList(v,
                                     "omit certificate_names for a tenant not identified by "
                                     "its client certificate");
    if (!list) return;
    if (!out_.tenant_identification.client_certificate) {
      diag_.Add(v,
                "certificate names identify a tenant only with "
                "tenant_identification.client_certificate: true");
      return;
    }
    for (auto& [text, at] : *list) {
      if (text.empty()) {
        diag_.Add(at, "expected a certificate's subject common name or subjectAltName");
        continue;
      }
      auto [it, inserted] = lines.emplace(text, at.pos.line);
      if (!inserted) {
        diag_.Add(at, Quoted(text) + " is already listed at line " + std::to_string(it->second) +
                          " (a certificate name identifies one tenant)");
        continue;
      }
      t.certificate_names.push_back(text);
    }
  }

  void ReadTenant(const Value& v, NameSet& names, std::map<std::string, int>& key_lines,
                  std::map<std::string, int>& name_lines) {
    std::optional<Map> map = reader_.Mapping(v, kTenantKeys);
    TenantConfig& t = out_.tenants.emplace_back();
    if (!map) return;
    t.name = ReadName(*map, names, "tenant");
    if (const Value* limits = map->Find("limits")) t.limits = ReadLimits(reader_, *limits);
    if (const Value* keys = map->Find("api_keys_sha256")) {
      if (auto list = ReadApiKeyItems(reader_, *keys, t.limits)) {
        for (auto& [text, at, limits] : *list) {
          std::string hex = Lower(text);
          if (!IsSha256Hex(hex)) {
            diag_.Add(at, Sha256HexError("the SHA-256 of an API key", text.size()));
            continue;
          }
          auto [it, inserted] = key_lines.emplace(hex, at.pos.line);
          if (!inserted) {
            diag_.Add(at, "this key hash is already listed at line " + std::to_string(it->second) +
                              " (a key identifies one tenant)");
            continue;
          }
          if (limits) t.key_limits.push_back({hex, *limits});
          t.api_key_sha256.push_back(std::move(hex));
        }
      }
    }
    if (const Value* names_at = map->Find("certificate_names"))
      ReadCertificateNames(*names_at, t, name_lines);
    if (const Value* tier = map->Find("tier")) {
      if (auto i = Resolve(reader_, *tier, out_.tiers, "tier", "tiers")) t.tier = *i;
    } else if (out_.tiers.size() > 1) {
      diag_.Add(map->self(),
                "missing key \"tier\" (several tiers are defined: " + TierNames() + ")");
    }
    if (const Value* c = map->Find("compartment")) {
      t.compartment = Resolve(reader_, *c, out_.compartments, "compartment", "compartments");
    }
  }

  std::string ReadName(const Map& map, NameSet& names, std::string_view noun) {
    return names.ReadName(reader_, map, noun);
  }

  std::string TierNames() const {
    std::vector<std::string> names;
    for (const auto& t : out_.tiers) names.push_back(t.name);
    return JoinNames(names);
  }

  void ReadRunner(const Value& v, NameSet& names) {
    std::optional<Map> map = reader_.Mapping(v, kRunnerKeys);
    RunnerConfig& r = out_.runners.emplace_back();
    if (!map) return;
    r.name = ReadName(*map, names, "runner");
    Keys keys(reader_, *map);
    const Field kind = keys.Enum("kind", r.kind, kRunnerKinds);
    if (r.kind == RunnerConfig::Kind::kGguf) {
      ReadGgufRunner(reader_, *map, r);
    } else if (kind.ok) {
      keys.Integer("tokens", r.tokens, 1, kMaxTokens);
      keys.Time("token_cost", r.token_cost, false);
      for (std::string_view key : kGgufOnlyKeys) {
        if (const Value* k = map->Find(key))
          diag_.Add(*k, std::string(key) + " applies to kind gguf only");
      }
    }
    if (const Value* model = map->Find("model")) {
      if (auto text = reader_.NonEmptyString(*model)) r.model = *text;
    }
    if (const Value* c = map->Require("compartment", diag_)) {
      if (auto i = Resolve(reader_, *c, out_.compartments, "compartment", "compartments")) {
        r.compartment = *i;
        if (out_.compartments[*i].thread_pool.threads == 0) {
          diag_.Add(*c, "compartment " + Quoted(out_.compartments[*i].name) +
                            " has no thread_pool: a runner burns CPU and must not run on the "
                            "event loop (add thread_pool: {threads: N} to the compartment)");
        }
      }
    }
  }

  Reader& reader_;
  Diagnostics& diag_;
  Config& out_;
};

class RouteDegradationReader {
 public:
  RouteDegradationReader(Reader& reader, const Config& config,
                         const std::map<std::string, size_t>& pools, RouteConfig& out)
      : reader_(reader), diag_(reader.diag()), config_(config), pools_(pools), out_(out) {}

  void Read(const Map& route) {
    if (const Value* c = route.Find("compartment")) {
      out_.compartment = Resolve(reader_, *c, config_.compartments, "compartment", "compartments");
    }
    if (const Value* v = route.Find("fallbacks")) {
      if (auto items = reader_.List(*v, "omit fallbacks to answer with errors only")) {
        for (const Value& item : *items) ReadFallback(item);
      }
    }
    const Value* degrade = route.Find("degrade");
    std::optional<Map> map;
    if (degrade != nullptr) map = reader_.Mapping(*degrade, kDegradeKeys, /*null_is_empty=*/true);
    if (map) ReadDegrade(*map);
    // A fallback's own `on` may name a condition trigger only when the route sets its threshold.
    for (const auto& [t, at] : condition_sites_) {
      const SaturationConfig& sat = out_.degrade.saturation;
      if (t == Trigger::kSaturation && !sat.queue_above && !sat.kv_cache_above) {
        diag_.Add(at,
                  "the saturation trigger needs degrade.saturation (queue_above or "
                  "kv_cache_above) and a pool with load_report");
      } else if (t == Trigger::kPredictedWait &&
                 out_.degrade.max_predicted_wait == Duration::zero()) {
        diag_.Add(at, "the predicted_wait trigger needs degrade.max_predicted_wait");
      }
    }
    if (degrade != nullptr && out_.fallbacks.empty() && route.Find("fallbacks") == nullptr) {
      diag_.Add(*degrade,
                "degrade needs fallbacks: list where degraded requests go (a pool, a "
                "runner or a static answer) under the route's fallbacks key");
    }
    if (degrade == nullptr || (map && map->Find("on") == nullptr)) {
      out_.degrade.triggers = Bit(Trigger::kNoBackend) | Bit(Trigger::kCompartmentFull) |
                              Bit(Trigger::kConcurrencyLimit) | Bit(Trigger::kRetriesExhausted) |
                              Bit(Trigger::kFirstByteTimeout);
      if (out_.degrade.saturation.queue_above || out_.degrade.saturation.kv_cache_above)
        out_.degrade.triggers |= Bit(Trigger::kSaturation);
      if (out_.degrade.max_predicted_wait > Duration::zero())
        out_.degrade.triggers |= Bit(Trigger::kPredictedWait);
    }
    // A trigger is the route's when some fallback serves it: degrade.on for entries without an
    // `on` of their own, plus what each entry's `on` names.
    out_.degrade.route_on = out_.degrade.triggers;
    bool any_default = false;
    uint32_t named = 0;
    for (const FallbackConfig& f : out_.fallbacks) {
      any_default = any_default || f.on == 0;
      named |= f.on;
    }
    out_.degrade.triggers = (any_default ? out_.degrade.route_on : 0) | named;
    if (out_.fallbacks.empty()) out_.degrade.triggers = out_.degrade.route_on = 0;
  }

 private:
  void ReadFallback(const Value& v) {
    constexpr std::string_view kWhat =
        "{pool: NAME, rewrite_model: MODEL}, {runner: NAME} or {static: TEXT}";
    if (!v.node.IsMap()) {
      diag_.Add(v, std::string(v.node.IsNull() ? "missing value" : "expected a mapping") +
                       " (write " + std::string(kWhat) + ")");
      return;
    }
    int kinds = static_cast<int>(v.node["pool"].IsDefined()) +
                static_cast<int>(v.node["runner"].IsDefined()) +
                static_cast<int>(v.node["static"].IsDefined());
    if (kinds != 1) {
      diag_.Add(v, std::string(kinds == 0 ? "expected one of pool, runner, static"
                                          : "expected only one of pool, runner, static") +
                       " (write " + std::string(kWhat) + ")");
      return;
    }
    FallbackConfig f;
    std::optional<Map> map;
    if (v.node["pool"].IsDefined()) {
      map = reader_.Mapping(v, kPoolFallbackKeys);
      if (!map) return;
      const Value* pool = map->Find("pool");
      std::optional<std::string> name = reader_.NonEmptyString(*pool);
      if (!name) return;
      auto it = pools_.find(*name);
      if (it == pools_.end()) {
        std::vector<std::string> known;
        for (const auto& [n, i] : pools_) known.push_back(n);
        diag_.Add(*pool, "unknown pool " + Quoted(*name) + " (known: " + JoinNames(known) + ")");
        return;
      }
      f.kind = FallbackConfig::Kind::kPool;
      f.pool = it->second;
      f.name = *name;
      if (const Value* rewrite = map->Find("rewrite_model")) {
        if (auto model = reader_.NonEmptyString(*rewrite)) f.rewrite_model = *model;
      }
      if (const Value* c = map->Find("compartment")) {
        f.compartment = Resolve(reader_, *c, config_.compartments, "compartment", "compartments");
      }
    } else if (v.node["runner"].IsDefined()) {
      map = reader_.Mapping(v, kRunnerFallbackKeys);
      if (!map) return;
      auto i = Resolve(reader_, *map->Find("runner"), config_.runners, "runner", "runners");
      if (!i) return;
      f.kind = FallbackConfig::Kind::kRunner;
      f.runner = *i;
      f.name = "runner:" + config_.runners[*i].name;
    } else {
      map = reader_.Mapping(v, kStaticFallbackKeys);
      if (!map) return;
      auto text = reader_.NonEmptyString(*map->Find("static"));
      if (!text) return;
      f.kind = FallbackConfig::Kind::kStatic;
      f.text = *text;
      f.name = "static";
      if (const Value* model = map->Find("model")) {
        if (auto m = reader_.NonEmptyString(*model)) f.model = *m;
      }
    }
    if (const Value* on = map->Find("on")) {
      if (auto list = reader_.StringOrList(*on, "omit on to serve the route's triggers")) {
        for (auto& [name, at] : *list) {
          auto t = LookUpTrigger(name, at);
          if (!t) continue;
          f.on |= Bit(*t);
          if (*t == Trigger::kSaturation || *t == Trigger::kPredictedWait)
            condition_sites_.emplace_back(*t, at);  // checked once degrade is read
        }
      }
    }
    for (const FallbackConfig& earlier : out_.fallbacks) {
      if (earlier.name == f.name && f.kind != FallbackConfig::Kind::kPool) {
        diag_.Add(v, "fallback " + Quoted(f.name) + " is listed twice");
        return;
      }
    }
    out_.fallbacks.push_back(std::move(f));
  }

  // A trigger or error class by its name; an unknown name is reported with the allowed ones.
  std::optional<Trigger> LookUpTrigger(const std::string& name, const Value& at) {
    auto found = std::find_if(std::begin(kTriggerNames), std::end(kTriggerNames),
                              [&](const auto& p) { return p.first == name; });
    if (found != std::end(kTriggerNames)) return found->second;
    std::vector<std::string> names;
    for (const auto& p : kTriggerNames) names.emplace_back(p.first);
    diag_.Add(at, "unknown trigger " + Quoted(name) + " (allowed: " + JoinNames(names) + ")");
    return std::nullopt;
  }

  void ReadDegrade(const Map& map) {
    DegradeConfig& d = out_.degrade;
    if (const Value* sat = map.Find("saturation")) {
      if (std::optional<Map> s = reader_.Mapping(*sat, kSaturationKeys)) {
        if (sat->node.size() == 0) {  // a misspelled key is reported as unknown already
          diag_.Add(*sat, "expected queue_above or kv_cache_above");
        }
        double queue = 0;
        double kv = 0;
        Keys keys(reader_, *s);
        Field q = keys.Number("queue_above", queue, NumberRange{0, 1e9});
        Field k = keys.Number("kv_cache_above", kv, NumberRange{0, 1, /*min_exclusive=*/true});
        if (q.at != nullptr && q.ok) d.saturation.queue_above = queue;
        if (k.at != nullptr && k.ok) d.saturation.kv_cache_above = kv;
      }
    }
    Keys keys(reader_, map);
    keys.Time("max_predicted_wait", d.max_predicted_wait, true);
    keys.Time("recover_after", d.recover_after, false);
    if (const Value* on = map.Find("on")) {
      if (auto list = reader_.StringOrList(*on, "omit on for the default triggers")) {
        for (auto& [name, at] : *list) {
          std::optional<Trigger> found = LookUpTrigger(name, at);
          if (!found) continue;
          if (*found == Trigger::kSaturation && !d.saturation.queue_above &&
              !d.saturation.kv_cache_above) {
            diag_.Add(at,
                      "the saturation trigger needs degrade.saturation (queue_above or "
                      "kv_cache_above) and a pool with load_report");
            continue;
          }
          if (*found == Trigger::kPredictedWait && d.max_predicted_wait == Duration::zero()) {
            diag_.Add(at, "the predicted_wait trigger needs degrade.max_predicted_wait");
            continue;
          }
          d.triggers |= Bit(*found);
        }
      }
    }
    if (d.has(Trigger::kSaturation) || (d.saturation.queue_above || d.saturation.kv_cache_above)) {
      for (const WeightedTarget& t : out_.to) {
        if (t.pool_index < config_.pools.size() &&
            !config_.pools[t.pool_index].load_report.enabled) {
          if (const Value* sat = map.Find("saturation")) {
            diag_.Add(*sat,
                      "pool " + Quoted(t.pool) +
                          " reports no load: add load_report to it so saturation can be seen");
          }
          break;
        }
      }
    }
  }

  Reader& reader_;
  Diagnostics& diag_;
  const Config& config_;
  const std::map<std::string, size_t>& pools_;
  RouteConfig& out_;
  std::vector<std::pair<Trigger, Value>> condition_sites_;  // fallbacks' on: [saturation] etc.
};

}  // namespace

void ReadIsolation(Reader& reader, const Map& root, Config& out) {
  IsolationReader(reader, out).Read(root);
}

void ReadRouteDegradation(Reader& reader, const Map& route, const Config& config,
                          const std::map<std::string, size_t>& pools, RouteConfig& out) {
  RouteDegradationReader(reader, config, pools, out).Read(route);
}

}  // namespace detail
}  // namespace infergate::config
