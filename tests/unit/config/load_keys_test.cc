// The pool keys of backend load awareness: load_report, adaptive_concurrency and least_queue
// balancing. Values, defaults, the on/off shorthands, and every error with its position.
#include <gtest/gtest.h>

#include <iterator>
#include <string>
#include <vector>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

TEST(LoadKeys, EveryKeyIsRead) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: p
    load_balancing: least_queue
    backends: [http://10.0.0.11:8000]
    load_report:
      format: gauge
      path: /stats/prometheus
      interval: 2s
      timeout: 2s
      queue_gauge: "my_server:queue_size"
      max_age: 10s
    adaptive_concurrency:
      initial_limit: 50
      min_limit: 50
      max_limit: 50
      tolerance: 1
      smoothing: 1
      sample_window: 1s
      long_window: 10
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  const PoolConfig& pool = config->pools.at(0);
  EXPECT_EQ(pool.load_balancing, LoadBalancing::kLeastQueue);
  const LoadReportConfig& lr = pool.load_report;
  EXPECT_TRUE(lr.enabled);
  EXPECT_EQ(lr.format, LoadReportConfig::Format::kGauge);
  EXPECT_EQ(lr.path, "/stats/prometheus");
  EXPECT_EQ(lr.interval, 2s);
  EXPECT_EQ(lr.timeout, 2s);  // equal to the interval is allowed
  EXPECT_EQ(lr.queue_gauge, "my_server:queue_size");
  EXPECT_EQ(lr.max_age, 10s);
  const AdaptiveConcurrencyConfig& ac = pool.adaptive_concurrency;
  EXPECT_TRUE(ac.enabled);
  EXPECT_EQ(ac.initial_limit, 50u);
  EXPECT_EQ(ac.min_limit, 50u);
  EXPECT_EQ(ac.max_limit, 50u);
  EXPECT_DOUBLE_EQ(ac.tolerance, 1.0);
  EXPECT_DOUBLE_EQ(ac.smoothing, 1.0);
  EXPECT_EQ(ac.sample_window, 1s);
  EXPECT_EQ(ac.long_window, 10u);
}

TEST(LoadKeys, DefaultsWhenAbsent) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  const PoolConfig& pool = config->pools.at(0);
  EXPECT_EQ(pool.load_balancing, LoadBalancing::kLeastRequest);
  EXPECT_FALSE(pool.load_report.enabled);
  EXPECT_FALSE(pool.adaptive_concurrency.enabled);
}

TEST(LoadKeys, DefaultsMatchTheDocumentedOnes) {
  // The values config/infergate.yaml documents; a change to config.h must update both.
  const LoadReportConfig lr;
  EXPECT_FALSE(lr.enabled);
  EXPECT_EQ(lr.format, LoadReportConfig::Format::kVllm);
  EXPECT_EQ(lr.path, "/metrics");
  EXPECT_EQ(lr.interval, 1s);
  EXPECT_EQ(lr.timeout, 500ms);
  EXPECT_EQ(lr.queue_gauge, "");
  EXPECT_EQ(lr.max_age, 5s);
  const AdaptiveConcurrencyConfig ac;
  EXPECT_FALSE(ac.enabled);
  EXPECT_EQ(ac.initial_limit, 20u);
  EXPECT_EQ(ac.min_limit, 2u);
  EXPECT_EQ(ac.max_limit, 1000u);
  EXPECT_DOUBLE_EQ(ac.tolerance, 1.5);
  EXPECT_DOUBLE_EQ(ac.smoothing, 0.2);
  EXPECT_EQ(ac.sample_window, 250ms);
  EXPECT_EQ(ac.long_window, 600u);
}

