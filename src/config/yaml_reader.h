// Typed reading of yaml-cpp nodes for the config loader: every problem becomes a ConfigError
// positioned at the offending key or value, and reading goes on so that all are reported.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/address.h"
#include "infergate/config/config.h"
#include "infergate/core/units.h"

namespace infergate::config::detail {

// 1-based line and column; {0, 0} when unknown.
struct Pos {
  int line = 0;
  int column = 0;
};

Pos PosOf(const YAML::Node& node);

// YAML::LoadAll, except that a text on which yaml-cpp 0.7 would loop until memory runs out (a
// document that consumes no token, e.g. one that starts with ","; yaml-cpp issue 1040) throws
// YAML::ParserException at the token it is stuck on instead.
std::vector<YAML::Node> LoadAllDocuments(const std::string& yaml);

// A node together with its key path and the position a problem with it is reported at.
struct Value {
  YAML::Node node;
  std::string path;
  Pos pos;
};

// The position of the last character before byte `offset` that is neither blank nor in a
// comment: yaml-cpp marks an empty value at the token after it, this finds its "-" or ":".
Pos PrecedingTokenPos(std::string_view source, size_t offset);

// "a" + "b" -> "a.b"; "" + "b" -> "b".
std::string ChildPath(std::string_view path, std::string_view key);
// "a" + 2 -> "a[2]".
std::string ItemPath(std::string_view path, size_t index);

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
size_t EditDistance(std::string_view a, std::string_view b);

// "a, b, c".
std::string JoinNames(std::span<const std::string_view> names);
std::string JoinNames(const std::vector<std::string>& names);

// ASCII lower case.
std::string Lower(std::string text);
// Whether `hex` (lower-cased) is a SHA-256 digest written as 64 hex digits.
bool IsSha256Hex(std::string_view hex);
// The error for a value that is not one, e.g. "the SHA-256 of an API key" (says how to compute
// it).
std::string Sha256HexError(std::string_view what, size_t length);
// RFC 9110 token characters (methods and header names).
bool IsToken(std::string_view text);
// "true"/"True"/"TRUE" and "false"/"False"/"FALSE"; nullopt otherwise.
std::optional<bool> BoolFromText(std::string_view text);

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void Add(Pos pos, std::string path, std::string message);
  void Add(const Value& at, std::string message) { Add(at.pos, at.path, std::move(message)); }
  bool empty() const { return errors_.empty(); }
  const std::string& file() const { return file_; }
  // The errors in document order (errors without a position first).
  std::vector<ConfigError> TakeSorted();

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

// The bounds of a real number: [min, max], or (min, max] with min_exclusive. An infinite max
// means no upper bound.
struct NumberRange {
  double min = 0;
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
};

struct MapEntry {
  std::string key;
  Pos key_pos;
  Value value;
};

// The entries of a mapping whose keys have been checked.
class Map {
 public:
  Map(Value self, std::vector<MapEntry> entries)
      : self_(std::move(self)), entries_(std::move(entries)) {}

  const Value& self() const { return self_; }
  const std::vector<MapEntry>& entries() const { return entries_; }
  const Value* Find(std::string_view key) const;
  // Reports a missing key at the mapping itself.
  const Value* Require(std::string_view key, Diagnostics& diag) const;

 private:
  Value self_;
  std::vector<MapEntry> entries_;
};

// Each reader reports what is wrong at the value and returns nullopt.
class Reader {
 public:
  // `source` is the YAML text the nodes came from; it places empty list items.
  Reader(Diagnostics& diag, std::string_view source) : diag_(diag), source_(source) {}

  Diagnostics& diag() { return diag_; }

  // A mapping whose keys must come from `allowed`: unknown and duplicate keys are reported and
  // left out. With `null_is_empty`, an empty value reads as an empty mapping.
  std::optional<Map> Mapping(const Value& v, std::span<const std::string_view> allowed,
                             bool null_is_empty = false);
  // A mapping with free-form string keys (header names); duplicates are still reported.
  std::optional<Map> AnyKeyMapping(const Value& v);
  // A list; an empty one is reported as "empty list (<if_empty>)".
  std::optional<std::vector<Value>> List(const Value& v, std::string_view if_empty);
  // One string, or a non-empty list of strings.
  std::optional<std::vector<std::pair<std::string, Value>>> StringOrList(const Value& v,
                                                                         std::string_view if_empty);

