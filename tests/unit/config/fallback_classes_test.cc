// A fallback's own `on` (triggers and error classes it serves) and a route's response_model.
#include <gtest/gtest.h>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

uint32_t Bit(Trigger t) { return 1u << static_cast<int>(t); }

TEST(FallbackOn, ErrorClassesAreServedOnlyByEntriesThatNameThem) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: "127.0.0.1:0"}]
pools:
  - {name: small, backends: [http://127.0.0.1:1]}
  - {name: long, backends: [http://127.0.0.1:2]}
routes:
  - name: chat
    to: small
    fallbacks:
      - {pool: long, rewrite_model: long-ctx, on: [context_length_exceeded]}
      - {static: "busy", on: content_filter}
)"));
  ASSERT_NE(config, nullptr);
  const RouteConfig& r = config->routes[0];
  ASSERT_EQ(r.fallbacks.size(), 2u);
  EXPECT_EQ(r.fallbacks[0].on, Bit(Trigger::kContextLengthExceeded));
  EXPECT_EQ(r.fallbacks[1].on, Bit(Trigger::kContentFilter));
  // Every entry names its triggers: the route degrades for those only (no_backend is an error).
  EXPECT_EQ(r.degrade.triggers,
            Bit(Trigger::kContextLengthExceeded) | Bit(Trigger::kContentFilter));
  EXPECT_TRUE(r.fallbacks[0].serves(Trigger::kContextLengthExceeded, r.degrade.route_on));
  EXPECT_FALSE(r.fallbacks[0].serves(Trigger::kNoBackend, r.degrade.route_on));
  EXPECT_FALSE(r.fallbacks[1].serves(Trigger::kContextLengthExceeded, r.degrade.route_on));
}

TEST(FallbackOn, EntriesWithoutOnServeTheRouteTriggers) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: "127.0.0.1:0"}]
pools:
  - {name: small, backends: [http://127.0.0.1:1]}
  - {name: long, backends: [http://127.0.0.1:2]}
routes:
  - name: chat
    to: small
    fallbacks:
      - {pool: long, on: [context_length_exceeded, no_backend]}
      - {static: "busy"}
    degrade: {on: [no_backend, retries_exhausted]}
)"));
  ASSERT_NE(config, nullptr);
  const RouteConfig& r = config->routes[0];
  EXPECT_EQ(r.degrade.route_on, Bit(Trigger::kNoBackend) | Bit(Trigger::kRetriesExhausted));
  EXPECT_EQ(r.degrade.triggers, Bit(Trigger::kNoBackend) | Bit(Trigger::kRetriesExhausted) |
                                    Bit(Trigger::kContextLengthExceeded));
  EXPECT_TRUE(r.fallbacks[1].serves(Trigger::kRetriesExhausted, r.degrade.route_on));
  EXPECT_FALSE(r.fallbacks[1].serves(Trigger::kContextLengthExceeded, r.degrade.route_on));
  EXPECT_FALSE(r.fallbacks[0].serves(Trigger::kRetriesExhausted, r.degrade.route_on));
}

TEST(FallbackOn, UnknownNamesAreErrorsWithTheAllowedOnes) {
  ExpectErrorCase({"UnknownClass", R"(
listeners: [{name: l, listen: "127.0.0.1:0"}]
pools: [{name: small, backends: [http://127.0.0.1:1]}]
routes:
  - name: chat
    to: small
    fallbacks: [{static: "x", on: [context_too_long]}]
)",
                   6, 36, "routes[0].fallbacks[0].on[0]",
                   "unknown trigger \"context_too_long\" (allowed: no_backend"});
}

TEST(FallbackOn, AConditionTriggerNeedsTheRoutesThreshold) {
  ExpectErrorCase({"SaturationWithoutThresholds", R"(
listeners: [{name: l, listen: "127.0.0.1:0"}]
pools: [{name: small, backends: [http://127.0.0.1:1]}]
routes:
  - name: chat
    to: small
    fallbacks: [{static: "x", on: [saturation]}]
)",
                   6, 36, "routes[0].fallbacks[0].on[0]", "needs degrade.saturation"});
  ExpectErrorCase({"PredictedWaitWithoutBudget", R"(
listeners: [{name: l, listen: "127.0.0.1:0"}]
pools: [{name: small, backends: [http://127.0.0.1:1]}]
routes:
  - name: chat
    to: small
    fallbacks: [{static: "x", on: predicted_wait}]
)",
                   6, 35, "routes[0].fallbacks[0].on", "needs degrade.max_predicted_wait"});
}

TEST(ResponseModel, ParsedWithBackendAsDefault) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: "127.0.0.1:0"}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
routes:
  - {name: a, to: p, response_model: requested}
  - {name: b, to: p, response_model: backend}
  - {name: c, to: p}
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->routes[0].response_model, RouteConfig::ResponseModel::kRequested);
  EXPECT_EQ(config->routes[1].response_model, RouteConfig::ResponseModel::kBackend);
  EXPECT_EQ(config->routes[2].response_model, RouteConfig::ResponseModel::kBackend);
  ExpectErrorCase({"BadResponseModel", R"(
listeners: [{name: l, listen: "127.0.0.1:0"}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
routes: [{name: a, to: p, response_model: client}]
)",
                   3, 43, "routes[0].response_model", "backend, requested"});
}

}  // namespace
}  // namespace infergate::config
