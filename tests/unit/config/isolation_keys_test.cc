// The config keys of isolation and degradation: compartments, tiers, tenant identification,
// tenants, runners, a route's compartment, fallbacks and degrade triggers, and require_api_key.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

// SHA-256 of "a", "b" and "c" (printf %s a | sha256sum), and the first in upper case.
#define HASH_A "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define HASH_A_UPPER "CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB"
#define HASH_B "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define HASH_C "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"

uint32_t Bits(std::initializer_list<Trigger> triggers) {
  uint32_t bits = 0;
  for (Trigger t : triggers) bits |= 1u << static_cast<int>(t);
  return bits;
}

// The triggers of a route with fallbacks and no `degrade.on`.
const uint32_t kDefaultTriggers =
    Bits({Trigger::kNoBackend, Trigger::kCompartmentFull, Trigger::kConcurrencyLimit,
          Trigger::kRetriesExhausted, Trigger::kFirstByteTimeout});

void ExpectDefaultCompartment(const CompartmentConfig& c) {
  EXPECT_EQ(c.max_concurrent, 64u) << c.name;
  EXPECT_EQ(c.max_queue, 0u) << c.name;
  EXPECT_EQ(c.max_wait, 1s) << c.name;
  EXPECT_EQ(c.on_full, CompartmentConfig::OnFull::kReject) << c.name;
  EXPECT_EQ(c.retry_after, 1s) << c.name;
  EXPECT_EQ(c.thread_pool.threads, 0u) << c.name;
  EXPECT_EQ(c.thread_pool.queue, 64u) << c.name;
}

// ---- values and defaults

TEST(IsolationKeys, DefaultsWhenAbsent) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_TRUE(config->compartments.empty());
  ASSERT_EQ(config->tiers.size(), 1u);
  EXPECT_EQ(config->tiers[0].name, "default");
  EXPECT_DOUBLE_EQ(config->tiers[0].reserve_percent, 0);
  EXPECT_TRUE(config->tenants.empty());
  EXPECT_EQ(config->tenant_identification.header, "");
  EXPECT_EQ(config->tenant_identification.anonymous_tier, 0u);
  EXPECT_TRUE(config->runners.empty());
  EXPECT_FALSE(config->listeners.at(0).require_api_key);
  const RouteConfig& route = config->routes.at(0);
  EXPECT_FALSE(route.compartment.has_value());
  EXPECT_TRUE(route.fallbacks.empty());
  EXPECT_EQ(route.degrade.triggers, 0u);  // no fallbacks: nothing to degrade to
  EXPECT_FALSE(route.degrade.saturation.queue_above.has_value());
  EXPECT_FALSE(route.degrade.saturation.kv_cache_above.has_value());
  EXPECT_EQ(route.degrade.max_predicted_wait, 0s);
  EXPECT_EQ(route.degrade.recover_after, 3s);
}

TEST(IsolationKeys, DefaultsMatchTheDocumentedOnes) {
  // The values config/infergate.yaml documents; a change to config.h must update both.
  ExpectDefaultCompartment(CompartmentConfig{});
  EXPECT_DOUBLE_EQ(TierConfig{}.reserve_percent, 0);
  const RunnerConfig runner;
  EXPECT_EQ(runner.kind, RunnerConfig::Kind::kSynthetic);
  EXPECT_EQ(runner.model, "");
  EXPECT_EQ(runner.tokens, 16u);
  EXPECT_EQ(runner.token_cost, 1ms);
  const DegradeConfig degrade;
  EXPECT_EQ(degrade.triggers, 0u);
  EXPECT_EQ(degrade.max_predicted_wait, 0s);
  EXPECT_EQ(degrade.recover_after, 3s);
}

TEST(IsolationKeys, CompartmentDefaults) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
compartments:
  - name: c
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->compartments.size(), 1u);
  EXPECT_EQ(config->compartments[0].name, "c");
  ExpectDefaultCompartment(config->compartments[0]);
}

TEST(IsolationKeys, CompartmentEveryKeyIsRead) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
compartments:
  - name: interactive
    max_concurrent: 1000000
    max_queue: 1000000
    max_wait: 250ms
    on_full: degrade
    retry_after: 0s
    thread_pool: {threads: 256, queue: 100000}
  - name: batch
    max_concurrent: 1
    max_queue: 0
    max_wait: 2m
    on_full: reject
    retry_after: 30s
    thread_pool:
      threads: 1
      queue: 0
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->compartments.size(), 2u);
  const CompartmentConfig& a = config->compartments[0];
  EXPECT_EQ(a.name, "interactive");
  EXPECT_EQ(a.max_concurrent, 1000000u);
  EXPECT_EQ(a.max_queue, 1000000u);
  EXPECT_EQ(a.max_wait, 250ms);
  EXPECT_EQ(a.on_full, CompartmentConfig::OnFull::kDegrade);
  EXPECT_EQ(a.retry_after, 0s);
  EXPECT_EQ(a.thread_pool.threads, 256u);
  EXPECT_EQ(a.thread_pool.queue, 100000u);
  const CompartmentConfig& b = config->compartments[1];
  EXPECT_EQ(b.name, "batch");
  EXPECT_EQ(b.max_concurrent, 1u);
  EXPECT_EQ(b.max_queue, 0u);
  EXPECT_EQ(b.max_wait, 2min);
  EXPECT_EQ(b.on_full, CompartmentConfig::OnFull::kReject);
  EXPECT_EQ(b.retry_after, 30s);
  EXPECT_EQ(b.thread_pool.threads, 1u);
  EXPECT_EQ(b.thread_pool.queue, 0u);
}

TEST(IsolationKeys, ThreadPoolHasOneThreadWhenTheMappingIsPresent) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
compartments:
  - {name: empty, thread_pool: {}}
  - {name: queue-only, thread_pool: {queue: 8}}
  - {name: threads-only, thread_pool: {threads: 4}}
  - {name: none}
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->compartments.size(), 4u);
  EXPECT_EQ(config->compartments[0].thread_pool.threads, 1u);
  EXPECT_EQ(config->compartments[0].thread_pool.queue, 64u);
  EXPECT_EQ(config->compartments[1].thread_pool.threads, 1u);
  EXPECT_EQ(config->compartments[1].thread_pool.queue, 8u);
  EXPECT_EQ(config->compartments[2].thread_pool.threads, 4u);
  EXPECT_EQ(config->compartments[2].thread_pool.queue, 64u);
  EXPECT_EQ(config->compartments[3].thread_pool.threads, 0u);  // no thread pool
  EXPECT_EQ(config->compartments[3].thread_pool.queue, 64u);
}

TEST(IsolationKeys, TiersAreReadInOrderAndTheLastIsAnonymous) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
tiers:
  - name: gold
    reserve_percent: 0
  - {name: silver, reserve_percent: 20.5}
  - name: free
    reserve_percent: 99
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->tiers.size(), 3u);
  EXPECT_EQ(config->tiers[0].name, "gold");
  EXPECT_DOUBLE_EQ(config->tiers[0].reserve_percent, 0);  // 0 is allowed on the first tier
  EXPECT_EQ(config->tiers[1].name, "silver");
  EXPECT_DOUBLE_EQ(config->tiers[1].reserve_percent, 20.5);
  EXPECT_EQ(config->tiers[2].name, "free");
  EXPECT_DOUBLE_EQ(config->tiers[2].reserve_percent, 99);
  EXPECT_EQ(config->tenant_identification.anonymous_tier, 2u);
  EXPECT_EQ(config->tenant_identification.header, "");
}

