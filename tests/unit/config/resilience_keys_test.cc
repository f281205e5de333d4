// The failure-containment keys of the config: backend priority, a pool's health checks, failure
// detector, circuit breaker, outlier ejection, panic threshold, overprovisioning factor, slow
// start, retry budget and affinity, and a route's retry policy. Values, defaults, the `false`
// shorthands, and every error with its line, column, key path and message.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

void ExpectSame(const HealthCheckConfig& a, const HealthCheckConfig& b) {
  EXPECT_EQ(a.enabled, b.enabled);
  EXPECT_EQ(a.path, b.path);
  EXPECT_EQ(a.interval, b.interval);
  EXPECT_EQ(a.timeout, b.timeout);
  EXPECT_EQ(a.expected_status_min, b.expected_status_min);
  EXPECT_EQ(a.expected_status_max, b.expected_status_max);
  EXPECT_EQ(a.healthy_threshold, b.healthy_threshold);
  EXPECT_EQ(a.unhealthy_threshold, b.unhealthy_threshold);
}

void ExpectSame(const FailureDetectorConfig& a, const FailureDetectorConfig& b) {
  EXPECT_EQ(a.enabled, b.enabled);
  EXPECT_EQ(a.threshold, b.threshold);
  EXPECT_EQ(a.window_size, b.window_size);
  EXPECT_EQ(a.min_std_dev, b.min_std_dev);
  EXPECT_EQ(a.acceptable_pause, b.acceptable_pause);
}

void ExpectSame(const CircuitBreakerConfig& a, const CircuitBreakerConfig& b) {
  EXPECT_EQ(a.enabled, b.enabled);
  EXPECT_EQ(a.window, b.window);
  EXPECT_EQ(a.window_size, b.window_size);
  EXPECT_EQ(a.failure_rate_threshold, b.failure_rate_threshold);
  EXPECT_EQ(a.slow_call_rate_threshold, b.slow_call_rate_threshold);
  EXPECT_EQ(a.slow_call_duration, b.slow_call_duration);
  EXPECT_EQ(a.minimum_calls, b.minimum_calls);
  EXPECT_EQ(a.open_duration, b.open_duration);
  EXPECT_EQ(a.max_open_duration, b.max_open_duration);
  EXPECT_EQ(a.half_open_permits, b.half_open_permits);
  EXPECT_EQ(a.count_429, b.count_429);
}

void ExpectSame(const OutlierEjectionConfig& a, const OutlierEjectionConfig& b) {
  EXPECT_EQ(a.enabled, b.enabled);
  EXPECT_EQ(a.consecutive_failures, b.consecutive_failures);
  EXPECT_EQ(a.base_ejection_time, b.base_ejection_time);
  EXPECT_EQ(a.max_ejection_time, b.max_ejection_time);
  EXPECT_EQ(a.max_ejection_percent, b.max_ejection_percent);
}

// Every failure-containment key of a pool but affinity, which is off by default.
void ExpectDefaultResilience(const PoolConfig& pool) {
  const PoolConfig defaults;
  ExpectSame(pool.health_check, defaults.health_check);
  ExpectSame(pool.failure_detector, defaults.failure_detector);
  ExpectSame(pool.circuit_breaker, defaults.circuit_breaker);
  ExpectSame(pool.outlier_ejection, defaults.outlier_ejection);
  EXPECT_EQ(pool.panic_threshold, defaults.panic_threshold);
  EXPECT_EQ(pool.overprovisioning_factor, defaults.overprovisioning_factor);
  EXPECT_EQ(pool.slow_start.window, defaults.slow_start.window);
  EXPECT_EQ(pool.slow_start.aggression, defaults.slow_start.aggression);
  EXPECT_EQ(pool.slow_start.min_weight_percent, defaults.slow_start.min_weight_percent);
  EXPECT_EQ(pool.retry_budget.budget_percent, defaults.retry_budget.budget_percent);
  EXPECT_EQ(pool.retry_budget.min_retry_concurrency, defaults.retry_budget.min_retry_concurrency);
}

void ExpectDefaultRetry(const RetryPolicy& retry) {
  const RetryPolicy defaults;
  EXPECT_EQ(retry.on_status, defaults.on_status);
  EXPECT_EQ(retry.backoff_base, defaults.backoff_base);
  EXPECT_EQ(retry.backoff_max, defaults.backoff_max);
  EXPECT_EQ(retry.per_try_timeout, defaults.per_try_timeout);
  EXPECT_EQ(retry.max_retry_after, defaults.max_retry_after);
}

