// The config keys of the failure-containment mechanisms: a pool's health checks, failure
// detector, circuit breaker, outlier ejection, panic threshold, priority spill-over, slow start,
// retry budget, affinity, load reports and adaptive concurrency, and a route's retry policy.
// config/infergate.yaml documents them.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "config/address.h"
#include "config/yaml_reader.h"

namespace infergate::config::detail {
namespace {

constexpr std::string_view kHealthCheckKeys[] = {"enabled",
                                                 "path",
                                                 "interval",
                                                 "timeout",
                                                 "expected_status",
                                                 "healthy_threshold",
                                                 "unhealthy_threshold",
                                                 "canary"};
constexpr std::string_view kCanaryKeys[] = {"model", "path", "interval", "timeout"};
constexpr std::string_view kWarmupKeys[] = {"model", "path", "timeout"};
constexpr std::string_view kFailureDetectorKeys[] = {"enabled", "threshold", "window_size",
                                                     "min_std_dev", "acceptable_pause"};
constexpr std::string_view kCircuitBreakerKeys[] = {"enabled",
                                                    "window",
                                                    "window_size",
                                                    "failure_rate_threshold",
                                                    "slow_call_rate_threshold",
                                                    "slow_call_duration",
                                                    "minimum_calls",
                                                    "open_duration",
                                                    "max_open_duration",
                                                    "half_open_permits",
                                                    "count_429"};
constexpr std::string_view kOutlierEjectionKeys[] = {"enabled", "consecutive_failures",
                                                     "base_ejection_time", "max_ejection_time",
                                                     "max_ejection_percent"};
constexpr std::string_view kSlowStartKeys[] = {"window", "aggression", "min_weight_percent",
                                               "warmup"};
constexpr std::string_view kRetryBudgetKeys[] = {"budget_percent", "min_retry_concurrency"};
constexpr std::string_view kAffinityKeys[] = {"header", "body"};
constexpr std::string_view kRetryKeys[] = {"on_status", "backoff_base", "backoff_max",
                                           "per_try_timeout", "max_retry_after"};
constexpr std::string_view kLoadReportKeys[] = {"enabled", "format",      "path",   "interval",
                                                "timeout", "queue_gauge", "max_age"};
constexpr std::string_view kAdaptiveConcurrencyKeys[] = {
    "enabled",   "initial_limit", "min_limit",     "max_limit",
    "tolerance", "smoothing",     "sample_window", "long_window"};

constexpr std::pair<std::string_view, CircuitBreakerConfig::Window> kWindowNames[] = {
    {"count", CircuitBreakerConfig::Window::kCount},
    {"time", CircuitBreakerConfig::Window::kTime},
};
constexpr std::pair<std::string_view, AffinityConfig::Source> kAffinityBodyFields[] = {
    {"user", AffinityConfig::Source::kBodyUser},
};
constexpr std::pair<std::string_view, LoadReportConfig::Format> kLoadReportFormats[] = {
    {"vllm", LoadReportConfig::Format::kVllm},
    {"tgi", LoadReportConfig::Format::kTgi},
    {"gauge", LoadReportConfig::Format::kGauge},
};

constexpr int kMinStatus = 100;
constexpr int kMaxStatus = 599;
constexpr int kMinRetryStatus = 400;
constexpr int64_t kMaxProbeThreshold = 100;
constexpr int64_t kMinDetectorWindow = 2;
constexpr int64_t kMaxDetectorWindow = 10000;
constexpr int64_t kMaxBreakerWindow = 10000;
constexpr int64_t kMaxMinimumCalls = 100000;
constexpr int64_t kMaxHalfOpenPermits = 1000;
constexpr int64_t kMaxConsecutiveFailures = 1000;
constexpr int64_t kMaxRetryConcurrency = 10000;
constexpr int64_t kMaxConcurrencyLimit = 100000;
constexpr int64_t kMinLongWindow = 10;
constexpr int64_t kMaxLongWindow = 100000;

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr NumberRange kPercent{0, 100};
constexpr NumberRange kPositivePercent{0, 100, /*min_exclusive=*/true};
constexpr NumberRange kPhiThreshold{0, 100, /*min_exclusive=*/true};
constexpr NumberRange kOverprovisioningFactor{1, 10};
constexpr NumberRange kAggression{0, kInfinity, /*min_exclusive=*/true};
constexpr NumberRange kTolerance{1, kInfinity};
constexpr NumberRange kSmoothing{0, 1, /*min_exclusive=*/true};

bool Before(const Value& a, const Value& b) {
  return std::pair(a.pos.line, a.pos.column) < std::pair(b.pos.line, b.pos.column);
}

std::string FormatValue(Duration d) { return FormatDuration(d); }
std::string FormatValue(uint32_t n) { return std::to_string(n); }

// Reports `low` > `high` (e.g. base_ejection_time above max_ejection_time) at whichever of the
// two keys comes later in the file, naming both; a key that was not written has its default.
template <typename T>
void CheckOrder(Diagnostics& diag, std::string_view low_key, Field low, T low_value,
                std::string_view high_key, Field high, T high_value) {
  if (!low.ok || !high.ok || low_value <= high_value) return;
  if (low.at == nullptr && high.at == nullptr) return;
  // As written, or the default.
  auto shown = [](T value, const Field& f) {
    return f.at != nullptr ? f.at->node.Scalar() : FormatValue(value) + ", the default";
  };
  bool at_high = high.at != nullptr && (low.at == nullptr || !Before(*high.at, *low.at));
  if (at_high) {
    diag.Add(*high.at, std::string(high_key) + " (" + shown(high_value, high) +
                           ") must be at least " + std::string(low_key) + " (" +
                           shown(low_value, low) + ")");
  } else {
    diag.Add(*low.at, std::string(low_key) + " (" + shown(low_value, low) + ") must be at most " +
                          std::string(high_key) + " (" + shown(high_value, high) + ")");
  }
}

// `key: false` turns a mechanism off and `key: true` keeps it on with its defaults; a mapping
// sets its keys, `enabled` among them. Returns the mapping when there is one to read.
std::optional<Map> SwitchableMapping(Reader& reader, const Value& v,
                                     std::span<const std::string_view> allowed, bool& enabled) {
  constexpr std::string_view kWhat = "a mapping, or false to turn it off";
  if (v.node.IsScalar()) {
    if (std::optional<bool> flag = BoolFromText(v.node.Scalar())) {
      enabled = *flag;
    } else {
      reader.diag().Add(
          v, "expected " + std::string(kWhat) + " (found " + Quoted(v.node.Scalar()) + ")");
    }
    return std::nullopt;
  }
  if (!v.node.IsMap()) {
    reader.diag().Add(v, v.node.IsNull() ? "missing value (expected " + std::string(kWhat) + ")"
                                         : "expected " + std::string(kWhat) + " (found a list)");
    return std::nullopt;
  }
  std::optional<Map> map = reader.Mapping(v, allowed);
  if (map) Keys(reader, *map).Bool("enabled", enabled);
  return map;
}

// Up to three decimal digits as a number, or -1.
int StatusDigits(std::string_view text) {
  constexpr size_t kMaxDigits = 3;
  if (text.empty() || text.size() > kMaxDigits) return -1;
  int n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// "200-299", "204" or 204.
void ReadStatusRange(Reader& reader, const Value& v, HealthCheckConfig& out) {
  constexpr std::string_view kExamples = "write e.g. 200 or 200-299";
  if (!v.node.IsScalar()) {
    reader.diag().Add(v, std::string(v.node.IsNull() ? "missing value" : "expected a status") +
                             " (" + std::string(kExamples) + ")");
    return;
  }
  const std::string& text = v.node.Scalar();
  size_t dash = text.find('-');
  std::string_view first = std::string_view(text).substr(0, dash);
  std::string_view last =
      dash == std::string::npos ? first : std::string_view(text).substr(dash + 1);
  int low = StatusDigits(first);
  int high = StatusDigits(last);
  if (low < 0 || high < 0) {
    reader.diag().Add(
        v, Quoted(text) + " is not a status or a status range (" + std::string(kExamples) + ")");
    return;
  }
  for (int status : {low, high}) {
    if (status < kMinStatus || status > kMaxStatus) {
      reader.diag().Add(v, (dash == std::string::npos
                                ? text
                                : "status " + std::to_string(status) + " in " + Quoted(text)) +
                               " is out of range (allowed: " + std::to_string(kMinStatus) + ".." +
                               std::to_string(kMaxStatus) + ")");
      return;
    }
  }
  if (low > high) {
    reader.diag().Add(v, "range " + Quoted(text) + " is reversed (write the lower status first, " +
                             std::to_string(high) + "-" + std::to_string(low) + ")");
    return;
  }
  out.expected_status_min = low;
  out.expected_status_max = high;
}

std::optional<std::string> ReadProbePath(Reader& reader, const Value& v) {
  std::optional<std::string> path = reader.String(v);
  if (!path) return std::nullopt;
  if (!path->starts_with('/')) {
    reader.diag().Add(v, "must start with \"/\" (found " + Quoted(*path) + ")");
    return std::nullopt;
  }
  if (std::any_of(path->begin(), path->end(),
                  [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == '\x7f'; })) {
    reader.diag().Add(v, "must not contain spaces or control characters");
    return std::nullopt;
  }
  return path;
}

// canary: {model, path, interval, timeout} / warmup: {model, path, timeout}; model is required.
template <size_t N>
void ReadInferenceProbe(Reader& reader, const Value& v, const std::string_view (&allowed)[N],
                        InferenceProbeConfig& out) {
  std::optional<Map> map = reader.Mapping(v, allowed);
  if (!map) return;
  out.enabled = true;
  if (const Value* model = map->Require("model", reader.diag())) {
    if (auto text = reader.NonEmptyString(*model)) out.model = *text;
  }
  if (const Value* path = map->Find("path")) {
    if (auto text = ReadProbePath(reader, *path)) out.path = *text;
  }
  Keys keys(reader, *map);
  if (N == std::size(kCanaryKeys)) keys.Time("interval", out.interval, true);
  keys.Time("timeout", out.timeout, true);
}

void ReadHealthCheck(Reader& reader, const Value& v, HealthCheckConfig& out) {
  std::optional<Map> map = SwitchableMapping(reader, v, kHealthCheckKeys, out.enabled);
  if (!map) return;
  Keys keys(reader, *map);
  if (const Value* path = map->Find("path")) {
    if (auto text = ReadProbePath(reader, *path)) out.path = *text;
  }
  keys.Time("interval", out.interval, true);
  keys.Time("timeout", out.timeout, true);
  if (const Value* status = map->Find("expected_status")) ReadStatusRange(reader, *status, out);
  keys.Integer("healthy_threshold", out.healthy_threshold, 1, kMaxProbeThreshold);
  keys.Integer("unhealthy_threshold", out.unhealthy_threshold, 1, kMaxProbeThreshold);
  if (const Value* canary = map->Find("canary"))
    ReadInferenceProbe(reader, *canary, kCanaryKeys, out.canary);
}

void ReadFailureDetector(Reader& reader, const Value& v, FailureDetectorConfig& out) {
  std::optional<Map> map = SwitchableMapping(reader, v, kFailureDetectorKeys, out.enabled);
  if (!map) return;
  Keys keys(reader, *map);
  keys.Number("threshold", out.threshold, kPhiThreshold);
  keys.Integer("window_size", out.window_size, kMinDetectorWindow, kMaxDetectorWindow);
  keys.Time("min_std_dev", out.min_std_dev, true);
  keys.Time("acceptable_pause", out.acceptable_pause, false);
}

void ReadCircuitBreaker(Reader& reader, const Value& v, CircuitBreakerConfig& out) {
  std::optional<Map> map = SwitchableMapping(reader, v, kCircuitBreakerKeys, out.enabled);
  if (!map) return;
  Keys keys(reader, *map);
  keys.Enum("window", out.window, kWindowNames);
  keys.Integer("window_size", out.window_size, 1, kMaxBreakerWindow);
  keys.Number("failure_rate_threshold", out.failure_rate_threshold, kPositivePercent);
  keys.Number("slow_call_rate_threshold", out.slow_call_rate_threshold, kPositivePercent);
  keys.Time("slow_call_duration", out.slow_call_duration, true);
  keys.Integer("minimum_calls", out.minimum_calls, 1, kMaxMinimumCalls);
  Field open = keys.Time("open_duration", out.open_duration, true);
  Field max_open = keys.Time("max_open_duration", out.max_open_duration, true);
  keys.Integer("half_open_permits", out.half_open_permits, 1, kMaxHalfOpenPermits);
  keys.Bool("count_429", out.count_429);
  CheckOrder(reader.diag(), "open_duration", open, out.open_duration, "max_open_duration", max_open,
             out.max_open_duration);
}

void ReadOutlierEjection(Reader& reader, const Value& v, OutlierEjectionConfig& out) {
  std::optional<Map> map = SwitchableMapping(reader, v, kOutlierEjectionKeys, out.enabled);
  if (!map) return;
  Keys keys(reader, *map);
  keys.Integer("consecutive_failures", out.consecutive_failures, 1, kMaxConsecutiveFailures);
  Field base = keys.Time("base_ejection_time", out.base_ejection_time, true);
  Field max = keys.Time("max_ejection_time", out.max_ejection_time, true);
  keys.Number("max_ejection_percent", out.max_ejection_percent, kPercent);
  CheckOrder(reader.diag(), "base_ejection_time", base, out.base_ejection_time, "max_ejection_time",
             max, out.max_ejection_time);
}

void ReadSlowStart(Reader& reader, const Value& v, SlowStartConfig& out) {
  std::optional<Map> map = reader.Mapping(v, kSlowStartKeys);
  if (!map) return;
  Keys keys(reader, *map);
  keys.Time("window", out.window, false);
  keys.Number("aggression", out.aggression, kAggression);
  keys.Number("min_weight_percent", out.min_weight_percent, kPercent);
  if (const Value* warmup = map->Find("warmup"))
    ReadInferenceProbe(reader, *warmup, kWarmupKeys, out.warmup);
}

void ReadRetryBudget(Reader& reader, const Value& v, RetryBudgetConfig& out) {
  std::optional<Map> map = reader.Mapping(v, kRetryBudgetKeys);
  if (!map) return;
  Keys keys(reader, *map);
  keys.Number("budget_percent", out.budget_percent, kPercent);
  keys.Integer("min_retry_concurrency", out.min_retry_concurrency, 0, kMaxRetryConcurrency);
}

void ReadAffinity(Reader& reader, const Value& v, AffinityConfig& out) {
  constexpr std::string_view kForms = "write {header: NAME} or {body: user}";
  if (!v.node.IsMap()) {
    reader.diag().Add(v, std::string(v.node.IsNull() ? "missing value" : "expected a mapping") +
                             " (" + std::string(kForms) + ")");
    return;
  }
  std::optional<Map> map = reader.Mapping(v, kAffinityKeys);
  if (!map) return;
  if (v.node.size() == 0) {
    reader.diag().Add(
        v, "expected one of header, body (found an empty mapping; " + std::string(kForms) + ")");
    return;
  }
  if (map->entries().size() > 1) {
    std::vector<std::string> found;
    for (const MapEntry& entry : map->entries()) found.push_back(entry.key);
    reader.diag().Add(v, "expected exactly one of header, body (found " + JoinNames(found) + ")");
    return;
  }
  if (map->entries().empty()) return;  // the unknown key is reported
  const MapEntry& entry = map->entries().front();
  if (entry.key == "body") {
    if (auto source = reader.Enum<AffinityConfig::Source>(entry.value, kAffinityBodyFields)) {
      out.source = *source;
    }
    return;
  }
  std::optional<std::string> name = reader.String(entry.value);
  if (!name) return;
  if (!IsToken(*name)) {
    reader.diag().Add(entry.value, Quoted(*name) + " is not a valid header name");
    return;
  }
  out.source = AffinityConfig::Source::kHeader;
  out.header = Lower(*name);
}

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsMetricName(std::string_view name) {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = letter(c) || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Mechanisms that are off by default: a mapping turns them on unless it says `enabled: false`
// (as canary and warmup are on once written); `true`/`false` alone turn them on or off.
std::optional<Map> OffByDefaultMapping(Reader& reader, const Value& v,
                                       std::span<const std::string_view> allowed, bool& enabled) {
  if (v.node.IsMap()) enabled = true;
  return SwitchableMapping(reader, v, allowed, enabled);
}

void ReadLoadReport(Reader& reader, const Value& v, LoadReportConfig& out) {
  std::optional<Map> map = OffByDefaultMapping(reader, v, kLoadReportKeys, out.enabled);
  if (!map) return;
  Keys keys(reader, *map);
  Field format = keys.Enum("format", out.format, kLoadReportFormats);
  if (const Value* path = map->Find("path")) {
    if (auto text = ReadProbePath(reader, *path)) out.path = *text;
  }
  Field interval = keys.Time("interval", out.interval, true);
  Field timeout = keys.Time("timeout", out.timeout, true);
  Field max_age = keys.Time("max_age", out.max_age, true);
  CheckOrder(reader.diag(), "timeout", timeout, out.timeout, "interval", interval, out.interval);
  CheckOrder(reader.diag(), "interval", interval, out.interval, "max_age", max_age, out.max_age);
  const Value* gauge = map->Find("queue_gauge");
  if (gauge != nullptr) {
    std::optional<std::string> name = reader.String(*gauge);
    if (name && !IsMetricName(*name)) {
      reader.diag().Add(
          *gauge, Quoted(*name) + " is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
    } else if (name && format.ok && out.format != LoadReportConfig::Format::kGauge) {
      std::string shown = out.format == LoadReportConfig::Format::kVllm ? "vllm" : "tgi";
      if (format.at == nullptr) shown += ", the default";
      reader.diag().Add(
          *gauge, "queue_gauge is only read with format: gauge (the format here is " + shown + ")");
    } else if (name) {
      out.queue_gauge = *name;
    }
  } else if (format.at != nullptr && format.ok && out.format == LoadReportConfig::Format::kGauge) {
    reader.diag().Add(*format.at,
                      "format: gauge needs queue_gauge (the metric whose value is the queue "
                      "length, e.g. queue_gauge: my_server_queue_size)");
  }
}

void ReadAdaptiveConcurrency(Reader& reader, const Value& v, AdaptiveConcurrencyConfig& out) {
  std::optional<Map> map = OffByDefaultMapping(reader, v, kAdaptiveConcurrencyKeys, out.enabled);
  if (!map) return;
  Keys keys(reader, *map);
  Field initial = keys.Integer("initial_limit", out.initial_limit, 1, kMaxConcurrencyLimit);
  Field min = keys.Integer("min_limit", out.min_limit, 1, kMaxConcurrencyLimit);
  Field max = keys.Integer("max_limit", out.max_limit, 1, kMaxConcurrencyLimit);
  keys.Number("tolerance", out.tolerance, kTolerance);
  keys.Number("smoothing", out.smoothing, kSmoothing);
  keys.Time("sample_window", out.sample_window, true);
  keys.Integer("long_window", out.long_window, kMinLongWindow, kMaxLongWindow);
  // min_limit <= initial_limit <= max_limit (which also orders min and max).
  CheckOrder(reader.diag(), "min_limit", min, out.min_limit, "initial_limit", initial,
             out.initial_limit);
  CheckOrder(reader.diag(), "initial_limit", initial, out.initial_limit, "max_limit", max,
             out.max_limit);
}

// least_queue balances on the queue lengths the backends report: without load reports it has
// nothing to go on.
void CheckLeastQueue(Reader& reader, const Map& pool, const PoolConfig& out) {
  if (out.load_balancing != LoadBalancing::kLeastQueue || out.load_report.enabled) return;
  const Value* balancing = pool.Find("load_balancing");
  if (balancing == nullptr) return;
  // A load_report that could not be read is reported already.
  if (const Value* report = pool.Find("load_report")) {
    bool readable = report->node.IsMap() ||
                    (report->node.IsScalar() && BoolFromText(report->node.Scalar()).has_value());
    if (!readable) return;
  }
  reader.diag().Add(*balancing,
                    "least_queue needs load_report (the backends' own queue lengths); add "
                    "load_report: {format: vllm} or pick least_request");
}

void ReadRetryStatuses(Reader& reader, const Value& v, std::vector<int>& out) {
  if (v.node.IsScalar()) {
    if (auto status = reader.Integer(v, kMinRetryStatus, kMaxStatus)) {
      out = {static_cast<int>(*status)};
    }
    return;
  }
  if (v.node.IsSequence() && v.node.size() == 0) {  // retry connection failures only
    out.clear();
    return;
  }
  std::optional<std::vector<Value>> items = reader.List(v, "");
  if (!items) return;
  std::vector<int> statuses;
  std::map<int64_t, size_t> first;  // status -> index
  for (const Value& item : *items) {
    std::optional<int64_t> status = reader.Integer(item, kMinRetryStatus, kMaxStatus);
    if (!status) continue;
    auto [it, inserted] = first.emplace(*status, statuses.size());
    if (!inserted) {
      reader.diag().Add(item, "status " + std::to_string(*status) + " is listed twice");
      continue;
    }
    statuses.push_back(static_cast<int>(*status));
  }
  out = std::move(statuses);
}

}  // namespace

void ReadPoolResilience(Reader& reader, const Map& pool, PoolConfig& out) {
  if (const Value* v = pool.Find("health_check")) ReadHealthCheck(reader, *v, out.health_check);
  if (const Value* v = pool.Find("failure_detector")) {
    ReadFailureDetector(reader, *v, out.failure_detector);
  }
  if (const Value* v = pool.Find("circuit_breaker")) {
    ReadCircuitBreaker(reader, *v, out.circuit_breaker);
  }
  if (const Value* v = pool.Find("outlier_ejection")) {
    ReadOutlierEjection(reader, *v, out.outlier_ejection);
  }
  Keys keys(reader, pool);
  keys.Number("panic_threshold", out.panic_threshold, kPercent);
  keys.Number("overprovisioning_factor", out.overprovisioning_factor, kOverprovisioningFactor);
  if (const Value* v = pool.Find("slow_start")) ReadSlowStart(reader, *v, out.slow_start);
  if (const Value* v = pool.Find("retry_budget")) ReadRetryBudget(reader, *v, out.retry_budget);
  if (const Value* v = pool.Find("affinity")) ReadAffinity(reader, *v, out.affinity);
  if (const Value* v = pool.Find("load_report")) ReadLoadReport(reader, *v, out.load_report);
  if (const Value* v = pool.Find("adaptive_concurrency")) {
    ReadAdaptiveConcurrency(reader, *v, out.adaptive_concurrency);
  }
  CheckLeastQueue(reader, pool, out);
}

void ReadRetryPolicy(Reader& reader, const Value& v, RetryPolicy& out) {
  std::optional<Map> map = reader.Mapping(v, kRetryKeys, /*null_is_empty=*/true);
  if (!map) return;
  if (const Value* statuses = map->Find("on_status")) {
    ReadRetryStatuses(reader, *statuses, out.on_status);
  }
  Keys keys(reader, *map);
  Field base = keys.Time("backoff_base", out.backoff_base, true);
  Field max = keys.Time("backoff_max", out.backoff_max, true);
  keys.Time("per_try_timeout", out.per_try_timeout, false);
  keys.Time("max_retry_after", out.max_retry_after, false);
  CheckOrder(reader.diag(), "backoff_base", base, out.backoff_base, "backoff_max", max,
             out.backoff_max);
}

}  // namespace infergate::config::detail
