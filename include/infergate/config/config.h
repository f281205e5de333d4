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
#include "infergate/core/log.h"
#include "infergate/core/units.h"

namespace infergate::config {

using namespace std::chrono_literals;

// A network address from "host:port", "[v6]:port" or ":port" (all interfaces).
struct HostPort {
  std::string host;  // literal IP or DNS name, without brackets; "0.0.0.0" for ":port"
  uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

// HTTP/2 on a listener: the SETTINGS it advertises and the per-connection flood defences. Each
// max_*_per_interval counts one frame kind per connection over flood_interval; one more sends
// GOAWAY(ENHANCE_YOUR_CALM) and closes the connection.
struct Http2Config {
  uint32_t max_concurrent_streams = 100;         // SETTINGS_MAX_CONCURRENT_STREAMS
  uint32_t initial_stream_window = 65535;        // bytes a client may send per stream unread
  uint32_t initial_connection_window = 1 << 20;  // ... and per connection
  // Request bodies one connection may hold (arriving, or complete on streams still open); past
  // it the connection's window stays shut until streams end. At least max_request_body_bytes.
  uint64_t max_connection_body_bytes = 64 << 20;
  Duration flood_interval = 10s;
  uint32_t max_resets_per_interval = 200;  // RST_STREAM from the client (rapid reset)
  uint32_t max_pings_per_interval = 100;
  uint32_t max_settings_per_interval = 100;
  uint32_t max_priority_per_interval = 1000;
  uint32_t max_window_updates_per_interval = 1000;  // plus one per DATA frame sent
  uint32_t max_empty_frames_per_interval = 100;     // DATA frames without payload or END_STREAM
};

// TLS on a listener: certificates chosen by SNI (the first is the default), the lowest protocol
// version, the ALPN protocols offered (h2 and http/1.1 on one port), and an optional CA that
// client certificates must chain to (mTLS).
struct ListenerTlsConfig {
  struct Certificate {
    std::string certificate;  // PEM chain, leaf first
    std::string private_key;  // PEM
  };
  std::vector<Certificate> certificates;
  bool tls13_only = false;  // min_version "1.3"
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  std::string client_ca;
};

// CORS for browser clients on one listener. The gateway answers a preflight (OPTIONS with
// Access-Control-Request-Method) itself, and adds Access-Control-Allow-Origin (and the rest) to
// every answer to an allowed origin, proxied or its own.
struct CorsConfig {
  std::vector<std::string> allow_origins;  // exact origins ("https://app.example.com"), or "*"
  std::vector<std::string> allow_methods = {"GET", "POST", "OPTIONS"};
  std::vector<std::string> allow_headers = {"authorization", "content-type"};  // lower-cased
  std::vector<std::string> expose_headers;  // response headers scripts may read
  bool allow_credentials = false;           // not with "*"
  Duration max_age = 600s;                  // Access-Control-Max-Age of preflight answers
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
  // Open client connections on this listener across all workers; over it a new connection is
  // closed at once (after an idle keep-alive connection, then the oldest unfinished request
  // head, is closed to make room). 0: sized from the process's file-descriptor limit.
  uint32_t max_connections = 0;
  bool require_api_key = false;  // 401 unless the bearer key is a tenant's
  // Protocols served on the port: HTTP/1.1 and h2c (HTTP/2 with prior knowledge), told apart by
  // the connection preface. At least one.
  bool http1 = true;
  bool h2c = true;
  Http2Config http2;
  std::optional<ListenerTlsConfig> tls;  // absent: cleartext
  std::optional<CorsConfig> cors;        // absent: no CORS headers, OPTIONS routed as any method
};

struct AdminConfig {
  HostPort listen{"127.0.0.1", 9901};
  // SHA-256 (hex) of the bearer token the endpoints that change state (reload, drain) require;
  // "" = none. Read-only endpoints (/metrics, /health, /ready, GET /admin/backends) stay open.
  std::string token_sha256;
};

// The access log: one line per exchange, appended to `path` by a writer thread of its own.
struct AccessLogConfig {
  std::string path;
  LogFormat format = LogFormat::kJson;
  size_t buffer_lines = 16384;  // lines queued for the writer; more are dropped (and counted)
};

// kLeastQueue: the backend with the shortest queue its own /metrics report (load_report),
// counting what was sent since that report; least_request when no report is fresh.
enum class LoadBalancing { kRoundRobin, kWeightedRoundRobin, kLeastRequest, kLeastQueue };

struct BackendConfig {
  std::string url;        // as written, e.g. "http://10.0.0.11:8000"
  std::string name;       // "host:port", unique within the pool
  HostPort address;       // parsed from url (port 80 for http://, 443 for https:// by default)
  bool https = false;     // https://: TLS with the pool's tls settings
  uint32_t weight = 1;    // 1..1000
  uint32_t priority = 0;  // 0 = first choice; higher groups take traffic only as lower ones fail
};

// A one-token completion sent to a backend outside client traffic: the canary (periodic, because
// /health can answer while the inference engine is wedged) and the warm-up (answered before a
// returning backend takes traffic, so a cold model server is not flooded).
struct InferenceProbeConfig {
  bool enabled = false;
  std::string model;  // required when enabled
  std::string path = "/v1/chat/completions";
  Duration interval = 30s;  // canary only
  Duration timeout = 10s;
  bool operator==(const InferenceProbeConfig&) const = default;
};

// Active health checks: GET `path` on a connection of their own, every `interval`.
struct HealthCheckConfig {
  bool enabled = true;
  std::string path = "/health";
  Duration interval = 250ms;
  Duration timeout = 1s;
  int expected_status_min = 200;  // YAML: "200-299" or a single status
  int expected_status_max = 299;
  uint32_t healthy_threshold = 2;    // consecutive successes to come back
  uint32_t unhealthy_threshold = 3;  // consecutive failures to be marked down
  InferenceProbeConfig canary;       // counts as a probe: its failures mark the backend down too
  bool operator==(const HealthCheckConfig&) const = default;
};

// Phi-accrual failure detector over evidence of life (probes, response heads, streamed chunks).
struct FailureDetectorConfig {
  bool enabled = true;
  double threshold = 8.0;
  uint32_t window_size = 100;
  Duration min_std_dev = 50ms;
  Duration acceptable_pause = 0s;
  bool operator==(const FailureDetectorConfig&) const = default;
};

struct CircuitBreakerConfig {
  enum class Window { kCount, kTime };
  bool enabled = true;
  Window window = Window::kCount;
  uint32_t window_size = 50;              // calls (count) or seconds (time)
  double failure_rate_threshold = 50;     // percent
  double slow_call_rate_threshold = 100;  // percent
  Duration slow_call_duration = 60s;      // time to first byte
  uint32_t minimum_calls = 20;
  Duration open_duration = 5s;  // doubles per consecutive opening, with jitter
  Duration max_open_duration = 60s;
  uint32_t half_open_permits = 3;
  bool count_429 = true;  // 429 counts as overload
  bool operator==(const CircuitBreakerConfig&) const = default;
};

struct OutlierEjectionConfig {
  bool enabled = true;
  uint32_t consecutive_failures = 5;
  Duration base_ejection_time = 30s;  // x number of ejections
  Duration max_ejection_time = 300s;
  double max_ejection_percent = 10;  // at least one backend may always be ejected
  bool operator==(const OutlierEjectionConfig&) const = default;
};

struct SlowStartConfig {
  Duration window = 0s;  // 0 = off
  double aggression = 1.0;
  double min_weight_percent = 10;
  InferenceProbeConfig warmup;  // a returning backend takes traffic only once this answers
};

struct RetryBudgetConfig {
  double budget_percent = 20;  // retries in flight <= this share of active requests
  uint32_t min_retry_concurrency = 3;
};

struct AffinityConfig {
  enum class Source { kNone, kHeader, kBodyUser };
  Source source = Source::kNone;
  std::string header;  // lower-cased, for kHeader
};

// Scraping each backend's Prometheus /metrics for the load it reports itself.
struct LoadReportConfig {
  enum class Format { kVllm, kTgi, kGauge };
  bool enabled = false;
  Format format = Format::kVllm;
  std::string path = "/metrics";
  Duration interval = 1s;
  Duration timeout = 500ms;
  std::string queue_gauge;  // kGauge: the metric whose value is the queue length (summed)
  Duration max_age = 5s;    // an older report is ignored (as if the backend reported nothing)
  bool operator==(const LoadReportConfig&) const = default;
};

// A per-pool concurrency limit that follows measured time to first byte (gradient style).
struct AdaptiveConcurrencyConfig {
  bool enabled = false;
  uint32_t initial_limit = 20;
  uint32_t min_limit = 2;
  uint32_t max_limit = 1000;
  double tolerance = 1.5;          // short-term latency may exceed the baseline by this factor
  double smoothing = 0.2;          // weight of each new limit
  Duration sample_window = 250ms;  // one limit update per window (with at least one sample)
  uint32_t long_window = 600;      // samples averaged into the baseline latency
};

// Header rules for every request sent to a pool's backends: `set` replaces the fields of its
// names (the client's and the gateway's own X-Forwarded-*), `add` appends, `remove` drops. Names
// lower-case; values with ${env:NAME} expanded at load. Values are credentials: never logged.
struct RequestHeaderRules {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
  // Whether a field named `lower_name` on its way to the backend is dropped (set or removed).
  bool Drops(std::string_view lower_name) const {
    for (const auto& [n, v] : set) {
      if (n == lower_name) return true;
    }
    for (const auto& n : remove) {
      if (n == lower_name) return true;
    }
    return false;
  }
};

// TLS to a pool's https:// backends (a pool's backends are all http:// or all https://). The
// certificate must chain to `ca` (default: the system store) and name `server_name` (default:
// each backend's URL host; an IP address is verified as one and not sent as SNI).
struct PoolTlsConfig {
  std::string ca;                     // PEM file of CA certificates; "" = the system store
  std::string server_name;            // SNI and verified name; "" = the backend URL's host
  std::string client_certificate;     // PEM chain, leaf first; with client_private_key (mTLS)
  std::string client_private_key;     // PEM
  bool tls13_only = false;            // min_version "1.3"
  bool insecure_skip_verify = false;  // no chain or name check: logged at warn on every load
  bool operator==(const PoolTlsConfig&) const = default;
};

struct PoolConfig {
  std::string name;
  LoadBalancing load_balancing = LoadBalancing::kLeastRequest;
  std::vector<BackendConfig> backends;
  Duration connect_timeout = 2s;
  uint32_t max_idle_connections = 64;  // per worker per backend
  // How often backends named by a host name are resolved again; 0 = only at start (and by a
  // reload). A failed lookup keeps the addresses the name had.
  Duration dns_refresh = 30s;
  HealthCheckConfig health_check;
  FailureDetectorConfig failure_detector;
  CircuitBreakerConfig circuit_breaker;
  OutlierEjectionConfig outlier_ejection;
  double panic_threshold = 50;           // percent of backends available below which all are used
  double overprovisioning_factor = 1.4;  // priority spill-over, as Envoy defines it
  SlowStartConfig slow_start;
  RetryBudgetConfig retry_budget;
  AffinityConfig affinity;
  LoadReportConfig load_report;
  AdaptiveConcurrencyConfig adaptive_concurrency;
  RequestHeaderRules request_headers;
  std::optional<PoolTlsConfig> tls;  // set (defaults or the tls block) when backends are https://
  // Streamed (chat) completions that do not ask for usage get stream_options.include_usage, and
  // the usage event is removed from the client's stream (token metrics for every stream).
  bool inject_stream_usage = true;
};

struct HeaderMatch {
  enum class Kind { kExact, kPresent, kAbsent, kRegex };
  std::string name;  // lower-cased
  Kind kind = Kind::kExact;
  std::string value;  // exact value or RE2 regex (whole-value match; see header_regex.h)
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

struct RetryPolicy {
  std::vector<int> on_status = {429, 502, 503, 504};  // statuses retried before the first byte
  Duration backoff_base = 25ms;                       // exponential with full jitter
  Duration backoff_max = 250ms;
  Duration per_try_timeout = 0s;  // first-byte timeout of each try; 0 = route's
  Duration max_retry_after = 5s;  // a longer Retry-After is not waited for
};

struct RouteTimeouts {
  Duration first_byte = 120s;  // until the backend's response head
  Duration idle = 60s;         // longest gap between response body chunks
  Duration total = 0s;         // whole exchange; 0 = off
};

// ---- isolation and degradation

// A bulkhead: requests of the routes and tenants assigned to it share `max_concurrent` slots
// and a bounded queue; a full compartment rejects (429 + Retry-After) or degrades.
struct ThreadPoolConfig {
  uint32_t threads = 0;  // 0: no thread pool (an async-only compartment)
  uint32_t queue = 64;   // jobs waiting for a thread; beyond it a job is refused
};

struct CompartmentConfig {
  enum class OnFull { kReject, kDegrade };
  std::string name;
  uint32_t max_concurrent = 64;
  uint32_t max_queue = 0;  // requests waiting for a slot; 0 = none wait
  Duration max_wait = 1s;  // longest wait in the queue
  OnFull on_full = OnFull::kReject;
  Duration retry_after = 1s;  // Retry-After of the 429
  ThreadPoolConfig thread_pool;
};

// Priority tiers, highest first. A tier's requests may use at most (100 - reserve_percent)% of a
// compartment's slots and queue: the rest is held for higher tiers.
struct TierConfig {
  std::string name;
  double reserve_percent = 0;
};

// Rate limits of one scope (a tenant, an API key, a route, a model): amounts per minute, 0 = no
// limit. README "Rate limits" gives the algorithm (GCRA) and its edges.
struct LimitsConfig {
  uint64_t requests_per_minute = 0;
  uint64_t tokens_per_minute = 0;         // input + output tokens
  uint64_t output_tokens_per_minute = 0;  // output tokens alone
  bool shadow = false;                    // counted and reported, never refused
  bool any() const {
    return requests_per_minute != 0 || tokens_per_minute != 0 || output_tokens_per_minute != 0;
  }
  bool operator==(const LimitsConfig&) const = default;
};

// An API key with limits of its own (api_keys_sha256 item {sha256: HEX, limits: {...}}); the
// fields it leaves out are the tenant's. Counted per key, besides the tenant's own counts.
struct ApiKeyLimits {
  std::string sha256;  // lower-case hex, also listed in TenantConfig::api_key_sha256
  LimitsConfig limits;
};

// Top-level model_limits item: every request that asks for `model` (the name the client sent,
// before rewrites), all tenants together.
struct ModelLimitsConfig {
  std::string model;
  LimitsConfig limits;
};

// shared_state.redis: where rate limits are shared across instances (README "Rate limits",
// "Several instances").
struct RedisConfig {
  HostPort address;
  std::string password_env;  // the environment variable holding the password ("" = no AUTH)
  Duration timeout = 50ms;   // longest a request waits on Redis
  // tls: true (the defaults: the system store, the address's host verified) or a mapping with
  // a pool's tls keys; unset: plain TCP.
  std::optional<PoolTlsConfig> tls;
  bool operator==(const RedisConfig&) const = default;
};
// shared_state.verdicts: backend convictions shared through Redis (README "Shared verdicts").
struct SharedVerdictsConfig {
  bool enabled = true;  // with shared_state.redis set
  // How long another instance's conviction keeps a backend out of this one's rotation.
  Duration hold = 10s;
  // After a shared suspicion this instance's own traffic contradicted (it ended with no backend
  // fault seen here), further ones about that backend are ignored for this long.
  Duration quiet = 60s;
  bool operator==(const SharedVerdictsConfig&) const = default;
};
struct SharedStateConfig {
  std::optional<RedisConfig> redis;
  SharedVerdictsConfig verdicts;
  // While Redis is unreachable each instance enforces this part of every limit on its own
  // (1.0: a lone instance keeps its limits; N instances: 1/N keeps the fleet's total).
  double local_share = 1.0;
  bool operator==(const SharedStateConfig&) const = default;
};

struct TenantConfig {
  std::string name;
  std::vector<std::string> api_key_sha256;  // lower-case hex, 64 characters each
  // Verified client-certificate names (subject CN, SAN DNS/URI/e-mail) that identify the tenant.
  std::vector<std::string> certificate_names;
  size_t tier = 0;                     // index into Config::tiers
  std::optional<size_t> compartment;   // index into Config::compartments
  std::optional<LimitsConfig> limits;  // the tenant's, all its keys together
  std::vector<ApiKeyLimits> key_limits;
};

struct TenantIdentification {
  std::string header;               // lower-cased; a trusted header naming the tenant ("" = off)
  bool client_certificate = false;  // a verified client certificate's names identify tenants
  size_t anonymous_tier = 0;        // tier of requests with no known tenant (default: the last)
};

// A pluggable in-process target run on a compartment's thread pool. kSynthetic is the test
// workload (burns CPU per token, streams canned tokens); kGguf runs a llama-family model from a
// GGUF file (README "Local model runner"). The gguf keys are checked at load: the file is opened
// with the GGUF reader, its tokenizer built and its chat template resolved.
struct RunnerConfig {
  enum class Kind { kSynthetic, kGguf };
  std::string name;
  Kind kind = Kind::kSynthetic;
  size_t compartment = 0;  // must own a thread pool
  std::string model = "";  // reported model name ("" = the request's)
  // kSynthetic.
  uint32_t tokens = 16;
  Duration token_cost = 1ms;  // CPU burned per token
  // kGguf.
  std::string model_file;  // the GGUF file, as written in the config
  int cuda_device = -1;    // device: cpu (-1) | cuda:N (N), the latter only in a CUDA build
  uint32_t context = 0;    // tokens per sequence; absent: the file's context_length, capped
  std::string chat_template = "auto";  // as written; resolved_template is what load found
  std::string resolved_template;       // llama3 | chatml | mistral | llama2
  uint64_t kv_cache_bytes = 0;         // budget of all sequences' KV caches; 0: kDefaultKvSequences
  uint32_t max_tokens = 256;           // for a request that names none; < context
  // The default KV budget holds this many sequences of the full context.
  static constexpr uint32_t kDefaultKvSequences = 4;
  // The context when the config gives none: the file's, at most this.
  static constexpr uint32_t kDefaultContextCap = 8192;
};

// Why a route served a fallback (the x-infergate-degraded header names it).
enum class Trigger {
  kNoBackend,         // all of the pool's backends ejected, suspected, down or behind open breakers
  kCompartmentFull,   // the route's or tenant's bulkhead is full (on_full: degrade)
  kConcurrencyLimit,  // the pool's adaptive concurrency limit is reached
  kRetriesExhausted,  // every try failed before the first byte
  kFirstByteTimeout,  // the backend did not start answering in time
  kSaturation,        // the backends report queues or KV cache above the threshold
  kPredictedWait,     // queue length x recent service time above the route's budget
  // Error classes: the backend's 4xx answer, classified from its OpenAI-shaped error body.
  kContextLengthExceeded,  // the prompt (plus max_tokens) is longer than the model's context
  kContentFilter,          // the backend's content filter refused the request
};
inline constexpr size_t kTriggerCount = 9;
// True for the triggers that are classes of a backend's error answer (not conditions seen
// before or while sending).
inline constexpr bool IsErrorClass(Trigger t) {
  return t == Trigger::kContextLengthExceeded || t == Trigger::kContentFilter;
}

struct FallbackConfig {
  enum class Kind { kPool, kRunner, kStatic };
  Kind kind = Kind::kStatic;
  std::string name;                          // served-by= value: pool name, runner:NAME, static
  size_t pool = 0;                           // kPool: index into Config::pools
  std::optional<std::string> rewrite_model;  // kPool
  std::optional<size_t> compartment;         // kPool: its own bulkhead
  size_t runner = 0;                         // kRunner: index into Config::runners
  std::string text;                          // kStatic: the answer's content
  std::string model;                         // kStatic: reported model ("" = the request's)
  // The triggers this entry serves, bits (1 << Trigger) from its `on` key; 0 = every trigger of
  // the route's degrade.on. Error classes are served only by entries that name them.
  uint32_t on = 0;
  bool serves(Trigger t, uint32_t route_triggers) const {
    const uint32_t set = on != 0 ? on : route_triggers;
    return (set >> static_cast<int>(t)) & 1u;
  }
};

struct SaturationConfig {
  std::optional<double> queue_above;     // reported waiting requests per backend
  std::optional<double> kv_cache_above;  // reported KV-cache usage, 0..1
};

struct DegradeConfig {
  // bit (1 << Trigger): degrade.on (default set in validation) plus every fallback's `on`
  uint32_t triggers = 0;
  uint32_t route_on = 0;  // degrade.on alone: what fallbacks without their own `on` serve
  SaturationConfig saturation;
  Duration max_predicted_wait = 0s;  // 0 = off
  Duration recover_after = 3s;       // a condition must stay clear this long to return
  bool has(Trigger t) const { return (triggers >> static_cast<int>(t)) & 1u; }
};

// GET /v1/models and /v1/models/{id}, answered by the gateway: the model names clients can send
// (literal names in routes' model matchers, and what each pool's backends report, mapped back
// through rewrites), or exactly a configured list.
struct ModelListEntry {
  std::string id;
  std::string owned_by;  // "" = the pool that serves it
};
struct ModelsConfig {
  std::vector<ModelListEntry> list;  // set: /v1/models lists exactly these
  Duration refresh = 60s;            // how often backends are asked for their models; 0 = never
};

struct RouteConfig {
  std::string name;
  RouteMatch match;
  std::vector<WeightedTarget> to;            // one entry for "to: pool"
  std::optional<std::string> rewrite_model;  // the model name the backend expects
  RouteTimeouts timeouts;
  int retries = 1;  // extra attempts before the first byte, 0..5
  RetryPolicy retry;
  std::optional<size_t> compartment;  // index into Config::compartments
  std::vector<FallbackConfig> fallbacks;
  DegradeConfig degrade;
  // The `model` of answers to the client: the backend's (as it answered), or the one the client
  // sent (rewritten in proxied bodies and stream events, and used in own answers).
  enum class ResponseModel { kBackend, kRequested };
  ResponseModel response_model = ResponseModel::kBackend;
  std::optional<LimitsConfig> limits;  // the whole route, all tenants together
  bool needs_model() const { return !match.models.empty() || rewrite_model.has_value(); }
};

struct Config {
  std::string source;                       // the file it was loaded from, for messages
  int workers = 0;                          // 0 = number of CPUs; --workers overrides
  LogFormat log_format = LogFormat::kText;  // the daemon log; --log-format overrides
  std::vector<ListenerConfig> listeners;
  std::optional<AdminConfig> admin;
  std::optional<AccessLogConfig> access_log;  // absent: no access log file
  std::vector<PoolConfig> pools;
  std::vector<RouteConfig> routes;
  double canary_budget = 1.0;  // canary requests per second, across every backend
  std::vector<CompartmentConfig> compartments;
  std::vector<TierConfig> tiers;  // never empty after validation ("default" when none is set)
  std::vector<TenantConfig> tenants;
  TenantIdentification tenant_identification;
  std::vector<RunnerConfig> runners;
  ModelsConfig models;
  std::vector<ModelLimitsConfig> model_limits;
  SharedStateConfig shared_state;
  // Load-time warnings, "file[:line:column]: warning: key.path: message" (a route /v1/models
  // shadows, a route whose fallbacks cannot answer an endpoint it admits): printed by
  // --check-config, logged when the config is applied, listed by a reload's answer.
  std::vector<std::string> warnings;
};

std::string_view TriggerName(Trigger t);

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