constexpr char kEveryKey[] = R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: llama
    backends:
      - url: http://10.0.0.11:8000
        priority: 0
      - url: http://10.0.0.12:8000
        weight: 3
        priority: 7
    health_check:
      path: /v1/health?deep=1
      interval: 500ms
      timeout: 2s
      expected_status: 200-204
      healthy_threshold: 4
      unhealthy_threshold: 5
    failure_detector:
      threshold: 12.5
      window_size: 200
      min_std_dev: 100ms
      acceptable_pause: 1s
    circuit_breaker:
      window: time
      window_size: 30
      failure_rate_threshold: 40.5
      slow_call_rate_threshold: 80
      slow_call_duration: 20s
      minimum_calls: 10
      open_duration: 2s
      max_open_duration: 2s
      half_open_permits: 5
      count_429: false
    outlier_ejection:
      consecutive_failures: 7
      base_ejection_time: 10s
      max_ejection_time: 2m
      max_ejection_percent: 33.3
    panic_threshold: 0
    overprovisioning_factor: 2
    slow_start: {window: 30s, aggression: 2.5e-1, min_weight_percent: 5}
    retry_budget: {budget_percent: 100, min_retry_concurrency: 0}
    affinity: {header: X-Session-ID}
  - name: small
    backends: [http://10.0.0.13:8000]
    affinity: {body: user}
routes:
  - name: r
    to: llama
    retries: 2
    retry:
      on_status: [500, 503]
      backoff_base: 10ms
      backoff_max: 1s
      per_try_timeout: 30s
      max_retry_after: 0s
)";

TEST(ResilienceKeys, EveryKeyIsRead) {
  auto config = LoadOk(Yaml(kEveryKey));
  ASSERT_NE(config, nullptr);
  const PoolConfig& pool = config->pools.at(0);
  ASSERT_EQ(pool.backends.size(), 2u);
  EXPECT_EQ(pool.backends[0].priority, 0u);
  EXPECT_EQ(pool.backends[1].priority, 7u);
  EXPECT_EQ(pool.backends[1].weight, 3u);

  const HealthCheckConfig& hc = pool.health_check;
  EXPECT_TRUE(hc.enabled);
  EXPECT_EQ(hc.path, "/v1/health?deep=1");
  EXPECT_EQ(hc.interval, 500ms);
  EXPECT_EQ(hc.timeout, 2s);
  EXPECT_EQ(hc.expected_status_min, 200);
  EXPECT_EQ(hc.expected_status_max, 204);
  EXPECT_EQ(hc.healthy_threshold, 4u);
  EXPECT_EQ(hc.unhealthy_threshold, 5u);

  const FailureDetectorConfig& fd = pool.failure_detector;
  EXPECT_TRUE(fd.enabled);
  EXPECT_DOUBLE_EQ(fd.threshold, 12.5);
  EXPECT_EQ(fd.window_size, 200u);
  EXPECT_EQ(fd.min_std_dev, 100ms);
  EXPECT_EQ(fd.acceptable_pause, 1s);

  const CircuitBreakerConfig& cb = pool.circuit_breaker;
  EXPECT_TRUE(cb.enabled);
  EXPECT_EQ(cb.window, CircuitBreakerConfig::Window::kTime);
  EXPECT_EQ(cb.window_size, 30u);
  EXPECT_DOUBLE_EQ(cb.failure_rate_threshold, 40.5);
  EXPECT_DOUBLE_EQ(cb.slow_call_rate_threshold, 80);
  EXPECT_EQ(cb.slow_call_duration, 20s);
  EXPECT_EQ(cb.minimum_calls, 10u);
  EXPECT_EQ(cb.open_duration, 2s);
  EXPECT_EQ(cb.max_open_duration, 2s);  // equal to open_duration is allowed
  EXPECT_EQ(cb.half_open_permits, 5u);
  EXPECT_FALSE(cb.count_429);

  const OutlierEjectionConfig& oe = pool.outlier_ejection;
  EXPECT_TRUE(oe.enabled);
  EXPECT_EQ(oe.consecutive_failures, 7u);
  EXPECT_EQ(oe.base_ejection_time, 10s);
  EXPECT_EQ(oe.max_ejection_time, 2min);
  EXPECT_DOUBLE_EQ(oe.max_ejection_percent, 33.3);

  EXPECT_DOUBLE_EQ(pool.panic_threshold, 0);
  EXPECT_DOUBLE_EQ(pool.overprovisioning_factor, 2);
  EXPECT_EQ(pool.slow_start.window, 30s);
  EXPECT_DOUBLE_EQ(pool.slow_start.aggression, 0.25);
  EXPECT_DOUBLE_EQ(pool.slow_start.min_weight_percent, 5);
  EXPECT_DOUBLE_EQ(pool.retry_budget.budget_percent, 100);
  EXPECT_EQ(pool.retry_budget.min_retry_concurrency, 0u);
  EXPECT_EQ(pool.affinity.source, AffinityConfig::Source::kHeader);
  EXPECT_EQ(pool.affinity.header, "x-session-id");  // lower-cased

  EXPECT_EQ(config->pools.at(1).affinity.source, AffinityConfig::Source::kBodyUser);
  EXPECT_EQ(config->pools.at(1).affinity.header, "");

  const RouteConfig& route = config->routes.at(0);
  EXPECT_EQ(route.retries, 2);
  EXPECT_EQ(route.retry.on_status, (std::vector<int>{500, 503}));
  EXPECT_EQ(route.retry.backoff_base, 10ms);
  EXPECT_EQ(route.retry.backoff_max, 1s);
  EXPECT_EQ(route.retry.per_try_timeout, 30s);
  EXPECT_EQ(route.retry.max_retry_after, 0s);
}