TEST(IsolationKeys, TenantIdentification) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
tiers: [{name: gold}, {name: silver}, {name: free}]
tenant_identification:
  header: X-Tenant-ID
  anonymous_tier: silver
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->tenant_identification.header, "x-tenant-id");  // lower-cased
  EXPECT_EQ(config->tenant_identification.anonymous_tier, 1u);
}

TEST(IsolationKeys, TenantIdentificationAnonymousTierOfTheDefaultTier) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
tenant_identification: {anonymous_tier: default}
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->tenant_identification.anonymous_tier, 0u);
  EXPECT_EQ(config->tenant_identification.header, "");
}

TEST(IsolationKeys, Tenants) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
tiers: [{name: gold}, {name: free}]
compartments: [{name: shared}, {name: vip}]
tenant_identification: {header: x-tenant}
tenants:
  - name: acme
    api_keys_sha256: )" HASH_A_UPPER R"(
    tier: gold
    compartment: vip
  - name: globex
    api_keys_sha256:
      - )" HASH_B R"(
      - )" HASH_C R"(
    tier: free
  - name: by-header
    tier: free
    compartment: shared
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->tenants.size(), 3u);
  const TenantConfig& acme = config->tenants[0];
  EXPECT_EQ(acme.name, "acme");
  EXPECT_EQ(acme.api_key_sha256, std::vector<std::string>{HASH_A});  // lower-cased
  EXPECT_EQ(acme.tier, 0u);
  EXPECT_EQ(acme.compartment, 1u);
  const TenantConfig& globex = config->tenants[1];
  EXPECT_EQ(globex.name, "globex");
  EXPECT_EQ(globex.api_key_sha256, (std::vector<std::string>{HASH_B, HASH_C}));
  EXPECT_EQ(globex.tier, 1u);
  EXPECT_FALSE(globex.compartment.has_value());
  const TenantConfig& by_header = config->tenants[2];
  EXPECT_TRUE(by_header.api_key_sha256.empty());
  EXPECT_EQ(by_header.tier, 1u);
  EXPECT_EQ(by_header.compartment, 0u);
}

TEST(IsolationKeys, TenantTierIsOptionalWithASingleTier) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
tenants:
  - {name: a, api_keys_sha256: [)" HASH_A R"(]}
  - {name: b, tier: default}
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->tenants.size(), 2u);
  EXPECT_EQ(config->tenants[0].tier, 0u);
  EXPECT_EQ(config->tenants[0].api_key_sha256, std::vector<std::string>{HASH_A});
  EXPECT_FALSE(config->tenants[0].compartment.has_value());
  EXPECT_EQ(config->tenants[1].tier, 0u);
}

TEST(IsolationKeys, Runners) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
compartments:
  - {name: async}
  - {name: cpu, thread_pool: {threads: 2}}
runners:
  - name: tiny
    compartment: cpu
  - name: full
    kind: synthetic
    compartment: cpu
    model: tiny-1b
    tokens: 100000
    token_cost: 0s
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->runners.size(), 2u);
  const RunnerConfig& tiny = config->runners[0];
  EXPECT_EQ(tiny.name, "tiny");
  EXPECT_EQ(tiny.kind, RunnerConfig::Kind::kSynthetic);
  EXPECT_EQ(tiny.compartment, 1u);
  EXPECT_EQ(tiny.model, "");
  EXPECT_EQ(tiny.tokens, 16u);
  EXPECT_EQ(tiny.token_cost, 1ms);
  const RunnerConfig& full = config->runners[1];
  EXPECT_EQ(full.name, "full");
  EXPECT_EQ(full.kind, RunnerConfig::Kind::kSynthetic);
  EXPECT_EQ(full.compartment, 1u);
  EXPECT_EQ(full.model, "tiny-1b");
  EXPECT_EQ(full.tokens, 100000u);
  EXPECT_EQ(full.token_cost, 0s);
}