  std::optional<std::string> String(const Value& v);
  std::optional<std::string> NonEmptyString(const Value& v);
  std::optional<int64_t> Integer(const Value& v, int64_t min, int64_t max);
  std::optional<bool> Bool(const Value& v);
  // An integer or a decimal number ("50", "1.4", "2.5e-1"), finite and within `range`.
  std::optional<double> Number(const Value& v, NumberRange range);
  std::optional<Duration> DurationValue(const Value& v, bool must_be_positive);
  std::optional<uint64_t> Size(const Value& v, uint64_t min);

  template <typename E>
  std::optional<E> Enum(const Value& v, std::span<const std::pair<std::string_view, E>> choices) {
    std::vector<std::string> names;
    for (const auto& choice : choices) names.emplace_back(choice.first);
    if (!v.node.IsScalar()) {
      diag_.Add(v, std::string(v.node.IsNull() ? "missing value" : "expected a string") +
                       " (allowed: " + JoinNames(names) + ")");
      return std::nullopt;
    }
    const std::string& text = v.node.Scalar();
    for (const auto& [name, value] : choices) {
      if (name == text) return value;
    }
    diag_.Add(v, "unknown value \"" + text + "\" (allowed: " + JoinNames(names) + ")");
    return std::nullopt;
  }

 private:
  std::optional<Map> ReadMap(const Value& v, std::span<const std::string_view> allowed,
                             bool any_key);
  // Reports "expected <what>" unless `v` is a scalar; returns whether it is one.
  bool ExpectScalar(const Value& v, std::string_view what);

  Diagnostics& diag_;
  std::string_view source_;
};

// Reports, at the value, a name seen before in the same list.
class NameSet {
 public:
  bool Insert(const std::string& name, const Value& at, std::string_view noun, Diagnostics& diag) {
    auto [it, inserted] = first_line_.emplace(name, at.pos.line);
    if (!inserted) {
      diag.Add(at, "duplicate " + std::string(noun) + " name " + Quoted(name) + " (first at line " +
                       std::to_string(it->second) + ")");
    }
    return inserted;
  }

  // The mapping's required, non-empty `name`, reported when seen before; "" when it is bad.
  std::string ReadName(Reader& reader, const Map& map, std::string_view noun) {
    const Value* v = map.Require("name", reader.diag());
    if (v == nullptr) return "";
    std::optional<std::string> name = reader.NonEmptyString(*v);
    if (!name) return "";
    Insert(*name, *v, noun, reader.diag());
    return *name;
  }

 private:
  std::map<std::string, int> first_line_;
};

// What became of an optional key: absent (the default stays), read, or refused (reported).
struct Field {
  const Value* at = nullptr;
  bool ok = true;
};

// Reads the optional keys of one checked mapping into a struct, leaving the default in place
// for an absent or refused key.
class Keys {
 public:
  Keys(Reader& reader, const Map& map) : reader_(reader), map_(map) {}

  template <typename T>
  Field Integer(std::string_view key, T& out, int64_t min, int64_t max) {
    return Read(key, out, [&](const Value& v) { return reader_.Integer(v, min, max); });
  }
  Field Number(std::string_view key, double& out, NumberRange range) {
    return Read(key, out, [&](const Value& v) { return reader_.Number(v, range); });
  }
  Field Time(std::string_view key, Duration& out, bool must_be_positive) {
    return Read(key, out,
                [&](const Value& v) { return reader_.DurationValue(v, must_be_positive); });
  }
  Field Bool(std::string_view key, bool& out) {
    return Read(key, out, [&](const Value& v) { return reader_.Bool(v); });
  }
  template <typename E, size_t N>
  Field Enum(std::string_view key, E& out, const std::pair<std::string_view, E> (&choices)[N]) {
    return Read(key, out, [&](const Value& v) { return reader_.Enum<E>(v, choices); });
  }

 private:
  template <typename T, typename ReadValue>
  Field Read(std::string_view key, T& out, ReadValue read) {
    Field field;
    field.at = map_.Find(key);
    if (field.at == nullptr) return field;
    auto parsed = read(*field.at);
    if (parsed) {
      out = static_cast<T>(*parsed);
    } else {
      field.ok = false;
    }
    return field;
  }