TEST(ResilienceKeys, CanaryWarmupAndBudget) {
  auto config = LoadOk(R"(canary_budget: 2.5
listeners:
  - name: public
    listen: 127.0.0.1:0
pools:
  - name: p
    backends: [http://127.0.0.1:1]
    health_check:
      canary: {model: m-8b, interval: 5s, timeout: 2s}
    slow_start:
      window: 10s
      warmup: {model: m-8b, path: /v1/completions}
routes:
  - name: r
    to: p
)");
  ASSERT_TRUE(config);
  const auto& pool = config->pools[0];
  EXPECT_DOUBLE_EQ(config->canary_budget, 2.5);
  EXPECT_TRUE(pool.health_check.canary.enabled);
  EXPECT_EQ(pool.health_check.canary.model, "m-8b");
  EXPECT_EQ(pool.health_check.canary.interval, std::chrono::seconds(5));
  EXPECT_EQ(pool.health_check.canary.timeout, std::chrono::seconds(2));
  EXPECT_EQ(pool.health_check.canary.path, "/v1/chat/completions");
  EXPECT_TRUE(pool.slow_start.warmup.enabled);
  EXPECT_EQ(pool.slow_start.warmup.path, "/v1/completions");
  EXPECT_FALSE(LoadOk(R"(listeners: [{name: public, listen: "127.0.0.1:0"}]
pools: [{name: p, backends: ["http://127.0.0.1:1"]}]
routes: [{name: r, to: p}]
)")
                   ->pools[0]
                   .health_check.canary.enabled);

  auto errors = Errors(R"(listeners: [{name: public, listen: "127.0.0.1:0"}]
pools:
  - name: p
    backends: ["http://127.0.0.1:1"]
    health_check: {canary: {interval: 5s}}
    slow_start: {warmup: {model: x, interval: 1s}}
routes: [{name: r, to: p}]
)");
  ASSERT_EQ(errors.size(), 2u) << Describe(errors);
  EXPECT_EQ(errors[0].path, "pools[0].health_check.canary");
  EXPECT_NE(errors[0].message.find("missing required key \"model\""), std::string::npos)
      << errors[0].message;
  EXPECT_EQ(errors[1].path, "pools[0].slow_start.warmup.interval");
  EXPECT_EQ(errors[1].line, 6);
}

TEST(ResilienceKeys, DefaultsWhenAbsent) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: p
    backends: [http://10.0.0.1:8000, {url: http://10.0.0.2:8000}]
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  const PoolConfig& pool = config->pools.at(0);
  EXPECT_EQ(pool.backends.at(0).priority, 0u);
  EXPECT_EQ(pool.backends.at(1).priority, 0u);
  ExpectDefaultResilience(pool);
  EXPECT_EQ(pool.affinity.source, AffinityConfig::Source::kNone);
  EXPECT_EQ(pool.affinity.header, "");
  ExpectDefaultRetry(config->routes.at(0).retry);
}

TEST(ResilienceKeys, DefaultsMatchTheDocumentedOnes) {
  // The values config/infergate.yaml documents; a change to config.h must update both.
  const PoolConfig pool;
  EXPECT_TRUE(pool.health_check.enabled);
  EXPECT_EQ(pool.health_check.path, "/health");
  EXPECT_EQ(pool.health_check.interval, 250ms);
  EXPECT_EQ(pool.health_check.timeout, 1s);
  EXPECT_EQ(pool.health_check.expected_status_min, 200);
  EXPECT_EQ(pool.health_check.expected_status_max, 299);
  EXPECT_EQ(pool.health_check.healthy_threshold, 2u);
  EXPECT_EQ(pool.health_check.unhealthy_threshold, 3u);
  EXPECT_DOUBLE_EQ(pool.failure_detector.threshold, 8);
  EXPECT_EQ(pool.failure_detector.window_size, 100u);
  EXPECT_EQ(pool.circuit_breaker.window, CircuitBreakerConfig::Window::kCount);
  EXPECT_EQ(pool.circuit_breaker.max_open_duration, 60s);
  EXPECT_EQ(pool.outlier_ejection.max_ejection_time, 300s);
  EXPECT_DOUBLE_EQ(pool.panic_threshold, 50);
  EXPECT_DOUBLE_EQ(pool.overprovisioning_factor, 1.4);
  EXPECT_EQ(pool.slow_start.window, 0s);
  EXPECT_DOUBLE_EQ(pool.retry_budget.budget_percent, 20);
  EXPECT_EQ(RetryPolicy{}.on_status, (std::vector<int>{429, 502, 503, 504}));
}

TEST(ResilienceKeys, FalseShorthandsTurnMechanismsOff) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: off
    backends: [http://10.0.0.1:8000]
    health_check: false
    failure_detector: false
    circuit_breaker: False
    outlier_ejection: FALSE
  - name: off-by-key
    backends: [http://10.0.0.1:8000]
    health_check: {enabled: false, interval: 5s}
    failure_detector: {enabled: false}
    circuit_breaker: {enabled: false}
    outlier_ejection: {enabled: false}
  - name: on
    backends: [http://10.0.0.1:8000]
    health_check: true
    failure_detector: {enabled: true}
    circuit_breaker: true
    outlier_ejection: true
routes: [{name: r, to: off}]
)"));
  ASSERT_NE(config, nullptr);
  for (size_t i : {0u, 1u}) {
    const PoolConfig& pool = config->pools.at(i);
    EXPECT_FALSE(pool.health_check.enabled) << pool.name;
    EXPECT_FALSE(pool.failure_detector.enabled) << pool.name;
    EXPECT_FALSE(pool.circuit_breaker.enabled) << pool.name;
    EXPECT_FALSE(pool.outlier_ejection.enabled) << pool.name;
  }
  // The other keys keep their defaults, or what was written next to enabled: false.
  EXPECT_EQ(config->pools[0].health_check.interval, 250ms);
  EXPECT_EQ(config->pools[1].health_check.interval, 5s);
  EXPECT_EQ(config->pools[0].circuit_breaker.open_duration, 5s);
  ExpectDefaultResilience(config->pools.at(2));
}

TEST(ResilienceKeys, OtherShorthandForms) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: a
    backends: [http://10.0.0.1:8000]
    health_check: {expected_status: 204}
  - name: b
    backends: [http://10.0.0.1:8000]
    health_check: {expected_status: "503"}
  - name: c
    backends: [http://10.0.0.1:8000]
    health_check: {expected_status: "200-200"}
routes:
  - {name: connect-failures-only, to: a, retry: {on_status: []}}
  - {name: one-status, to: a, retry: {on_status: 503}}
  - {name: empty-retry, to: a, retry: }
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->pools[0].health_check.expected_status_min, 204);
  EXPECT_EQ(config->pools[0].health_check.expected_status_max, 204);
  EXPECT_EQ(config->pools[1].health_check.expected_status_min, 503);
  EXPECT_EQ(config->pools[1].health_check.expected_status_max, 503);
  EXPECT_EQ(config->pools[2].health_check.expected_status_min, 200);
  EXPECT_EQ(config->pools[2].health_check.expected_status_max, 200);
  EXPECT_TRUE(config->routes[0].retry.on_status.empty());
  EXPECT_EQ(config->routes[1].retry.on_status, std::vector<int>{503});
  ExpectDefaultRetry(config->routes[2].retry);
}

TEST(ResilienceKeys, ReferenceConfigDocumentsTheDefaults) {
  LoadResult result = LoadConfigFile(std::string(INFERGATE_SOURCE_DIR) + "/config/infergate.yaml");
  ASSERT_TRUE(result.ok()) << Describe(result.error());
  const Config& c = **result;
  // The first pool spells out every failure-containment key with its default value.
  const PoolConfig& pool = c.pools.at(0);
  ExpectDefaultResilience(pool);
  EXPECT_EQ(pool.affinity.source, AffinityConfig::Source::kHeader);
  bool has_fallback = false;
  for (const BackendConfig& b : pool.backends) has_fallback = has_fallback || b.priority > 0;
  EXPECT_TRUE(has_fallback);
  // The route that spells out the retry policy.
  ExpectDefaultRetry(c.routes.at(1).retry);
}

class ResilienceErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ResilienceErrorTest, ReportsPositionPathAndMessage) { ExpectErrorCase(GetParam()); }

auto CaseName = [](const auto& info) { return std::string(info.param.name); };

#define L1 "listeners: [{name: l, listen: \":0\"}]\n"
#define L2 "pools: [{name: p, backends: [http://127.0.0.1:1]}]\n"
#define L3 "routes: [{name: r, to: p}]\n"
// Pool "p" whose own keys start at line 5, column 5.
#define POOL(text) L1 "pools:\n  - name: p\n    backends: [http://127.0.0.1:1]\n" text L3
// Route "r" going to pool "p" whose own keys start at line 6, column 5.
#define ROUTE(text) L1 L2 "routes:\n  - name: r\n    to: p\n" text

const ErrorCase kHealthCheckCases[] = {
    {"NotAMapping", POOL("    health_check: yes\n"), 5, 19, "pools[0].health_check",
     "expected a mapping, or false to turn it off (found \"yes\")"},
    {"AList", POOL("    health_check: [a]\n"), 5, 19, "pools[0].health_check",
     "expected a mapping, or false to turn it off (found a list)"},
    {"MissingValue", POOL("    health_check:\n"), 5, 5, "pools[0].health_check",
     "missing value (expected a mapping, or false to turn it off)"},
    {"UnknownKey", POOL("    health_check: {intreval: 1s}\n"), 5, 20,
     "pools[0].health_check.intreval",
     "unknown key \"intreval\" (allowed: enabled, path, interval, timeout, expected_status, "
     "healthy_threshold, unhealthy_threshold, canary); did you mean \"interval\"?"},
    {"EnabledNotABool", POOL("    health_check:\n      enabled: maybe\n"), 6, 16,
     "pools[0].health_check.enabled", "expected true or false (found \"maybe\")"},
    {"PathWithoutSlash", POOL("    health_check: {path: health}\n"), 5, 26,
     "pools[0].health_check.path", "must start with \"/\" (found \"health\")"},
    {"PathWithSpace", POOL("    health_check: {path: \"/a b\"}\n"), 5, 26,
     "pools[0].health_check.path", "must not contain spaces or control characters"},
    {"PathList", POOL("    health_check: {path: [/a]}\n"), 5, 26, "pools[0].health_check.path",
     "expected a string (found a list)"},
    {"ZeroInterval", POOL("    health_check: {interval: 0s}\n"), 5, 30,
     "pools[0].health_check.interval", "must be greater than 0 (found \"0s\")"},
    {"BareTimeout", POOL("    health_check:\n      timeout: 1\n"), 6, 16,
     "pools[0].health_check.timeout", "\"1\" is not a duration (write e.g. 250ms, 30s, 2m)"},
    {"StatusNotANumber", POOL("    health_check:\n      expected_status: 2xx\n"), 6, 24,
     "pools[0].health_check.expected_status",
     "\"2xx\" is not a status or a status range (write e.g. 200 or 200-299)"},
    {"StatusRangeReversed", POOL("    health_check:\n      expected_status: 299-200\n"), 6, 24,
     "pools[0].health_check.expected_status",
     "range \"299-200\" is reversed (write the lower status first, 200-299)"},
    {"StatusRangeOpen", POOL("    health_check:\n      expected_status: 200-\n"), 6, 24,
     "pools[0].health_check.expected_status", "\"200-\" is not a status or a status range"},
    {"StatusOutOfRange", POOL("    health_check:\n      expected_status: 600\n"), 6, 24,
     "pools[0].health_check.expected_status", "600 is out of range (allowed: 100..599)"},
    {"StatusRangeEndOutOfRange", POOL("    health_check:\n      expected_status: 200-699\n"), 6, 24,
     "pools[0].health_check.expected_status",
     "status 699 in \"200-699\" is out of range (allowed: 100..599)"},
    {"StatusList", POOL("    health_check:\n      expected_status: [200]\n"), 6, 24,
     "pools[0].health_check.expected_status", "expected a status (write e.g. 200 or 200-299)"},
    {"HealthyThresholdZero", POOL("    health_check:\n      healthy_threshold: 0\n"), 6, 26,
     "pools[0].health_check.healthy_threshold", "0 is out of range (allowed: 1..100)"},
    {"UnhealthyThresholdTooBig", POOL("    health_check:\n      unhealthy_threshold: 101\n"), 6, 28,
     "pools[0].health_check.unhealthy_threshold", "101 is out of range (allowed: 1..100)"},
};
INSTANTIATE_TEST_SUITE_P(HealthCheck, ResilienceErrorTest, ::testing::ValuesIn(kHealthCheckCases),
                         CaseName);

#define DETECTOR(text) POOL("    failure_detector:\n      " text "\n")
const ErrorCase kFailureDetectorCases[] = {
    {"ThresholdZero", DETECTOR("threshold: 0"), 6, 18, "pools[0].failure_detector.threshold",
     "0 is out of range (allowed: greater than 0 and at most 100)"},
    {"ThresholdTooBig", DETECTOR("threshold: 100.5"), 6, 18, "pools[0].failure_detector.threshold",
     "100.5 is out of range (allowed: greater than 0 and at most 100)"},
    {"ThresholdNotANumber", DETECTOR("threshold: high"), 6, 18,
     "pools[0].failure_detector.threshold", "\"high\" is not a number"},
    {"ThresholdInfinite", DETECTOR("threshold: .inf"), 6, 18, "pools[0].failure_detector.threshold",
     "\".inf\" is not a number"},
    {"ThresholdMapping", DETECTOR("threshold: {a: 1}"), 6, 18,
     "pools[0].failure_detector.threshold", "expected a number (found a mapping)"},
    {"WindowTooSmall", DETECTOR("window_size: 1"), 6, 20, "pools[0].failure_detector.window_size",
     "1 is out of range (allowed: 2..10000)"},
    {"WindowFraction", DETECTOR("window_size: 2.5"), 6, 20, "pools[0].failure_detector.window_size",
     "\"2.5\" is not an integer"},
    {"ZeroMinStdDev", DETECTOR("min_std_dev: 0s"), 6, 20, "pools[0].failure_detector.min_std_dev",
     "must be greater than 0"},
    {"NegativePause", DETECTOR("acceptable_pause: -1s"), 6, 25,
     "pools[0].failure_detector.acceptable_pause", "\"-1s\" is not a duration"},
    {"MisspelledEnabled", DETECTOR("enable: false"), 6, 7, "pools[0].failure_detector.enable",
     "did you mean \"enabled\"?"},
    {"NotAMapping", POOL("    failure_detector: off\n"), 5, 23, "pools[0].failure_detector",
     "expected a mapping, or false to turn it off (found \"off\")"},
};
#undef DETECTOR
INSTANTIATE_TEST_SUITE_P(FailureDetector, ResilienceErrorTest,
                         ::testing::ValuesIn(kFailureDetectorCases), CaseName);

#define BREAKER(text) POOL("    circuit_breaker:\n      " text "\n")
const ErrorCase kCircuitBreakerCases[] = {
    {"FailureRateTooBig", BREAKER("failure_rate_threshold: 150"), 6, 31,
     "pools[0].circuit_breaker.failure_rate_threshold",
     "150 is out of range (allowed: greater than 0 and at most 100)"},
    {"FailureRateZero", BREAKER("failure_rate_threshold: 0"), 6, 31,
     "pools[0].circuit_breaker.failure_rate_threshold",
     "0 is out of range (allowed: greater than 0 and at most 100)"},
    {"PercentSign", BREAKER("slow_call_rate_threshold: 50%"), 6, 33,
     "pools[0].circuit_breaker.slow_call_rate_threshold",
     "\"50%\" is not a number (write a percentage without \"%\", e.g. 50)"},
    {"UnknownWindow", BREAKER("window: sliding"), 6, 15, "pools[0].circuit_breaker.window",
     "unknown value \"sliding\" (allowed: count, time)"},
    {"WindowSizeZero", BREAKER("window_size: 0"), 6, 20, "pools[0].circuit_breaker.window_size",
     "0 is out of range (allowed: 1..10000)"},
    {"ZeroSlowCallDuration", BREAKER("slow_call_duration: 0s"), 6, 27,
     "pools[0].circuit_breaker.slow_call_duration", "must be greater than 0"},
    {"MinimumCallsZero", BREAKER("minimum_calls: 0"), 6, 22,
     "pools[0].circuit_breaker.minimum_calls", "0 is out of range (allowed: 1..100000)"},
    {"ZeroOpenDuration", BREAKER("open_duration: 0s"), 6, 22,
     "pools[0].circuit_breaker.open_duration", "must be greater than 0"},
    {"TooManyHalfOpenPermits", BREAKER("half_open_permits: 1001"), 6, 26,
     "pools[0].circuit_breaker.half_open_permits", "1001 is out of range (allowed: 1..1000)"},
    {"Count429NotABool", BREAKER("count_429: sometimes"), 6, 18,
     "pools[0].circuit_breaker.count_429", "expected true or false (found \"sometimes\")"},
    {"MisspelledKey", BREAKER("half_open_permit: 3"), 6, 7,
     "pools[0].circuit_breaker.half_open_permit", "did you mean \"half_open_permits\"?"},
    {"MaxOpenBelowOpen", BREAKER("open_duration: 10s\n      max_open_duration: 5s"), 7, 26,
     "pools[0].circuit_breaker.max_open_duration",
     "max_open_duration (5s) must be at least open_duration (10s)"},
    {"MaxOpenWrittenFirst", BREAKER("max_open_duration: 5s\n      open_duration: 10s"), 7, 22,
     "pools[0].circuit_breaker.open_duration",
     "open_duration (10s) must be at most max_open_duration (5s)"},
    {"OpenAboveTheDefaultMax", BREAKER("open_duration: 90s"), 6, 22,
     "pools[0].circuit_breaker.open_duration",
     "open_duration (90s) must be at most max_open_duration (1m, the default)"},
    {"MaxOpenBelowTheDefaultOpen", BREAKER("max_open_duration: 1s"), 6, 26,
     "pools[0].circuit_breaker.max_open_duration",
     "max_open_duration (1s) must be at least open_duration (5s, the default)"},
};
#undef BREAKER
INSTANTIATE_TEST_SUITE_P(CircuitBreaker, ResilienceErrorTest,
                         ::testing::ValuesIn(kCircuitBreakerCases), CaseName);

#define EJECTION(text) POOL("    outlier_ejection:\n      " text "\n")
const ErrorCase kOutlierEjectionCases[] = {
    {"ConsecutiveFailuresZero", EJECTION("consecutive_failures: 0"), 6, 29,
     "pools[0].outlier_ejection.consecutive_failures", "0 is out of range (allowed: 1..1000)"},
    {"ZeroBaseTime", EJECTION("base_ejection_time: 0s"), 6, 27,
     "pools[0].outlier_ejection.base_ejection_time", "must be greater than 0"},
    {"MaxBelowBase", EJECTION("base_ejection_time: 60s\n      max_ejection_time: 30s"), 7, 26,
     "pools[0].outlier_ejection.max_ejection_time",
     "max_ejection_time (30s) must be at least base_ejection_time (60s)"},
    {"MaxBelowTheDefaultBase", EJECTION("max_ejection_time: 10s"), 6, 26,
     "pools[0].outlier_ejection.max_ejection_time",
     "max_ejection_time (10s) must be at least base_ejection_time (30s, the default)"},
    {"PercentTooBig", EJECTION("max_ejection_percent: 101"), 6, 29,
     "pools[0].outlier_ejection.max_ejection_percent",
     "101 is out of range (allowed: at least 0 and at most 100)"},
    {"UnknownKey", EJECTION("interval: 10s"), 6, 7, "pools[0].outlier_ejection.interval",
     "unknown key \"interval\" (allowed: enabled, consecutive_failures, base_ejection_time, "
     "max_ejection_time, max_ejection_percent)"},
};
#undef EJECTION
INSTANTIATE_TEST_SUITE_P(OutlierEjection, ResilienceErrorTest,
                         ::testing::ValuesIn(kOutlierEjectionCases), CaseName);

const ErrorCase kPoolCases[] = {
    {"PanicThresholdNegative", POOL("    panic_threshold: -1\n"), 5, 22, "pools[0].panic_threshold",
     "-1 is out of range (allowed: at least 0 and at most 100)"},
    {"PanicThresholdList", POOL("    panic_threshold: [50]\n"), 5, 22, "pools[0].panic_threshold",
     "expected a number (found a list)"},
    {"PanicThresholdMisspelled", POOL("    panic_treshold: 50\n"), 5, 5, "pools[0].panic_treshold",
     "did you mean \"panic_threshold\"?"},
    {"OverprovisioningBelowOne", POOL("    overprovisioning_factor: 0.9\n"), 5, 30,
     "pools[0].overprovisioning_factor",
     "0.9 is out of range (allowed: at least 1 and at most 10)"},
    {"OverprovisioningTooBig", POOL("    overprovisioning_factor: 11\n"), 5, 30,
     "pools[0].overprovisioning_factor", "11 is out of range (allowed: at least 1 and at most 10)"},
    {"OverprovisioningInfinite", POOL("    overprovisioning_factor: inf\n"), 5, 30,
     "pools[0].overprovisioning_factor", "\"inf\" is not a number"},
    {"SlowStartNegativeWindow", POOL("    slow_start: {window: -1s}\n"), 5, 26,
     "pools[0].slow_start.window", "\"-1s\" is not a duration"},
    {"SlowStartZeroAggression", POOL("    slow_start: {aggression: 0}\n"), 5, 30,
     "pools[0].slow_start.aggression", "0 is out of range (allowed: greater than 0)"},
    {"SlowStartMinWeightTooBig", POOL("    slow_start: {min_weight_percent: 120}\n"), 5, 38,
     "pools[0].slow_start.min_weight_percent",
     "120 is out of range (allowed: at least 0 and at most 100)"},
    {"SlowStartNotAMapping", POOL("    slow_start: false\n"), 5, 17, "pools[0].slow_start",
     "expected a mapping (found \"false\")"},
    {"SlowStartMisspelled", POOL("    slow_start: {windw: 1s}\n"), 5, 18,
     "pools[0].slow_start.windw", "did you mean \"window\"?"},
    {"RetryBudgetTooBig", POOL("    retry_budget: {budget_percent: 101}\n"), 5, 36,
     "pools[0].retry_budget.budget_percent",
     "101 is out of range (allowed: at least 0 and at most 100)"},
    {"RetryConcurrencyNegative", POOL("    retry_budget: {min_retry_concurrency: -1}\n"), 5, 43,
     "pools[0].retry_budget.min_retry_concurrency", "-1 is out of range (allowed: 0..10000)"},
    {"AffinityBothForms", POOL("    affinity: {header: x-a, body: user}\n"), 5, 15,
     "pools[0].affinity", "expected exactly one of header, body (found header, body)"},
    {"AffinityNeitherForm", POOL("    affinity: {}\n"), 5, 15, "pools[0].affinity",
     "expected one of header, body (found an empty mapping; write {header: NAME} or {body: "
     "user})"},
    {"AffinityBadHeader", POOL("    affinity: {header: \"x a\"}\n"), 5, 24,
     "pools[0].affinity.header", "\"x a\" is not a valid header name"},
    {"AffinityUnknownBodyField", POOL("    affinity: {body: model}\n"), 5, 22,
     "pools[0].affinity.body", "unknown value \"model\" (allowed: user)"},
    {"AffinityString", POOL("    affinity: x-session-id\n"), 5, 15, "pools[0].affinity",
     "expected a mapping (write {header: NAME} or {body: user})"},
    {"AffinityMissing", POOL("    affinity:\n"), 5, 5, "pools[0].affinity",
     "missing value (write {header: NAME} or {body: user})"},
    {"AffinityMisspelled", POOL("    affinity: {haeder: x}\n"), 5, 16, "pools[0].affinity.haeder",
     "unknown key \"haeder\" (allowed: header, body); did you mean \"header\"?"},
    {"BackendPriorityTooBig",
     L1 "pools:\n  - name: p\n    backends:\n      - url: http://127.0.0.1:1\n"
        "        priority: 8\n" L3,
     6, 19, "pools[0].backends[0].priority", "8 is out of range (allowed: 0..7)"},
    {"BackendPriorityMisspelled",
     L1 "pools:\n  - name: p\n    backends:\n      - url: http://127.0.0.1:1\n"
        "        priorty: 1\n" L3,
     6, 9, "pools[0].backends[0].priorty",
     "unknown key \"priorty\" (allowed: url, weight, priority); did you mean \"priority\"?"},
};
INSTANTIATE_TEST_SUITE_P(Pool, ResilienceErrorTest, ::testing::ValuesIn(kPoolCases), CaseName);

#define RETRY(text) ROUTE("    retry:\n      " text "\n")
const ErrorCase kRetryCases[] = {
    {"StatusBelow400", RETRY("on_status: [429, 399]"), 7, 24, "routes[0].retry.on_status[1]",
     "399 is out of range (allowed: 400..599)"},
    {"StatusNotAnInteger", RETRY("on_status: [five]"), 7, 19, "routes[0].retry.on_status[0]",
     "\"five\" is not an integer"},
    {"StatusTwice", RETRY("on_status: [503, 503]"), 7, 24, "routes[0].retry.on_status[1]",
     "status 503 is listed twice"},
    {"StatusMapping", RETRY("on_status: {a: 1}"), 7, 18, "routes[0].retry.on_status",
     "expected a list (found a mapping)"},
    {"SingleStatusOutOfRange", RETRY("on_status: 200"), 7, 18, "routes[0].retry.on_status",
     "200 is out of range (allowed: 400..599)"},
    {"ZeroBackoffBase", RETRY("backoff_base: 0s"), 7, 21, "routes[0].retry.backoff_base",
     "must be greater than 0"},
    {"BackoffMaxBelowBase", RETRY("backoff_base: 100ms\n      backoff_max: 50ms"), 8, 20,
     "routes[0].retry.backoff_max", "backoff_max (50ms) must be at least backoff_base (100ms)"},
    {"BackoffBaseAboveTheDefaultMax", RETRY("backoff_base: 1s"), 7, 21,
     "routes[0].retry.backoff_base",
     "backoff_base (1s) must be at most backoff_max (250ms, the default)"},
    {"BadPerTryTimeout", RETRY("per_try_timeout: soon"), 7, 24, "routes[0].retry.per_try_timeout",
     "\"soon\" is not a duration"},
    {"NegativeMaxRetryAfter", RETRY("max_retry_after: -1s"), 7, 24,
     "routes[0].retry.max_retry_after", "\"-1s\" is not a duration"},
    {"MisspelledKey", RETRY("on_statuses: [500]"), 7, 7, "routes[0].retry.on_statuses",
     "unknown key \"on_statuses\" (allowed: on_status, backoff_base, backoff_max, "
     "per_try_timeout, max_retry_after); did you mean \"on_status\"?"},
    {"NotAMapping", ROUTE("    retry: 3\n"), 6, 12, "routes[0].retry",
     "expected a mapping (found \"3\")"},
    {"RetryMisspelledOnTheRoute", ROUTE("    rety: {}\n"), 6, 5, "routes[0].rety",
     "did you mean \"retry\"?"},
};
#undef RETRY
INSTANTIATE_TEST_SUITE_P(Retry, ResilienceErrorTest, ::testing::ValuesIn(kRetryCases), CaseName);

#undef ROUTE
#undef POOL
#undef L3
#undef L2
#undef L1

TEST(ResilienceErrors, FullMessageOfAnOutOfRangePercent) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: p
    backends: [http://127.0.0.1:1]
    circuit_breaker:
      failure_rate_threshold: 150
routes: [{name: r, to: p}]
)"));
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  EXPECT_EQ(errors[0].ToString(),
            "test.yaml:6:31: pools[0].circuit_breaker.failure_rate_threshold: 150 is out of range "
            "(allowed: greater than 0 and at most 100)");
}

TEST(ResilienceErrors, AllAreReportedInDocumentOrder) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: p
    backends: [{url: http://127.0.0.1:1, priority: -1}]
    health_check: {interval: 0s, expected_status: 99}
    circuit_breaker: {max_open_duration: 1s, window: rolling}
    panic_threshold: 200
    affinity: {header: a, body: user}
routes:
  - name: r
    to: p
    retry: {on_status: [600], backoff_max: 1ms}
)"));
  const std::vector<std::string> paths = {"pools[0].backends[0].priority",
                                          "pools[0].health_check.interval",
                                          "pools[0].health_check.expected_status",
                                          "pools[0].circuit_breaker.max_open_duration",
                                          "pools[0].circuit_breaker.window",
                                          "pools[0].panic_threshold",
                                          "pools[0].affinity",
                                          "routes[0].retry.on_status[0]",
                                          "routes[0].retry.backoff_max"};
  ASSERT_EQ(errors.size(), paths.size()) << Describe(errors);
  for (size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i].path, paths[i]) << i;
}

}  // namespace
}  // namespace infergate::config