TEST(IsolationKeys, RouteCompartmentAndFallbacks) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools:
  - {name: big, backends: [http://10.0.0.1:8000]}
  - {name: small, backends: [http://10.0.0.2:8000]}
compartments:
  - {name: chat, max_concurrent: 8, on_full: degrade}
  - {name: spill, thread_pool: {threads: 1}}
runners: [{name: tiny, compartment: spill}]
routes:
  - name: chat
    to: big
    compartment: chat
    fallbacks:
      - pool: small
        rewrite_model: llama-8b
        compartment: spill
      - {pool: small}
      - runner: tiny
      - static: "Busy, try again later."
        model: canned
  - name: plain
    to: big
    fallbacks: [{static: busy}]
  - name: none
    to: small
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->routes.size(), 3u);
  const RouteConfig& chat = config->routes[0];
  EXPECT_EQ(chat.compartment, 0u);
  ASSERT_EQ(chat.fallbacks.size(), 4u);

  const FallbackConfig& pool = chat.fallbacks[0];
  EXPECT_EQ(pool.kind, FallbackConfig::Kind::kPool);
  EXPECT_EQ(pool.name, "small");
  EXPECT_EQ(pool.pool, 1u);
  EXPECT_EQ(pool.rewrite_model, "llama-8b");
  EXPECT_EQ(pool.compartment, 1u);
  // A pool may come twice (e.g. once with a rewritten model); this one has no extras.
  const FallbackConfig& bare = chat.fallbacks[1];
  EXPECT_EQ(bare.kind, FallbackConfig::Kind::kPool);
  EXPECT_EQ(bare.name, "small");
  EXPECT_EQ(bare.pool, 1u);
  EXPECT_FALSE(bare.rewrite_model.has_value());
  EXPECT_FALSE(bare.compartment.has_value());
  const FallbackConfig& runner = chat.fallbacks[2];
  EXPECT_EQ(runner.kind, FallbackConfig::Kind::kRunner);
  EXPECT_EQ(runner.name, "runner:tiny");
  EXPECT_EQ(runner.runner, 0u);
  const FallbackConfig& text = chat.fallbacks[3];
  EXPECT_EQ(text.kind, FallbackConfig::Kind::kStatic);
  EXPECT_EQ(text.name, "static");
  EXPECT_EQ(text.text, "Busy, try again later.");
  EXPECT_EQ(text.model, "canned");
  EXPECT_EQ(chat.degrade.triggers, kDefaultTriggers);

  const RouteConfig& plain = config->routes[1];
  EXPECT_FALSE(plain.compartment.has_value());
  ASSERT_EQ(plain.fallbacks.size(), 1u);
  EXPECT_EQ(plain.fallbacks[0].kind, FallbackConfig::Kind::kStatic);
  EXPECT_EQ(plain.fallbacks[0].text, "busy");
  EXPECT_EQ(plain.fallbacks[0].model, "");  // the request's
  EXPECT_EQ(plain.degrade.triggers, kDefaultTriggers);

  const RouteConfig& none = config->routes[2];
  EXPECT_TRUE(none.fallbacks.empty());
  EXPECT_EQ(none.degrade.triggers, 0u);
}

TEST(IsolationKeys, DegradeTriggers) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000], load_report: {format: vllm}}]
routes:
  - name: absent
    to: p
    fallbacks: [{static: busy}]
  - name: empty
    to: p
    fallbacks: [{static: busy}]
    degrade:
  - name: queue
    to: p
    fallbacks: [{static: busy}]
    degrade: {saturation: {queue_above: 4}}
  - name: kv-cache
    to: p
    fallbacks: [{static: busy}]
    degrade: {saturation: {kv_cache_above: 1}}
  - name: predicted
    to: p
    fallbacks: [{static: busy}]
    degrade: {max_predicted_wait: 2s, recover_after: 10s}
  - name: explicit
    to: p
    fallbacks: [{static: busy}]
    degrade:
      on: [no_backend, saturation, predicted_wait]
      saturation: {queue_above: 0, kv_cache_above: 0.9}
      max_predicted_wait: 500ms
      recover_after: 0s
  - name: one-string
    to: p
    fallbacks: [{static: busy}]
    degrade: {on: first_byte_timeout}
  - name: thresholds-not-listed
    to: p
    fallbacks: [{static: busy}]
    degrade: {on: [compartment_full], saturation: {queue_above: 2}}
  - name: no-fallbacks
    to: p
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->routes.size(), 9u);
  const auto& routes = config->routes;

  for (size_t i : {0u, 1u}) {
    const DegradeConfig& d = routes[i].degrade;
    EXPECT_EQ(d.triggers, kDefaultTriggers) << routes[i].name;
    EXPECT_TRUE(d.has(Trigger::kNoBackend));
    EXPECT_TRUE(d.has(Trigger::kCompartmentFull));
    EXPECT_TRUE(d.has(Trigger::kConcurrencyLimit));
    EXPECT_TRUE(d.has(Trigger::kRetriesExhausted));
    EXPECT_TRUE(d.has(Trigger::kFirstByteTimeout));
    EXPECT_FALSE(d.has(Trigger::kSaturation));
    EXPECT_FALSE(d.has(Trigger::kPredictedWait));
    EXPECT_EQ(d.recover_after, 3s);
    EXPECT_EQ(d.max_predicted_wait, 0s);
  }

  const DegradeConfig& queue = routes[2].degrade;
  EXPECT_EQ(queue.triggers, kDefaultTriggers | Bits({Trigger::kSaturation}));
  EXPECT_EQ(queue.saturation.queue_above, 4.0);
  EXPECT_FALSE(queue.saturation.kv_cache_above.has_value());

  const DegradeConfig& kv = routes[3].degrade;
  EXPECT_EQ(kv.triggers, kDefaultTriggers | Bits({Trigger::kSaturation}));
  EXPECT_FALSE(kv.saturation.queue_above.has_value());
  EXPECT_EQ(kv.saturation.kv_cache_above, 1.0);  // the upper bound is allowed

  const DegradeConfig& predicted = routes[4].degrade;
  EXPECT_EQ(predicted.triggers, kDefaultTriggers | Bits({Trigger::kPredictedWait}));
  EXPECT_EQ(predicted.max_predicted_wait, 2s);
  EXPECT_EQ(predicted.recover_after, 10s);

  const DegradeConfig& explicit_on = routes[5].degrade;
  EXPECT_EQ(explicit_on.triggers,
            Bits({Trigger::kNoBackend, Trigger::kSaturation, Trigger::kPredictedWait}));
  EXPECT_EQ(explicit_on.saturation.queue_above, 0.0);
  EXPECT_EQ(explicit_on.saturation.kv_cache_above, 0.9);
  EXPECT_EQ(explicit_on.max_predicted_wait, 500ms);
  EXPECT_EQ(explicit_on.recover_after, 0s);

  EXPECT_EQ(routes[6].degrade.triggers, Bits({Trigger::kFirstByteTimeout}));
  // An explicit list is the whole set: thresholds alone do not add saturation to it.
  EXPECT_EQ(routes[7].degrade.triggers, Bits({Trigger::kCompartmentFull}));
  EXPECT_EQ(routes[7].degrade.saturation.queue_above, 2.0);
  EXPECT_EQ(routes[8].degrade.triggers, 0u);
}