TEST(LoadKeys, AMappingTurnsItOnUnlessItSaysOtherwise) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - {name: empty-mapping, backends: [http://10.0.0.1:8000], load_report: {},
     adaptive_concurrency: {}}
  - {name: some-keys, backends: [http://10.0.0.1:8000], load_report: {format: tgi},
     adaptive_concurrency: {max_limit: 64}}
  - {name: bool-on, backends: [http://10.0.0.1:8000], load_report: true,
     adaptive_concurrency: True}
  - {name: off-by-key, backends: [http://10.0.0.1:8000],
     load_report: {enabled: false, format: tgi},
     adaptive_concurrency: {enabled: false, min_limit: 4}}
  - {name: bool-off, backends: [http://10.0.0.1:8000], load_report: false,
     adaptive_concurrency: false}
  - {name: on-by-key, backends: [http://10.0.0.1:8000], load_report: {enabled: true},
     adaptive_concurrency: {enabled: true}}
routes: [{name: r, to: empty-mapping}]
)"));
  ASSERT_NE(config, nullptr);
  const bool expected[] = {true, true, true, false, false, true};
  ASSERT_EQ(config->pools.size(), std::size(expected));
  for (size_t i = 0; i < std::size(expected); ++i) {
    const PoolConfig& pool = config->pools[i];
    EXPECT_EQ(pool.load_report.enabled, expected[i]) << pool.name;
    EXPECT_EQ(pool.adaptive_concurrency.enabled, expected[i]) << pool.name;
  }
  EXPECT_EQ(config->pools[0].load_report.format, LoadReportConfig::Format::kVllm);
  EXPECT_EQ(config->pools[0].load_report.path, "/metrics");
  EXPECT_EQ(config->pools[1].load_report.format, LoadReportConfig::Format::kTgi);
  EXPECT_EQ(config->pools[1].adaptive_concurrency.max_limit, 64u);
  EXPECT_EQ(config->pools[3].load_report.format, LoadReportConfig::Format::kTgi);
  EXPECT_EQ(config->pools[3].adaptive_concurrency.min_limit, 4u);
}

TEST(LoadKeys, LeastQueueWithLoadReports) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - {name: a, load_balancing: least_queue, backends: [http://10.0.0.1:8000], load_report: true}
  - name: b
    load_report: {format: tgi}
    load_balancing: least_queue
    backends: [http://10.0.0.1:8000]
routes: [{name: r, to: a}]
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->pools[0].load_balancing, LoadBalancing::kLeastQueue);
  EXPECT_EQ(config->pools[1].load_balancing, LoadBalancing::kLeastQueue);
}

class LoadKeysErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(LoadKeysErrorTest, ReportsPositionPathAndMessage) { ExpectErrorCase(GetParam()); }

auto CaseName = [](const auto& info) { return std::string(info.param.name); };

#define L1 "listeners: [{name: l, listen: \":0\"}]\n"
#define L3 "routes: [{name: r, to: p}]\n"
// Pool "p" whose own keys start at line 5, column 5.
#define POOL(text) L1 "pools:\n  - name: p\n    backends: [http://127.0.0.1:1]\n" text L3

constexpr char kLeastQueueMessage[] =
    "least_queue needs load_report (the backends' own queue lengths); add load_report: {format: "
    "vllm} or pick least_request";

const ErrorCase kLoadReportCases[] = {
    {"UnknownFormat", POOL("    load_report: {format: prom}\n"), 5, 27,
     "pools[0].load_report.format", "unknown value \"prom\" (allowed: vllm, tgi, gauge)"},
    {"PathWithoutSlash", POOL("    load_report: {path: metrics}\n"), 5, 25,
     "pools[0].load_report.path", "must start with \"/\" (found \"metrics\")"},
    {"ZeroInterval", POOL("    load_report: {interval: 0s}\n"), 5, 29,
     "pools[0].load_report.interval", "must be greater than 0 (found \"0s\")"},
    {"ZeroTimeout", POOL("    load_report: {timeout: 0ms}\n"), 5, 28,
     "pools[0].load_report.timeout", "must be greater than 0"},
    {"ZeroMaxAge", POOL("    load_report: {max_age: 0s}\n"), 5, 28, "pools[0].load_report.max_age",
     "must be greater than 0"},
    {"TimeoutAboveInterval", POOL("    load_report:\n      interval: 1s\n      timeout: 2s\n"), 7,
     16, "pools[0].load_report.timeout", "timeout (2s) must be at most interval (1s)"},
    {"IntervalBelowTimeout", POOL("    load_report:\n      timeout: 2s\n      interval: 1s\n"), 7,
     17, "pools[0].load_report.interval", "interval (1s) must be at least timeout (2s)"},
    {"TimeoutAboveTheDefaultInterval", POOL("    load_report: {timeout: 2s}\n"), 5, 28,
     "pools[0].load_report.timeout", "timeout (2s) must be at most interval (1s, the default)"},
    {"IntervalAboveTheDefaultMaxAge", POOL("    load_report: {interval: 10s}\n"), 5, 29,
     "pools[0].load_report.interval", "interval (10s) must be at most max_age (5s, the default)"},
    {"MaxAgeBelowInterval", POOL("    load_report:\n      interval: 2s\n      max_age: 1s\n"), 7,
     16, "pools[0].load_report.max_age", "max_age (1s) must be at least interval (2s)"},
    {"GaugeWithoutQueueGauge", POOL("    load_report: {format: gauge}\n"), 5, 27,
     "pools[0].load_report.format", "format: gauge needs queue_gauge"},
    {"QueueGaugeWithTheDefaultFormat", POOL("    load_report: {queue_gauge: q}\n"), 5, 32,
     "pools[0].load_report.queue_gauge",
     "queue_gauge is only read with format: gauge (the format here is vllm, the default)"},
    {"QueueGaugeWithTgi", POOL("    load_report: {format: tgi, queue_gauge: q}\n"), 5, 45,
     "pools[0].load_report.queue_gauge",
     "queue_gauge is only read with format: gauge (the format here is tgi)"},
    {"QueueGaugeNotAMetricName",
     POOL("    load_report: {format: gauge, queue_gauge: \"my-queue\"}\n"), 5, 47,
     "pools[0].load_report.queue_gauge",
     "\"my-queue\" is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"},
    {"QueueGaugeStartsWithADigit", POOL("    load_report: {format: gauge, queue_gauge: 1q}\n"), 5,
     47, "pools[0].load_report.queue_gauge", "\"1q\" is not a Prometheus metric name"},
    {"QueueGaugeEmpty", POOL("    load_report: {format: gauge, queue_gauge: \"\"}\n"), 5, 47,
     "pools[0].load_report.queue_gauge", "\"\" is not a Prometheus metric name"},
    {"QueueGaugeList", POOL("    load_report: {format: gauge, queue_gauge: [q]}\n"), 5, 47,
     "pools[0].load_report.queue_gauge", "expected a string (found a list)"},
    {"UnknownKey", POOL("    load_report: {intervl: 1s}\n"), 5, 19, "pools[0].load_report.intervl",
     "unknown key \"intervl\" (allowed: enabled, format, path, interval, timeout, queue_gauge, "
     "max_age); did you mean \"interval\"?"},
    {"NotAMapping", POOL("    load_report: vllm\n"), 5, 18, "pools[0].load_report",
     "expected a mapping, or false to turn it off (found \"vllm\")"},
    {"EnabledNotABool", POOL("    load_report: {enabled: sometimes}\n"), 5, 28,
     "pools[0].load_report.enabled", "expected true or false (found \"sometimes\")"},
};
INSTANTIATE_TEST_SUITE_P(LoadReport, LoadKeysErrorTest, ::testing::ValuesIn(kLoadReportCases),
                         CaseName);

const ErrorCase kLeastQueueCases[] = {
    {"WithoutLoadReport", POOL("    load_balancing: least_queue\n"), 5, 21,
     "pools[0].load_balancing", kLeastQueueMessage},
    {"WithLoadReportFalse", POOL("    load_balancing: least_queue\n    load_report: false\n"), 5,
     21, "pools[0].load_balancing", kLeastQueueMessage},
    {"WithLoadReportDisabledByKey",
     POOL("    load_report: {enabled: false}\n    load_balancing: least_queue\n"), 6, 21,
     "pools[0].load_balancing", kLeastQueueMessage},
    // The unreadable load_report is the one error.
    {"WithAnUnreadableLoadReport", POOL("    load_balancing: least_queue\n    load_report: yes\n"),
     6, 18, "pools[0].load_report", "expected a mapping, or false to turn it off"},
    {"Misspelled", POOL("    load_balancing: least_queues\n"), 5, 21, "pools[0].load_balancing",
     "unknown value \"least_queues\" (allowed: round_robin, weighted_round_robin, least_request, "
     "least_queue)"},
};
INSTANTIATE_TEST_SUITE_P(LeastQueue, LoadKeysErrorTest, ::testing::ValuesIn(kLeastQueueCases),
                         CaseName);

#define ADAPTIVE(text) POOL("    adaptive_concurrency:\n      " text "\n")
const ErrorCase kAdaptiveConcurrencyCases[] = {
    {"InitialLimitZero", POOL("    adaptive_concurrency: {initial_limit: 0}\n"), 5, 43,
     "pools[0].adaptive_concurrency.initial_limit", "0 is out of range (allowed: 1..100000)"},
    {"InitialLimitTooBig", ADAPTIVE("initial_limit: 100001"), 6, 22,
     "pools[0].adaptive_concurrency.initial_limit", "100001 is out of range (allowed: 1..100000)"},
    {"MinLimitZero", POOL("    adaptive_concurrency: {min_limit: 0}\n"), 5, 39,
     "pools[0].adaptive_concurrency.min_limit", "0 is out of range (allowed: 1..100000)"},
    {"MaxLimitNotAnInteger", ADAPTIVE("max_limit: lots"), 6, 18,
     "pools[0].adaptive_concurrency.max_limit", "\"lots\" is not an integer"},
    {"ToleranceBelowOne", POOL("    adaptive_concurrency: {tolerance: 0.5}\n"), 5, 39,
     "pools[0].adaptive_concurrency.tolerance", "0.5 is out of range (allowed: at least 1)"},
    {"SmoothingZero", POOL("    adaptive_concurrency: {smoothing: 0}\n"), 5, 39,
     "pools[0].adaptive_concurrency.smoothing",
     "0 is out of range (allowed: greater than 0 and at most 1)"},
    {"SmoothingAboveOne", ADAPTIVE("smoothing: 1.5"), 6, 18,
     "pools[0].adaptive_concurrency.smoothing",
     "1.5 is out of range (allowed: greater than 0 and at most 1)"},
    {"ZeroSampleWindow", POOL("    adaptive_concurrency: {sample_window: 0s}\n"), 5, 43,
     "pools[0].adaptive_concurrency.sample_window", "must be greater than 0"},
    {"LongWindowTooSmall", POOL("    adaptive_concurrency: {long_window: 5}\n"), 5, 41,
     "pools[0].adaptive_concurrency.long_window", "5 is out of range (allowed: 10..100000)"},
    {"LongWindowADuration", ADAPTIVE("long_window: 10s"), 6, 20,
     "pools[0].adaptive_concurrency.long_window", "\"10s\" is not an integer"},
    {"MinAboveInitial", ADAPTIVE("initial_limit: 10\n      min_limit: 20"), 7, 18,
     "pools[0].adaptive_concurrency.min_limit",
     "min_limit (20) must be at most initial_limit (10)"},
    {"InitialBelowMin", ADAPTIVE("min_limit: 20\n      initial_limit: 10"), 7, 22,
     "pools[0].adaptive_concurrency.initial_limit",
     "initial_limit (10) must be at least min_limit (20)"},
    {"InitialAboveMax", ADAPTIVE("max_limit: 10\n      initial_limit: 20"), 7, 22,
     "pools[0].adaptive_concurrency.initial_limit",
     "initial_limit (20) must be at most max_limit (10)"},
    {"MinAboveTheDefaultInitial", POOL("    adaptive_concurrency: {min_limit: 50}\n"), 5, 39,
     "pools[0].adaptive_concurrency.min_limit",
     "min_limit (50) must be at most initial_limit (20, the default)"},
    {"MaxBelowTheDefaultInitial", POOL("    adaptive_concurrency: {max_limit: 5}\n"), 5, 39,
     "pools[0].adaptive_concurrency.max_limit",
     "max_limit (5) must be at least initial_limit (20, the default)"},
    {"MinAboveMaxAroundInitial",
     ADAPTIVE("initial_limit: 30\n      min_limit: 50\n      max_limit: 10"), 8, 18,
     "pools[0].adaptive_concurrency.max_limit",
     "max_limit (10) must be at least initial_limit (30)", 2},
    {"UnknownKey", ADAPTIVE("limit: 10"), 6, 7, "pools[0].adaptive_concurrency.limit",
     "unknown key \"limit\" (allowed: enabled, initial_limit, min_limit, max_limit, tolerance, "
     "smoothing, sample_window, long_window)"},
    {"NotAMapping", POOL("    adaptive_concurrency: 20\n"), 5, 27, "pools[0].adaptive_concurrency",
     "expected a mapping, or false to turn it off (found \"20\")"},
};
#undef ADAPTIVE
INSTANTIATE_TEST_SUITE_P(AdaptiveConcurrency, LoadKeysErrorTest,
                         ::testing::ValuesIn(kAdaptiveConcurrencyCases), CaseName);

#undef POOL
#undef L3
#undef L1

TEST(LoadKeysErrors, BothLimitOrderErrorsAreReported) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: p
    backends: [http://127.0.0.1:1]
    adaptive_concurrency:
      initial_limit: 30
      min_limit: 50
      max_limit: 10
routes: [{name: r, to: p}]
)"));
  ASSERT_EQ(errors.size(), 2u) << Describe(errors);
  EXPECT_EQ(errors[0].ToString(),
            "test.yaml:7:18: pools[0].adaptive_concurrency.min_limit: min_limit (50) must be at "
            "most initial_limit (30)");
  EXPECT_EQ(errors[1].ToString(),
            "test.yaml:8:18: pools[0].adaptive_concurrency.max_limit: max_limit (10) must be at "
            "least initial_limit (30)");
}

TEST(LoadKeysErrors, FullMessageOfLeastQueueWithoutReports) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - name: p
    load_balancing: least_queue
    backends: [http://127.0.0.1:1]
routes: [{name: r, to: p}]
)"));
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  EXPECT_EQ(errors[0].ToString(),
            "test.yaml:4:21: pools[0].load_balancing: least_queue needs load_report (the "
            "backends' own queue lengths); add load_report: {format: vllm} or pick least_request");
}

}  // namespace
}  // namespace infergate::config