  Reader& reader_;
  const Map& map_;
};

// A listener's limits, timeouts, protocols and http2 keys (listener_keys.cc), from an already
// checked listener mapping.
void ReadListenerLimits(Reader& reader, const Map& listener, ListenerConfig& out);

// A pool's request_headers mapping (request_headers_keys.cc): set, add and remove, with
// The path at `v` when it names a file the gateway can read; reported at `v` (with the reason)
// otherwise (listener_keys.cc).
std::optional<std::string> ReadableFile(Reader& reader, const Value& v);

// The keys of a kind: gguf runner (runner_keys.cc), from an already checked runner mapping:
// device, context, chat_template, kv_cache_bytes, max_tokens and the required model_file, which
// is opened and checked.
void ReadGgufRunner(Reader& reader, const Map& map, RunnerConfig& r);

// ${env:NAME} expanded in values (a variable that is not set is an error at the value).
void ReadRequestHeaders(Reader& reader, const Value& v, RequestHeaderRules& out);

// TLS to a pool's backends (pool_tls_keys.cc), after its backends were read: the tls block's
// keys with its files checked, a tls block without https:// backends and a mix of http:// and
// https:// backends refused; out.tls is set when the backends are https://.
void ReadPoolTls(Reader& reader, const Map& pool, PoolConfig& out);
// A tls mapping (ca, server_name, client_certificate, client_private_key, min_version,
// insecure_skip_verify), its files read and checked: a pool's, and shared_state.redis.tls.
void ReadTlsBlock(Reader& reader, const Value& v, PoolTlsConfig& out);

// The top-level access_log mapping (access_log_keys.cc).
void ReadAccessLog(Reader& reader, const Value& v, AccessLogConfig& out);

// The top-level models mapping: list and refresh (models_keys.cc).
void ReadModels(Reader& reader, const Value& v, ModelsConfig& out);

// A listener's cors mapping (cors_keys.cc).
void ReadCors(Reader& reader, const Value& v, CorsConfig& out);

// The rate-limit keys (limits_keys.cc).

// A `limits` mapping: at least one limit, or shadow alone.
std::optional<LimitsConfig> ReadLimits(Reader& reader, const Value& v);
// One api_keys_sha256 entry: its text (the hex, checked by the caller) and where it is, and
// the limits of the item form {sha256: HEX, limits: {...}} (the keys it leaves out: `tenant`'s).
struct ApiKeyItem {
  std::string text;
  Value at;
  std::optional<LimitsConfig> limits;
};
// api_keys_sha256: one string, or a list of strings and {sha256, limits} items.
std::optional<std::vector<ApiKeyItem>> ReadApiKeyItems(Reader& reader, const Value& v,
                                                       const std::optional<LimitsConfig>& tenant);
// The top-level model_limits list.
void ReadModelLimits(Reader& reader, const Value& v, std::vector<ModelLimitsConfig>& out);
// The top-level shared_state mapping.
void ReadSharedState(Reader& reader, const Value& v, SharedStateConfig& out);

// The keys of the failure-containment mechanisms, read by resilience_keys.cc.

// The pool keys health_check, failure_detector, circuit_breaker, outlier_ejection,
// panic_threshold, overprovisioning_factor, slow_start, retry_budget, affinity, load_report and
// adaptive_concurrency (and the least_queue check of load_balancing), from an
// already checked pool mapping.
void ReadPoolResilience(Reader& reader, const Map& pool, PoolConfig& out);
// A route's `retry` mapping.
void ReadRetryPolicy(Reader& reader, const Value& v, RetryPolicy& out);

// The isolation and degradation keys, read by isolation_keys.cc.

// The top-level compartments, tiers, tenant_identification, tenants and runners. Read before the
// routes, which refer to them.
void ReadIsolation(Reader& reader, const Map& root, Config& out);
// A route's compartment, fallbacks and degrade keys. `pools` maps pool names to indices.
void ReadRouteDegradation(Reader& reader, const Map& route, const Config& config,
                          const std::map<std::string, size_t>& pools, RouteConfig& out);

}  // namespace infergate::config::detail