TEST(IsolationKeys, RequireApiKeyWithTenantKeys) {
  auto config = LoadOk(Yaml(R"(
listeners:
  - name: public
    listen: ":0"
    require_api_key: true
  - name: internal
    listen: ":0"
    require_api_key: false
  - name: other
    listen: ":0"
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
tenants:
  - {name: by-header}
  - {name: acme, api_keys_sha256: )" HASH_A R"(}
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->listeners.size(), 3u);
  EXPECT_TRUE(config->listeners[0].require_api_key);
  EXPECT_FALSE(config->listeners[1].require_api_key);
  EXPECT_FALSE(config->listeners[2].require_api_key);
}

TEST(IsolationKeys, RequireApiKeyFalseNeedsNoTenants) {
  auto config = LoadOk(Yaml(R"(
listeners: [{name: l, listen: ":0", require_api_key: False}]
pools: [{name: p, backends: [http://10.0.0.1:8000]}]
routes: [{name: r, to: p}]
)"));
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->listeners.at(0).require_api_key);
}

TEST(IsolationKeys, TriggerNameOfEveryTrigger) {
  EXPECT_EQ(TriggerName(Trigger::kNoBackend), "no_backend");
  EXPECT_EQ(TriggerName(Trigger::kCompartmentFull), "compartment_full");
  EXPECT_EQ(TriggerName(Trigger::kConcurrencyLimit), "concurrency_limit");
  EXPECT_EQ(TriggerName(Trigger::kRetriesExhausted), "retries_exhausted");
  EXPECT_EQ(TriggerName(Trigger::kFirstByteTimeout), "first_byte_timeout");
  EXPECT_EQ(TriggerName(Trigger::kSaturation), "saturation");
  EXPECT_EQ(TriggerName(Trigger::kPredictedWait), "predicted_wait");
  EXPECT_EQ(TriggerName(static_cast<Trigger>(kTriggerCount)), "unknown");
}

TEST(IsolationKeys, DegradeOnAcceptsEveryTriggerName) {
  static_assert(kTriggerCount <= 32, "the triggers are bits of a uint32_t");
  for (size_t i = 0; i < kTriggerCount; ++i) {
    const Trigger trigger = static_cast<Trigger>(i);
    const std::string yaml = Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://10.0.0.1:8000], load_report: {format: vllm}}]
routes:
  - name: r
    to: p
    fallbacks: [{static: busy}]
    degrade:
      saturation: {queue_above: 1}
      max_predicted_wait: 1s
      on: [)") + std::string(TriggerName(trigger)) +
                             "]\n";
    auto config = LoadOk(yaml);
    ASSERT_NE(config, nullptr) << TriggerName(trigger);
    EXPECT_EQ(config->routes.at(0).degrade.triggers, Bits({trigger})) << TriggerName(trigger);
    EXPECT_TRUE(config->routes.at(0).degrade.has(trigger)) << TriggerName(trigger);
  }
}

// ---- errors

class IsolationErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(IsolationErrorTest, ReportsPositionPathAndMessage) { ExpectErrorCase(GetParam()); }

auto CaseName = [](const auto& info) { return std::string(info.param.name); };

#define L1 "listeners: [{name: l, listen: \":0\"}]\n"
#define L2 "pools: [{name: p, backends: [http://127.0.0.1:1]}]\n"
#define L3 "routes: [{name: r, to: p}]\n"
// Top-level keys after three valid lines: `text` starts at line 4.
#define TOP(text) L1 L2 L3 text
// Compartment "c" whose own keys start at line 6, column 5.
#define COMPARTMENT(text) TOP("compartments:\n  - name: c\n" text)

const ErrorCase kCompartmentCases[] = {
    {"MaxConcurrentZero", COMPARTMENT("    max_concurrent: 0\n"), 6, 21,
     "compartments[0].max_concurrent", "0 is out of range (allowed: 1..1000000)"},
    {"MaxConcurrentTooBig", COMPARTMENT("    max_concurrent: 1000001\n"), 6, 21,
     "compartments[0].max_concurrent", "1000001 is out of range (allowed: 1..1000000)"},
    {"MaxConcurrentNotAnInteger", COMPARTMENT("    max_concurrent: lots\n"), 6, 21,
     "compartments[0].max_concurrent", "\"lots\" is not an integer"},
    {"MaxQueueNegative", COMPARTMENT("    max_queue: -1\n"), 6, 16, "compartments[0].max_queue",
     "-1 is out of range (allowed: 0..1000000)"},
    {"MaxQueueTooBig", COMPARTMENT("    max_queue: 1000001\n"), 6, 16, "compartments[0].max_queue",
     "1000001 is out of range (allowed: 0..1000000)"},
    {"MaxWaitZero", COMPARTMENT("    max_wait: 0s\n"), 6, 15, "compartments[0].max_wait",
     "must be greater than 0 (found \"0s\")"},
    {"MaxWaitBareNumber", COMPARTMENT("    max_wait: 1\n"), 6, 15, "compartments[0].max_wait",
     "\"1\" is not a duration (write e.g. 250ms, 30s, 2m)"},
    {"RetryAfterNegative", COMPARTMENT("    retry_after: -1s\n"), 6, 18,
     "compartments[0].retry_after", "\"-1s\" is not a duration"},
    {"OnFullUnknown", COMPARTMENT("    on_full: queue\n"), 6, 14, "compartments[0].on_full",
     "unknown value \"queue\" (allowed: reject, degrade)"},
    {"OnFullMissing", COMPARTMENT("    on_full:\n"), 6, 5, "compartments[0].on_full",
     "missing value (allowed: reject, degrade)"},
    {"UnknownKey", COMPARTMENT("    max_concurent: 4\n"), 6, 5, "compartments[0].max_concurent",
     "unknown key \"max_concurent\" (allowed: name, max_concurrent, max_queue, max_wait, on_full, "
     "retry_after, thread_pool); did you mean \"max_concurrent\"?"},
    {"ThreadsZero", COMPARTMENT("    thread_pool: {threads: 0}\n"), 6, 28,
     "compartments[0].thread_pool.threads", "0 is out of range (allowed: 1..256)"},
    {"ThreadsTooMany", COMPARTMENT("    thread_pool:\n      threads: 257\n"), 7, 16,
     "compartments[0].thread_pool.threads", "257 is out of range (allowed: 1..256)"},
    {"ThreadQueueNegative", COMPARTMENT("    thread_pool: {queue: -1}\n"), 6, 26,
     "compartments[0].thread_pool.queue", "-1 is out of range (allowed: 0..100000)"},
    {"ThreadQueueTooBig", COMPARTMENT("    thread_pool: {queue: 100001}\n"), 6, 26,
     "compartments[0].thread_pool.queue", "100001 is out of range (allowed: 0..100000)"},
    {"ThreadPoolUnknownKey", COMPARTMENT("    thread_pool: {thread: 2}\n"), 6, 19,
     "compartments[0].thread_pool.thread",
     "unknown key \"thread\" (allowed: threads, queue); did you mean \"threads\"?"},
    {"ThreadPoolNotAMapping", COMPARTMENT("    thread_pool: 4\n"), 6, 18,
     "compartments[0].thread_pool", "expected a mapping (found \"4\")"},
    {"MissingName", TOP("compartments:\n  - max_queue: 1\n"), 5, 5, "compartments[0]",
     "missing required key \"name\""},
    {"EmptyName", TOP("compartments: [{name: \"\"}]\n"), 4, 23, "compartments[0].name",
     "must not be empty"},
    {"DuplicateName", TOP("compartments:\n  - name: c\n  - name: c\n"), 6, 11,
     "compartments[1].name", "duplicate compartment name \"c\" (first at line 5)"},
    {"NotAList", TOP("compartments: {name: c}\n"), 4, 15, "compartments",
     "expected a list (found a mapping); start each item with \"- \""},
    {"EmptyList", TOP("compartments: []\n"), 4, 15, "compartments",
     "empty list (omit compartments when no route or tenant uses one)"},
    {"ItemNotAMapping", TOP("compartments: [c]\n"), 4, 16, "compartments[0]",
     "expected a mapping (found \"c\")"},
    {"TopLevelKeyMisspelled", TOP("compartment: [{name: c}]\n"), 4, 1, "compartment",
     "unknown key \"compartment\" (allowed: workers, log_format, listeners, admin, pools, routes, "
     "canary_budget, compartments, tiers, tenants, tenant_identification, runners, access_log, "
     "models, model_limits, shared_state); "
     "did you mean \"compartments\"?"},
};
INSTANTIATE_TEST_SUITE_P(Compartments, IsolationErrorTest, ::testing::ValuesIn(kCompartmentCases),
                         CaseName);

// Tiers whose first item is at line 5.
#define TIERS(text) TOP("tiers:\n" text)
constexpr char kFirstTierMessage[] =
    "the first tier is the highest: there is no higher tier to reserve capacity for (set "
    "reserve_percent on the lower tiers)";

const ErrorCase kTierCases[] = {
    {"ReserveOnTheFirstTier", TIERS("  - {name: gold, reserve_percent: 10}\n  - name: free\n"), 5,
     35, "tiers[0].reserve_percent", kFirstTierMessage},
    {"ReserveOnASingleTier", TIERS("  - name: gold\n    reserve_percent: 0.5\n"), 6, 22,
     "tiers[0].reserve_percent", kFirstTierMessage},
    {"ReserveHundred", TIERS("  - name: gold\n  - name: free\n    reserve_percent: 100\n"), 7, 22,
     "tiers[1].reserve_percent", "100 is out of range (allowed: at least 0 and at most 99)"},
    {"ReserveNegative", TIERS("  - name: gold\n  - {name: free, reserve_percent: -1}\n"), 6, 35,
     "tiers[1].reserve_percent", "-1 is out of range (allowed: at least 0 and at most 99)"},
    {"ReservePercentSign", TIERS("  - name: gold\n  - {name: free, reserve_percent: 20%}\n"), 6, 35,
     "tiers[1].reserve_percent",
     "\"20%\" is not a number (write a percentage without \"%\", e.g. 20)"},
    {"DuplicateName", TIERS("  - name: gold\n  - name: gold\n"), 6, 11, "tiers[1].name",
     "duplicate tier name \"gold\" (first at line 5)"},
    {"MissingName", TIERS("  - name: gold\n  - reserve_percent: 10\n"), 6, 5, "tiers[1]",
     "missing required key \"name\""},
    {"UnknownKey", TIERS("  - name: gold\n  - {name: free, reserve_precent: 10}\n"), 6, 18,
     "tiers[1].reserve_precent",
     "unknown key \"reserve_precent\" (allowed: name, reserve_percent); did you mean "
     "\"reserve_percent\"?"},
    {"EmptyList", TOP("tiers: []\n"), 4, 8, "tiers", "empty list (omit tiers for a single tier)"},
    {"AString", TOP("tiers: gold\n"), 4, 8, "tiers", "expected a list (found \"gold\")"},
};
INSTANTIATE_TEST_SUITE_P(Tiers, IsolationErrorTest, ::testing::ValuesIn(kTierCases), CaseName);

// tenant_identification, whose keys start at line 6, column 3, with tiers gold and free.
#define IDENTIFICATION(text) \
  TOP("tiers: [{name: gold}, {name: free}]\ntenant_identification:\n" text)

const ErrorCase kIdentificationCases[] = {
    {"InvalidHeader", IDENTIFICATION("  header: \"x tenant\"\n"), 6, 11,
     "tenant_identification.header", "\"x tenant\" is not a valid header name"},
    {"HeaderWithColon", IDENTIFICATION("  header: \"x-tenant:\"\n"), 6, 11,
     "tenant_identification.header", "\"x-tenant:\" is not a valid header name"},
    {"EmptyHeader", IDENTIFICATION("  header: \"\"\n"), 6, 11, "tenant_identification.header",
     "must not be empty"},
    {"UnknownAnonymousTier", IDENTIFICATION("  anonymous_tier: silver\n"), 6, 19,
     "tenant_identification.anonymous_tier", "unknown tier \"silver\" (known: gold, free)"},
    {"AnonymousTierWithoutTiers", TOP("tenant_identification: {anonymous_tier: gold}\n"), 4, 41,
     "tenant_identification.anonymous_tier", "unknown tier \"gold\" (known: default)"},
    {"UnknownKey", IDENTIFICATION("  anonymous_teir: free\n"), 6, 3,
     "tenant_identification.anonymous_teir",
     "unknown key \"anonymous_teir\" (allowed: header, client_certificate, anonymous_tier); did "
     "you mean "
     "\"anonymous_tier\"?"},
    {"NotAMapping", TOP("tenant_identification: x-tenant\n"), 4, 24, "tenant_identification",
     "expected a mapping (found \"x-tenant\")"},
};
INSTANTIATE_TEST_SUITE_P(TenantIdentification, IsolationErrorTest,
                         ::testing::ValuesIn(kIdentificationCases), CaseName);

// Tenant "t" of tier gold (line 7), whose further keys start at line 9, column 5; tiers gold and
// free, compartment c.
#define TENANT(text)                                                                            \
  TOP("tiers: [{name: gold}, {name: free}]\ncompartments: [{name: c}]\ntenants:\n  - name: t\n" \
      "    tier: gold\n" text)
constexpr char kHashMessage[] =
    "expected the SHA-256 of an API key as 64 hex digits (found 3 characters; compute it with: "
    "printf %s \"$KEY\" | sha256sum)";

const ErrorCase kTenantCases[] = {
    {"HashTooShort", TENANT("    api_keys_sha256: abc\n"), 9, 22, "tenants[0].api_keys_sha256",
     kHashMessage},
    {"HashTooLong", TENANT("    api_keys_sha256: " HASH_A "0\n"), 9, 22,
     "tenants[0].api_keys_sha256",
     "(found 65 characters; compute it with: printf %s \"$KEY\" | "
     "sha256sum)"},
    {"HashNotHex",
     TENANT("    api_keys_sha256: "
            "ga978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb\n"),
     9, 22, "tenants[0].api_keys_sha256",
     "expected the SHA-256 of an API key as 64 hex digits (found 64 characters; compute it with: "
     "printf %s \"$KEY\" | sha256sum)"},
    {"HashInAList", TENANT("    api_keys_sha256: [" HASH_A ", abc]\n"), 9, 89,
     "tenants[0].api_keys_sha256[1]", kHashMessage},
    {"HashInABlockList", TENANT("    api_keys_sha256:\n      - " HASH_B "\n      - abc\n"), 11, 9,
     "tenants[0].api_keys_sha256[1]", kHashMessage},
    {"SameHashInTwoTenants",
     TENANT("    api_keys_sha256: " HASH_A "\n  - name: u\n    tier: free\n"
            "    api_keys_sha256: [" HASH_B ", " HASH_A_UPPER "]\n"),
     12, 89, "tenants[1].api_keys_sha256[1]",
     "this key hash is already listed at line 9 (a key identifies one tenant)"},
    {"SameHashTwiceInOneTenant",
     TENANT("    api_keys_sha256:\n      - " HASH_C "\n      - " HASH_C "\n"), 11, 9,
     "tenants[0].api_keys_sha256[1]",
     "this key hash is already listed at line 10 (a key identifies one tenant)"},
    {"HashListEmpty", TENANT("    api_keys_sha256: []\n"), 9, 22, "tenants[0].api_keys_sha256",
     "empty list (omit api_keys_sha256 for a tenant named by tenant_identification.header only)"},
    {"HashMapping", TENANT("    api_keys_sha256: {a: 1}\n"), 9, 22, "tenants[0].api_keys_sha256",
     "expected a string or a list of strings (found a mapping)"},
    {"HashKeyMisspelled", TENANT("    api_key_sha256: abc\n"), 9, 5, "tenants[0].api_key_sha256",
     "unknown key \"api_key_sha256\" (allowed: name, api_keys_sha256, certificate_names, tier, "
     "compartment, limits); did you "
     "mean \"api_keys_sha256\"?"},
    {"TierMissingWithSeveralTiers",
     TOP("tiers: [{name: gold}, {name: free}]\ntenants:\n  - name: t\n"), 6, 5, "tenants[0]",
     "missing key \"tier\" (several tiers are defined: gold, free)"},
    {"TierMissingInAFlowMapping",
     TOP("tiers: [{name: gold}, {name: free}]\ntenants: [{name: t}]\n"), 5, 11, "tenants[0]",
     "missing key \"tier\" (several tiers are defined: gold, free)"},
    {"UnknownTier",
     TOP("tiers: [{name: gold}, {name: free}]\ntenants:\n  - name: t\n    tier: silver\n"), 7, 11,
     "tenants[0].tier", "unknown tier \"silver\" (known: gold, free)"},
    {"UnknownTierWithoutTiers", TOP("tenants: [{name: t, tier: gold}]\n"), 4, 27, "tenants[0].tier",
     "unknown tier \"gold\" (known: default)"},
    {"UnknownCompartment", TENANT("    compartment: d\n"), 9, 18, "tenants[0].compartment",
     "unknown compartment \"d\" (known: c)"},
    {"CompartmentWithoutCompartments", TOP("tenants: [{name: t, compartment: c}]\n"), 4, 34,
     "tenants[0].compartment", "unknown compartment \"c\" (no compartments are defined)"},
    {"DuplicateName", TENANT("  - name: t\n    tier: free\n"), 9, 11, "tenants[1].name",
     "duplicate tenant name \"t\" (first at line 7)"},
    {"MissingName", TOP("tenants: [{tier: default}]\n"), 4, 11, "tenants[0]",
     "missing required key \"name\""},
};
INSTANTIATE_TEST_SUITE_P(Tenants, IsolationErrorTest, ::testing::ValuesIn(kTenantCases), CaseName);

// Runner "x" (line 6) whose further keys start at line 7, column 5; compartment "pooled" has a
// thread pool, "async" has none.
#define RUNNER(text)                                                                         \
  TOP("compartments: [{name: pooled, thread_pool: {threads: 2}}, {name: async}]\nrunners:\n" \
      "  - name: x\n" text)

const ErrorCase kRunnerCases[] = {
    {"CompartmentWithoutThreadPool", RUNNER("    compartment: async\n"), 7, 18,
     "runners[0].compartment",
     "compartment \"async\" has no thread_pool: a runner burns CPU and must not run on the event "
     "loop (add thread_pool: {threads: N} to the compartment)"},
    {"CompartmentMissing", RUNNER("    tokens: 4\n"), 6, 5, "runners[0]",
     "missing required key \"compartment\""},
    {"UnknownCompartment", RUNNER("    compartment: cpu\n"), 7, 18, "runners[0].compartment",
     "unknown compartment \"cpu\" (known: pooled, async)"},
    {"CompartmentWithoutCompartments", TOP("runners: [{name: x, compartment: c}]\n"), 4, 34,
     "runners[0].compartment", "unknown compartment \"c\" (no compartments are defined)"},
    {"UnknownKind", RUNNER("    compartment: pooled\n    kind: llama\n"), 8, 11, "runners[0].kind",
     "unknown value \"llama\" (allowed: synthetic, gguf)"},
    {"TokensZero", RUNNER("    compartment: pooled\n    tokens: 0\n"), 8, 13, "runners[0].tokens",
     "0 is out of range (allowed: 1..100000)"},
    {"TokensTooMany", RUNNER("    compartment: pooled\n    tokens: 100001\n"), 8, 13,
     "runners[0].tokens", "100001 is out of range (allowed: 1..100000)"},
    {"TokenCostNegative", RUNNER("    compartment: pooled\n    token_cost: -1ms\n"), 8, 17,
     "runners[0].token_cost", "\"-1ms\" is not a duration"},
    {"EmptyModel", RUNNER("    compartment: pooled\n    model: \"\"\n"), 8, 12, "runners[0].model",
     "must not be empty"},
    {"UnknownKey", RUNNER("    compartment: pooled\n    token: 3\n"), 8, 5, "runners[0].token",
     "unknown key \"token\" (allowed: name, kind, compartment, model, tokens, token_cost, "
     "model_file, device, context, chat_template, kv_cache_bytes, max_tokens); did you mean "
     "\"tokens\"?"},
    {"DuplicateName", RUNNER("    compartment: pooled\n  - name: x\n    compartment: pooled\n"), 8,
     11, "runners[1].name", "duplicate runner name \"x\" (first at line 6)"},
    {"EmptyList", TOP("runners: []\n"), 4, 10, "runners",
     "empty list (omit runners when no route falls back to one)"},
};
INSTANTIATE_TEST_SUITE_P(Runners, IsolationErrorTest, ::testing::ValuesIn(kRunnerCases), CaseName);

#undef RUNNER
#undef TENANT
#undef IDENTIFICATION
#undef TIERS
#undef COMPARTMENT
#undef TOP

// Pools p (no load_report) and small (load_report), compartment c with a thread pool, runner
// tiny; route "r" going to `to` whose keys start at line 8, column 5.
#define ROUTE_TO(to, text)                                                           \
  L1 "pools: [{name: p, backends: [http://127.0.0.1:1]}, "                           \
     "{name: small, backends: [http://127.0.0.1:2], load_report: {format: vllm}}]\n" \
     "compartments: [{name: c, thread_pool: {threads: 1}}]\n"                        \
     "runners: [{name: tiny, compartment: c}]\n"                                     \
     "routes:\n  - name: r\n    to: " to "\n" text
#define ROUTE(text) ROUTE_TO("p", text)
// A flow list of fallbacks at line 8 whose first item starts at column 17.
#define FALLBACKS(items) ROUTE("    fallbacks: [" items "]\n")

constexpr char kFallbackForms[] =
    "(write {pool: NAME, rewrite_model: MODEL}, {runner: NAME} or {static: TEXT})";

const ErrorCase kFallbackCases[] = {
    {"UnknownRouteCompartment", ROUTE("    compartment: x\n"), 8, 18, "routes[0].compartment",
     "unknown compartment \"x\" (known: c)"},
    {"EmptyMapping", FALLBACKS("{}"), 8, 17, "routes[0].fallbacks[0]",
     "expected one of pool, runner, static (write {pool: NAME, rewrite_model: MODEL}, {runner: "
     "NAME} or {static: TEXT})"},
    {"TwoKinds", FALLBACKS("{pool: small, static: busy}"), 8, 17, "routes[0].fallbacks[0]",
     "expected only one of pool, runner, static (write {pool: NAME, rewrite_model: MODEL}, "
     "{runner: NAME} or {static: TEXT})"},
    {"ThreeKinds", FALLBACKS("{static: busy}, {pool: small, runner: tiny, static: x}"), 8, 33,
     "routes[0].fallbacks[1]", "expected only one of pool, runner, static"},
    {"ScalarItem", FALLBACKS("small"), 8, 17, "routes[0].fallbacks[0]",
     "expected a mapping (write {pool: NAME, rewrite_model: MODEL}, {runner: NAME} or {static: "
     "TEXT})"},
    {"ListItem", FALLBACKS("[small]"), 8, 17, "routes[0].fallbacks[0]", "expected a mapping"},
    {"EmptyItem", ROUTE("    fallbacks:\n      - {static: busy}\n      -\n"), 10, 7,
     "routes[0].fallbacks[1]", "missing value (write {pool: NAME"},
    {"UnknownPool", FALLBACKS("{pool: large}"), 8, 24, "routes[0].fallbacks[0].pool",
     "unknown pool \"large\" (known: p, small)"},
    {"EmptyPool", FALLBACKS("{pool: \"\"}"), 8, 24, "routes[0].fallbacks[0].pool",
     "must not be empty"},
    {"UnknownRunner", FALLBACKS("{runner: big}"), 8, 26, "routes[0].fallbacks[0].runner",
     "unknown runner \"big\" (known: tiny)"},
    {"UnknownFallbackCompartment", FALLBACKS("{pool: small, compartment: x}"), 8, 44,
     "routes[0].fallbacks[0].compartment", "unknown compartment \"x\" (known: c)"},
    {"EmptyRewriteModel", FALLBACKS("{pool: small, rewrite_model: \"\"}"), 8, 46,
     "routes[0].fallbacks[0].rewrite_model", "must not be empty"},
    {"UnknownKeyInPoolItem", FALLBACKS("{pool: small, rewrite_modle: m}"), 8, 31,
     "routes[0].fallbacks[0].rewrite_modle",
     "unknown key \"rewrite_modle\" (allowed: pool, rewrite_model, compartment, on); did you "
     "mean "
     "\"rewrite_model\"?"},
    {"UnknownKeyInRunnerItem", FALLBACKS("{runner: tiny, compartment: c}"), 8, 32,
     "routes[0].fallbacks[0].compartment", "unknown key \"compartment\" (allowed: runner, on)"},
    {"UnknownKeyInStaticItem", FALLBACKS("{static: busy, modle: m}"), 8, 32,
     "routes[0].fallbacks[0].modle",
     "unknown key \"modle\" (allowed: static, model, on); did you mean \"model\"?"},
    {"StaticTwice", FALLBACKS("{static: a}, {static: b}"), 8, 30, "routes[0].fallbacks[1]",
     "fallback \"static\" is listed twice"},
    {"RunnerTwice", FALLBACKS("{runner: tiny}, {runner: tiny}"), 8, 33, "routes[0].fallbacks[1]",
     "fallback \"runner:tiny\" is listed twice"},
    {"EmptyStatic", FALLBACKS("{static: \"\"}"), 8, 26, "routes[0].fallbacks[0].static",
     "must not be empty"},
    {"EmptyStaticModel", FALLBACKS("{static: busy, model: \"\"}"), 8, 39,
     "routes[0].fallbacks[0].model", "must not be empty"},
    {"EmptyList", ROUTE("    fallbacks: []\n"), 8, 16, "routes[0].fallbacks",
     "empty list (omit fallbacks to answer with errors only)"},
    {"NotAList", ROUTE("    fallbacks: {static: busy}\n"), 8, 16, "routes[0].fallbacks",
     "expected a list (found a mapping); start each item with \"- \""},
    {"RouteKeyMisspelled", ROUTE("    fallback: [{static: busy}]\n"), 8, 5, "routes[0].fallback",
     "did you mean \"fallbacks\"?"},
};
INSTANTIATE_TEST_SUITE_P(Fallbacks, IsolationErrorTest, ::testing::ValuesIn(kFallbackCases),
                         CaseName);

// The degrade mapping of a route to pool `to` with a static fallback: its keys start at line 10,
// column 7.
#define DEGRADE_TO(to, text) \
  ROUTE_TO(to, "    fallbacks: [{static: busy}]\n    degrade:\n      " text "\n")
#define DEGRADE(text) DEGRADE_TO("p", text)
constexpr char kNoLoadReport[] =
    "pool \"p\" reports no load: add load_report to it so saturation can be seen";
constexpr char kNeedsFallbacks[] =
    "degrade needs fallbacks: list where degraded requests go (a pool, a runner or a static "
    "answer) under the route's fallbacks key";

const ErrorCase kDegradeCases[] = {
    {"UnknownTrigger", DEGRADE("on: [no_backend, timeout]"), 10, 24, "routes[0].degrade.on[1]",
     "unknown trigger \"timeout\" (allowed: no_backend, compartment_full, concurrency_limit, "
     "retries_exhausted, first_byte_timeout, saturation, predicted_wait, "
     "context_length_exceeded, content_filter)"},
    {"UnknownTriggerAsOneString", DEGRADE("on: overload"), 10, 11, "routes[0].degrade.on",
     "unknown trigger \"overload\""},
    {"SaturationTriggerWithoutThresholds", DEGRADE_TO("small", "on: [saturation]"), 10, 12,
     "routes[0].degrade.on[0]",
     "the saturation trigger needs degrade.saturation (queue_above or kv_cache_above) and a pool "
     "with load_report"},
    {"PredictedWaitTriggerWithoutMax", DEGRADE("on: [no_backend, predicted_wait]"), 10, 24,
     "routes[0].degrade.on[1]", "the predicted_wait trigger needs degrade.max_predicted_wait"},
    {"SaturationOnAPoolWithoutLoadReport", DEGRADE("saturation: {queue_above: 4}"), 10, 19,
     "routes[0].degrade.saturation", kNoLoadReport},
    {"SaturationTriggerOnAPoolWithoutLoadReport",
     DEGRADE("on: [saturation]\n      saturation: {kv_cache_above: 0.9}"), 11, 19,
     "routes[0].degrade.saturation", kNoLoadReport},
    {"SaturationOnASecondTargetWithoutLoadReport",
     DEGRADE_TO("[small, p]", "saturation: {queue_above: 4}"), 10, 19,
     "routes[0].degrade.saturation", kNoLoadReport},
    {"KvCacheZero", DEGRADE_TO("small", "saturation: {kv_cache_above: 0}"), 10, 36,
     "routes[0].degrade.saturation.kv_cache_above",
     "0 is out of range (allowed: greater than 0 and at most 1)"},
    {"KvCacheAboveOne", DEGRADE_TO("small", "saturation: {kv_cache_above: 1.01}"), 10, 36,
     "routes[0].degrade.saturation.kv_cache_above",
     "1.01 is out of range (allowed: greater than 0 and at most 1)"},
    {"KvCachePercent", DEGRADE_TO("small", "saturation: {kv_cache_above: 90%}"), 10, 36,
     "routes[0].degrade.saturation.kv_cache_above", "\"90%\" is not a number"},
    {"QueueAboveNegative", DEGRADE_TO("small", "saturation: {queue_above: -1}"), 10, 33,
     "routes[0].degrade.saturation.queue_above", "-1 is out of range (allowed: at least 0"},
    {"SaturationEmpty", DEGRADE_TO("small", "saturation: {}"), 10, 19,
     "routes[0].degrade.saturation", "expected queue_above or kv_cache_above"},
    {"SaturationKeyMisspelled", DEGRADE_TO("small", "saturation: {queue_abve: 4}"), 10, 20,
     "routes[0].degrade.saturation.queue_abve",
     "unknown key \"queue_abve\" (allowed: queue_above, kv_cache_above); did you mean "
     "\"queue_above\"?"},
    {"SaturationNotAMapping", DEGRADE_TO("small", "saturation: 0.9"), 10, 19,
     "routes[0].degrade.saturation", "expected a mapping (found \"0.9\")"},
    {"MaxPredictedWaitZero", DEGRADE("max_predicted_wait: 0s"), 10, 27,
     "routes[0].degrade.max_predicted_wait", "must be greater than 0 (found \"0s\")"},
    {"RecoverAfterNegative", DEGRADE("recover_after: -1s"), 10, 22,
     "routes[0].degrade.recover_after", "\"-1s\" is not a duration"},
    {"UnknownKey", DEGRADE("recover_afer: 1s"), 10, 7, "routes[0].degrade.recover_afer",
     "unknown key \"recover_afer\" (allowed: on, saturation, max_predicted_wait, recover_after); "
     "did you mean \"recover_after\"?"},
    {"OnEmptyList", DEGRADE("on: []"), 10, 11, "routes[0].degrade.on",
     "empty list (omit on for the default triggers)"},
    {"NotAMapping", ROUTE("    fallbacks: [{static: busy}]\n    degrade: yes\n"), 9, 14,
     "routes[0].degrade", "expected a mapping (found \"yes\")"},
    {"WithoutFallbacks", ROUTE("    degrade: {recover_after: 5s}\n"), 8, 14, "routes[0].degrade",
     kNeedsFallbacks},
    {"EmptyWithoutFallbacks", ROUTE("    degrade:\n"), 8, 5, "routes[0].degrade", kNeedsFallbacks},
};
INSTANTIATE_TEST_SUITE_P(Degrade, IsolationErrorTest, ::testing::ValuesIn(kDegradeCases), CaseName);

#undef DEGRADE
#undef DEGRADE_TO
#undef FALLBACKS
#undef ROUTE
#undef ROUTE_TO

// Listener "l" whose require_api_key value is at line 4, column 22.
#define REQUIRE_KEY(value, rest) \
  "listeners:\n  - name: l\n    listen: \":0\"\n    require_api_key: " value "\n" L2 L3 rest
constexpr char kNoTenantKeys[] =
    "no tenant has api_keys_sha256, so every request would get 401 (add tenants with "
    "api_keys_sha256, or set require_api_key: false)";

const ErrorCase kListenerCases[] = {
    {"RequireApiKeyWithoutTenants", REQUIRE_KEY("true", ""), 4, 22, "listeners[0].require_api_key",
     kNoTenantKeys},
    {"RequireApiKeyWithTenantsWithoutKeys", REQUIRE_KEY("True", "tenants: [{name: t}]\n"), 4, 22,
     "listeners[0].require_api_key", kNoTenantKeys},
    // The bad hash is reported, and the listener is left with no valid key.
    {"RequireApiKeyWithAnInvalidKey",
     REQUIRE_KEY("true", "tenants: [{name: t, api_keys_sha256: abc}]\n"), 4, 22,
     "listeners[0].require_api_key", kNoTenantKeys, 2},
    {"RequireApiKeyNotABool", REQUIRE_KEY("yes", ""), 4, 22, "listeners[0].require_api_key",
     "expected true or false (found \"yes\")"},
    {"RequireApiKeyOnTwoListeners",
     "listeners:\n  - {name: a, listen: \":0\", require_api_key: true}\n"
     "  - {name: b, listen: \":0\", require_api_key: true}\n" L2 L3,
     3, 46, "listeners[1].require_api_key", kNoTenantKeys, 2},
};
INSTANTIATE_TEST_SUITE_P(Listeners, IsolationErrorTest, ::testing::ValuesIn(kListenerCases),
                         CaseName);

#undef REQUIRE_KEY
#undef L3
#undef L2
#undef L1

TEST(IsolationErrors, FullMessageOfABadKeyHash) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
tenants:
  - name: acme
    api_keys_sha256: sk-live-1234
routes: [{name: r, to: p}]
)"));
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  EXPECT_EQ(errors[0].ToString(),
            "test.yaml:5:22: tenants[0].api_keys_sha256: expected the SHA-256 of an API key as 64 "
            "hex digits (found 12 characters; compute it with: printf %s \"$KEY\" | sha256sum)");
}

TEST(IsolationErrors, TheSecondTenantWithAKeyIsReportedWithTheFirstsLine) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
tenants:
  - name: acme
    api_keys_sha256:
      - )" HASH_B R"(
      - )" HASH_A R"(
  - name: globex
    api_keys_sha256: )" HASH_A_UPPER R"(
routes: [{name: r, to: p}]
)"));
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  EXPECT_EQ(errors[0].ToString(),
            "test.yaml:9:22: tenants[1].api_keys_sha256: this key hash is already listed at line 7 "
            "(a key identifies one tenant)");
}

TEST(IsolationErrors, RunnerOnACompartmentWithoutThreads) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
compartments: [{name: web}]
runners: [{name: tiny, compartment: web}]
routes: [{name: r, to: p, fallbacks: [{runner: tiny}]}]
)"));
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  EXPECT_EQ(errors[0].ToString(),
            "test.yaml:4:37: runners[0].compartment: compartment \"web\" has no thread_pool: a "
            "runner burns CPU and must not run on the event loop (add thread_pool: {threads: N} "
            "to the compartment)");
}

TEST(IsolationErrors, FallbackToARunnerWithoutRunners) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0"}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
routes: [{name: r, to: p, fallbacks: [{runner: tiny}]}]
)"));
  ASSERT_EQ(errors.size(), 1u) << Describe(errors);
  EXPECT_EQ(errors[0].ToString(),
            "test.yaml:3:48: routes[0].fallbacks[0].runner: unknown runner \"tiny\" (no runners "
            "are defined)");
}

TEST(IsolationErrors, AllAreReportedInDocumentOrder) {
  std::vector<ConfigError> errors = Errors(Yaml(R"(
listeners: [{name: l, listen: ":0", require_api_key: true}]
pools: [{name: p, backends: [http://127.0.0.1:1]}]
compartments:
  - {name: c, max_concurrent: 0, on_full: spill}
tiers:
  - {name: gold, reserve_percent: 5}
  - {name: free, reserve_percent: 100}
tenant_identification: {header: "a b", anonymous_tier: bronze}
tenants:
  - {name: t, api_keys_sha256: xyz}
runners:
  - {name: x, compartment: c, kind: onnx}
routes:
  - name: r
    to: p
    compartment: d
    fallbacks: [{pool: q}, {static: a}, {static: b}]
    degrade: {on: [saturation], recover_after: never}
)"));
  const std::vector<std::string> paths = {"listeners[0].require_api_key",
                                          "compartments[0].max_concurrent",
                                          "compartments[0].on_full",
                                          "tiers[0].reserve_percent",
                                          "tiers[1].reserve_percent",
                                          "tenant_identification.header",
                                          "tenant_identification.anonymous_tier",
                                          "tenants[0]",
                                          "tenants[0].api_keys_sha256",
                                          "runners[0].compartment",
                                          "runners[0].kind",
                                          "routes[0].compartment",
                                          "routes[0].fallbacks[0].pool",
                                          "routes[0].fallbacks[2]",
                                          "routes[0].degrade.on[0]",
                                          "routes[0].degrade.recover_after"};
  ASSERT_EQ(errors.size(), paths.size()) << Describe(errors);
  for (size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i].path, paths[i]) << i;
}

#undef HASH_C
#undef HASH_B
#undef HASH_A_UPPER
#undef HASH_A

}  // namespace
}  // namespace infergate::config
