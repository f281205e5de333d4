// Integration: isolation and degradation end to end on the real binaries - a killed primary
// served by its fallback, saturation reported through the mock's gauges, tier reservation under
// a free-tier flood, compartments isolating two models, a busy CPU thread pool, static answers as
// the OpenAI SDKs parse them, and the 503 when every fallback is down.
#include <signal.h>

#include <gtest/gtest.h>

#include <cstdio>

#include "integration/failure_containment_util.h"
#include "support/openai_sdk.h"

namespace infergate::testing::containment {
namespace {

// sha256("paid-key") and sha256("free-key"), as `printf %s KEY | sha256sum` prints them.
constexpr const char* kPaidKeyHash =
    "23f541ed79d6e0357ea3108e8a985a73296c8979b78f5eafe8b722ff8add1204";
constexpr const char* kFreeKeyHash =
    "0c7e232ca6aa55ab05a0287b1c4198c7b4275500bce25c40b5a6aa7d564d3c45";

std::string Listeners(const std::string& listener_extra = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n" + listener_extra +
         "admin:\n  listen: 127.0.0.1:0\n";
}

std::unique_ptr<MockServer> StartModelMock(const std::string& id, const std::string& model,
                                           const std::string& listen = "",
                                           std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--id", id, "--model", model, "--tokens", "4"};
  if (!listen.empty()) {
    args.push_back("--listen");
    args.push_back(listen);
  }
  for (auto& e : extra) args.push_back(std::move(e));
  return MockServer::Start(args);
}

// An address where nothing listens: a mock's, after it stopped.
std::string DeadAddress() {
  auto m = StartModelMock("gone", "gone");
  if (!m) return "127.0.0.1:1";
  std::string address = m->address();
  m->Stop();
  return address;
}

std::unique_ptr<Gateway> StartGateway(const std::string& yaml, const std::string& workers = "2") {
  std::string why;
  auto gw = Gateway::Start(yaml, {"--workers", workers}, &why);
  EXPECT_TRUE(gw) << why << "\n" << yaml;
  return gw;
}

HttpResponse Chat(uint16_t port, const std::string& model, bool stream = false,
                  const Headers& headers = {}) {
  HttpClient c(port);
  return c.Post("/v1/chat/completions", ChatBody(model, stream), headers, 10000ms);
}

int64_t Degraded(const Tally& t, const std::string& server) {
  int64_t n = 0;
  auto it = t.by_degraded.find(server);
  if (it == t.by_degraded.end()) return 0;
  for (const auto& [header, count] : it->second) {
    if (!header.empty()) n += count;
  }
  return n;
}

std::string FallbackPoolsYaml(const std::string& big, const std::string& small,
                              const std::string& big_extra = "") {
  return "pools:\n"
         "  - name: big\n"
         "    health_check: {interval: 100ms}\n" +
         big_extra + "    backends: [http://" + big +
         "]\n"
         "  - name: small\n"
         "    backends: [http://" +
         small + "]\n";
}

// Test 1: the primary pool's only backend is killed under load. Every request is answered:
// before the kill by the primary, after it by the fallback pool (model rewritten), marked with
// x-infergate-degraded. When the primary comes back, traffic returns to it by itself.
TEST(Degradation, KilledPrimaryIsServedByFallbackPoolAndTrafficReturns) {
  auto big = StartModelMock("big", "llama-70b");
  auto small = StartModelMock("small", "llama-8b");
  ASSERT_TRUE(big && small);
  const std::string big_address = big->address();
  // The killed backend is ejected after consecutive connect failures; a short ejection keeps the
  // test short (it returns when its ejection ends and its probes pass).
  auto gw = StartGateway(Listeners() +
                         FallbackPoolsYaml(big_address, small->address(),
                                           "    outlier_ejection: {base_ejection_time: 1s}\n") +
                         "routes:\n"
                         "  - name: chat\n"
                         "    match: {model: llama-70b}\n"
                         "    to: big\n"
                         "    fallbacks:\n"
                         "      - {pool: small, rewrite_model: llama-8b}\n"
                         "    degrade: {recover_after: 1s}\n");
  ASSERT_TRUE(gw);

  Load::Options options = Load::With(4, 2ms, 10s, 1500);
  options.model = "llama-70b";
  Load load(gw->port(), options);
  ASSERT_TRUE(WaitUntil([&] { return load.sent() >= 200; }, 5s));
  big->process().Signal(SIGKILL);
  const int64_t at_kill = load.sent();
  ASSERT_TRUE(WaitUntil([&] { return load.sent() >= at_kill + 600; }, 8s));
  Tally t = load.StopAndResult();
  std::printf("[ degradation 1 ] %s\n", t.Summary().c_str());
  EXPECT_EQ(t.Status(200), t.sent) << t.Summary();
  EXPECT_GT(t.Server("big"), 0);
  EXPECT_GT(t.Server("small"), 300);
  EXPECT_EQ(Degraded(t, "big"), 0) << "primary answers are not marked";
  EXPECT_EQ(Degraded(t, "small"), t.Server("small")) << "every fallback answer is marked";
  const double degraded =
      MetricOr0(*gw, "infergate_degraded_total",
                "route=\"chat\",trigger=\"no_backend\",fallback=\"small\"") +
      MetricOr0(*gw, "infergate_degraded_total",
                "route=\"chat\",trigger=\"retries_exhausted\",fallback=\"small\"");
  EXPECT_EQ(degraded, static_cast<double>(t.Server("small")));
  auto mark = Chat(gw->port(), "llama-70b");
  ASSERT_EQ(mark.status, 200);
  EXPECT_NE(mark.Header("x-infergate-degraded").find("; served-by=small"), std::string::npos)
      << mark.Header("x-infergate-degraded");

  // The primary returns on its old port. Its breaker half-opens, probes pass, the condition
  // stays clear for recover_after: requests go back to it by themselves, and then stay there.
  auto back = StartModelMock("big", "llama-70b", big_address);
  ASSERT_TRUE(back);
  const auto restarted = Clock::now();
  double first_ms = -1;
  int consecutive = 0;
  Tally after;
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto r = Chat(gw->port(), "llama-70b");
        Record(after, r);
        const bool primary =
            r.Header("x-mock-server") == "big" && r.Header("x-infergate-degraded").empty();
        if (primary && first_ms < 0) first_ms = MillisSince(restarted);
        consecutive = primary ? consecutive + 1 : 0;
        return consecutive >= 50;
      },
      20s, 5ms))
      << after.Summary();
  std::printf(
      "[ degradation 1 ] primary back: first answer %.0f ms, 50 in a row %.0f ms after "
      "its restart; %s\n",
      first_ms, MillisSince(restarted), after.Summary().c_str());
  EXPECT_EQ(after.Status(200), after.sent) << after.Summary();
}

// Test 2: the backend reports a long queue through its /metrics (the mock's steerable gauges):
// requests go to the fallback before the backend fails anything, and return when the queue
// drains.
TEST(Degradation, ReportedSaturationDegradesBeforeAnyError) {
  auto big = StartModelMock("big", "llama-70b");
  auto small = StartModelMock("small", "llama-8b");
  ASSERT_TRUE(big && small);
  auto gw = StartGateway(
      Listeners() +
      FallbackPoolsYaml(big->address(), small->address(),
                        "    load_report: {format: vllm, interval: 100ms, timeout: 100ms}\n") +
      "routes:\n"
      "  - name: chat\n"
      "    match: {model: llama-70b}\n"
      "    to: big\n"
      "    fallbacks:\n"
      "      - {pool: small, rewrite_model: llama-8b}\n"
      "    degrade: {saturation: {queue_above: 8}, recover_after: 300ms}\n");
  ASSERT_TRUE(gw);
  auto first = Chat(gw->port(), "llama-70b");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.Header("x-mock-server"), "big");
  EXPECT_EQ(first.Header("x-infergate-degraded"), "");

  ASSERT_TRUE(big->SetGauges(R"({"waiting": 30, "running": 4})"));
  Tally t;
  bool degraded = false;
  WaitUntil(
      [&] {
        auto r = Chat(gw->port(), "llama-70b");
        Record(t, r);
        degraded = r.Header("x-infergate-degraded") == "saturation; served-by=small";
        return degraded;
      },
      5s, 10ms);
  EXPECT_TRUE(degraded) << t.Summary();
  EXPECT_EQ(t.Status(200), t.sent) << "no error on the way: " << t.Summary();
  EXPECT_GE(MetricOr0(*gw, "infergate_backend_reported_queue",
                      "pool=\"big\",backend=\"" + big->address() + "\""),
            30);

  // The queue drains: the primary takes traffic again.
  ASSERT_TRUE(big->SetGauges(R"({"waiting": 0, "running": 1})"));
  EXPECT_TRUE(WaitUntil(
      [&] { return Chat(gw->port(), "llama-70b").Header("x-mock-server") == "big"; }, 5s, 20ms));
}

std::string TenantsYaml() {
  return std::string(
             "tiers:\n"
             "  - name: paid\n"
             "  - name: free\n"
             "    reserve_percent: 50\n"
             "tenants:\n"
             "  - {name: acme, tier: paid, api_keys_sha256: [") +
         kPaidKeyHash +
         "]}\n"
         "  - {name: hobby, tier: free, api_keys_sha256: [" +
         kFreeKeyHash + "]}\n";
}

// Test 3: a free-tier flood while the paid tier sends steady traffic, both through one
// compartment. The free tier may use only half of it; the paid tier's success rate stays 100%.
TEST(Isolation, FreeTierFloodDoesNotStarvePaidTier) {
  auto mock = StartModelMock("main", "mock-model");
  ASSERT_TRUE(mock);
  auto gw = StartGateway(Listeners() + TenantsYaml() +
                         "compartments:\n"
                         "  - {name: shared, max_concurrent: 8, max_queue: 8, max_wait: 200ms, "
                         "retry_after: 2s}\n"
                         "pools:\n  - name: main\n    backends: [http://" +
                         mock->address() +
                         "]\n"
                         "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n"
                         "    compartment: shared\n");
  ASSERT_TRUE(gw);
  const Headers slow = {{"x-mock-ttft-ms", "40"}};
  Headers free_headers = slow;
  free_headers.push_back({"Authorization", "Bearer free-key"});
  Headers paid_headers = slow;
  paid_headers.push_back({"Authorization", "Bearer paid-key"});
  Load flood(gw->port(), Load::With(24, 1ms, 4s, 3000, free_headers));
  ASSERT_TRUE(WaitUntil([&] { return flood.sent() >= 50; }, 5s));
  Load paid(gw->port(), Load::With(3, 10ms, 3s, 100000, paid_headers));
  Tally p = paid.Result();
  Tally f = flood.StopAndResult();
  std::printf("[ isolation 3 ] paid: %s\n[ isolation 3 ] free: %s\n", p.Summary().c_str(),
              f.Summary().c_str());
  EXPECT_GT(p.sent, 30);
  EXPECT_EQ(p.Status(200), p.sent) << p.Summary();
  EXPECT_GT(f.Status(429), 0) << "the flood was shed: " << f.Summary();
  EXPECT_EQ(f.retry_after, f.Status(429)) << "every 429 carries Retry-After";
  EXPECT_GT(MetricOr0(*gw, "infergate_compartment_rejected_total",
                      "compartment=\"shared\",tier=\"free\",reason=\"full\"") +
                MetricOr0(*gw, "infergate_compartment_rejected_total",
                          "compartment=\"shared\",tier=\"free\",reason=\"queue_timeout\"") +
                MetricOr0(*gw, "infergate_compartment_rejected_total",
                          "compartment=\"shared\",tier=\"free\",reason=\"evicted\""),
            0);
  EXPECT_EQ(MetricOr0(*gw, "infergate_compartment_rejected_total",
                      "compartment=\"shared\",tier=\"paid\",reason=\"full\""),
            0);
  EXPECT_GT(MetricOr0(*gw, "infergate_tenant_requests_total", "tenant=\"acme\""), 0);
}

// Test 4: two models behind one backend, each in its own compartment. The first is flooded past
// its compartment; the second's success rate stays 100%.
TEST(Isolation, FloodedModelCompartmentDoesNotAffectSecondModel) {
  auto mock = StartModelMock("main", "model-a", "", {"--model", "model-b"});
  ASSERT_TRUE(mock);
  auto gw = StartGateway(Listeners() +
                         "compartments:\n"
                         "  - {name: a, max_concurrent: 4}\n"
                         "  - {name: b, max_concurrent: 4}\n"
                         "pools:\n  - name: main\n    backends: [http://" +
                         mock->address() +
                         "]\n"
                         "routes:\n"
                         "  - {name: a, match: {model: model-a}, to: main, compartment: a}\n"
                         "  - {name: b, match: {model: model-b}, to: main, compartment: b}\n");
  ASSERT_TRUE(gw);
  const Headers slow = {{"x-mock-ttft-ms", "40"}};
  Load::Options flood_options = Load::With(24, 1ms, 4s, 3000, slow);
  flood_options.model = "model-a";
  Load flood(gw->port(), flood_options);
  ASSERT_TRUE(WaitUntil([&] { return flood.sent() >= 50; }, 5s));
  Load::Options steady_options = Load::With(3, 10ms, 3s, 100000, slow);
  steady_options.model = "model-b";
  Load steady(gw->port(), steady_options);
  Tally b = steady.Result();
  Tally a = flood.StopAndResult();
  std::printf("[ isolation 4 ] model-b: %s\n[ isolation 4 ] model-a: %s\n", b.Summary().c_str(),
              a.Summary().c_str());
  EXPECT_GT(b.sent, 30);
  EXPECT_EQ(b.Status(200), b.sent) << b.Summary();
  EXPECT_GT(a.Status(429), 0) << a.Summary();
  auto it = a.by_code.find("rate_limit_exceeded");
  EXPECT_TRUE(it != a.by_code.end() && it->second == a.Status(429)) << a.Summary();
}

// Test 5: a CPU-heavy runner keeps its compartment's one thread busy; the plain proxy path on
// the event-loop threads keeps answering meanwhile.
TEST(Isolation, BusyCpuThreadPoolDoesNotStallProxyPath) {
  auto mock = StartModelMock("main", "mock-model");
  ASSERT_TRUE(mock);
  auto gw = StartGateway(Listeners() +
                         "compartments:\n"
                         "  - {name: cpu, max_concurrent: 64, thread_pool: {threads: 1, queue: "
                         "64}}\n"
                         "runners:\n"
                         "  - {name: heavy, compartment: cpu, tokens: 10, token_cost: 20ms}\n"
                         "pools:\n"
                         "  - name: main\n    backends: [http://" +
                         mock->address() +
                         "]\n"
                         "  - name: gone\n    backends: [http://" +
                         DeadAddress() +
                         "]\n"
                         "routes:\n"
                         "  - name: heavy\n    match: {model: heavy}\n    to: gone\n"
                         "    retries: 0\n    fallbacks: [{runner: heavy}]\n"
                         "  - {name: chat, match: {model: mock-model}, to: main}\n");
  ASSERT_TRUE(gw);
  Load::Options heavy_options = Load::With(6, 0ms, 20s, 4);
  heavy_options.model = "heavy";
  heavy_options.request_timeout = 30000ms;
  Load heavy(gw->port(), heavy_options);
  // Wait until the thread is busy and jobs queue behind it.
  ASSERT_TRUE(WaitUntil(
      [&] { return MetricOr0(*gw, "infergate_compartment_in_flight", "compartment=\"cpu\"") >= 3; },
      5s));
  Tally plain;
  int answered_while_busy = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = Chat(gw->port(), "mock-model");
    Record(plain, r);
    if (r.status == 200 &&
        MetricOr0(*gw, "infergate_compartment_in_flight", "compartment=\"cpu\"") >= 1)
      ++answered_while_busy;
  }
  Tally h = heavy.Result();
  std::printf(
      "[ isolation 5 ] plain: %s; answered while the pool was busy: %d\n[ isolation 5 ] "
      "heavy: %s\n",
      plain.Summary().c_str(), answered_while_busy, h.Summary().c_str());
  EXPECT_EQ(plain.Status(200), 100) << plain.Summary();
  EXPECT_GE(answered_while_busy, 90);
  EXPECT_EQ(h.Status(200), h.sent) << h.Summary();
  EXPECT_EQ(Degraded(h, ""), h.sent);
}

// Test 6: a static fallback, streamed and not, parsed the way the OpenAI SDKs parse responses.
TEST(Degradation, StaticFallbackParsesAsOpenAiSdksDo) {
  const std::string text = "The large model is busy. \"Please\" retry\nshortly.";
  auto gw =
      StartGateway(Listeners() + "pools:\n  - name: gone\n    backends: [http://" + DeadAddress() +
                   "]\n"
                   "routes:\n"
                   "  - name: chat\n    match: {model: llama-70b}\n    to: gone\n"
                   "    retries: 0\n"
                   "    fallbacks:\n      - static: \"The large model is busy. \\\"Please\\\" "
                   "retry\\nshortly.\"\n");
  ASSERT_TRUE(gw);
  auto plain = Chat(gw->port(), "llama-70b");
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_NE(plain.Header("x-infergate-degraded").find("; served-by=static"), std::string::npos);
  EXPECT_EQ(plain.Header("content-type"), "application/json");
  std::string error;
  auto completion = ParseChatCompletion(plain.body, &error);
  ASSERT_TRUE(completion) << error << "\n" << plain.body;
  EXPECT_EQ(completion->content, text);
  EXPECT_EQ(completion->model, "llama-70b");
  EXPECT_EQ(completion->finish_reason, "stop");

  auto streamed = Chat(gw->port(), "llama-70b", /*stream=*/true);
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_TRUE(streamed.complete);
  EXPECT_EQ(streamed.Header("content-type"), "text/event-stream");
  EXPECT_NE(streamed.Header("x-infergate-degraded").find("; served-by=static"), std::string::npos);
  auto stream = ParseChatStream(streamed.body, &error);
  ASSERT_TRUE(stream) << error << "\n" << streamed.body;
  EXPECT_TRUE(stream->done);
  EXPECT_EQ(stream->content, text);
  EXPECT_EQ(stream->model, "llama-70b");
  EXPECT_EQ(stream->finish_reason, "stop");
  EXPECT_GT(stream->chunks, 3u);
}

// Test 7: the primary and every fallback down: a 503 in the OpenAI shape naming the reason.
TEST(Degradation, EveryFallbackDownGives503WithTheReason) {
  auto gw = StartGateway(Listeners() +
                         "compartments:\n  - {name: cpu, max_concurrent: 1, thread_pool: "
                         "{threads: 1, queue: 0}}\n"
                         "runners:\n  - {name: tiny, compartment: cpu, tokens: 2}\n"
                         "pools:\n"
                         "  - name: big\n    backends: [http://" +
                         DeadAddress() +
                         "]\n"
                         "  - name: small\n    backends: [http://" +
                         DeadAddress() +
                         "]\n"
                         "routes:\n"
                         "  - name: chat\n    match: {model: llama-70b}\n    to: big\n"
                         "    retries: 0\n"
                         "    fallbacks: [{pool: small, rewrite_model: llama-8b}]\n");
  ASSERT_TRUE(gw);
  auto r = Chat(gw->port(), "llama-70b");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(r.Header("x-request-id").empty());
  EXPECT_EQ(r.Header("x-infergate-degraded"), "");
  EXPECT_EQ(JsonString(r.body, "/error/code").value_or(""), "fallbacks_failed") << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/type").value_or(""), "server_error") << r.body;
  const std::string message = JsonString(r.body, "/error/message").value_or("");
  EXPECT_NE(message.find("route chat is degraded"), std::string::npos) << message;
  EXPECT_NE(message.find("fallback small:"), std::string::npos) << message;
  EXPECT_GE(
      MetricOr0(*gw, "infergate_degrade_failed_total") +
          MetricOr0(*gw, "infergate_degrade_failed_total",
                    "route=\"chat\",trigger=\"retries_exhausted\"") +
          MetricOr0(*gw, "infergate_degrade_failed_total", "route=\"chat\",trigger=\"no_backend\""),
      1);
}

// A backend that does not start answering within timeouts.first_byte: the request is answered by
// the fallback (trigger first_byte_timeout) instead of a 504.
TEST(Degradation, FirstByteTimeoutIsServedByFallback) {
  auto big = StartModelMock("big", "llama-70b");
  ASSERT_TRUE(big);
  auto gw =
      StartGateway(Listeners() + "pools:\n  - name: big\n    backends: [http://" + big->address() +
                   "]\n"
                   "routes:\n"
                   "  - name: chat\n    match: {model: llama-70b}\n    to: big\n"
                   "    retries: 0\n    timeouts: {first_byte: 200ms}\n"
                   "    fallbacks: [{static: busy}]\n");
  ASSERT_TRUE(gw);
  auto fast = Chat(gw->port(), "llama-70b");
  EXPECT_EQ(fast.status, 200);
  EXPECT_EQ(fast.Header("x-mock-server"), "big");
  auto slow = Chat(gw->port(), "llama-70b", false, {{"x-mock-ttft-ms", "3000"}});
  EXPECT_EQ(slow.status, 200) << slow.body;
  EXPECT_EQ(slow.Header("x-infergate-degraded"), "first_byte_timeout; served-by=static");
  std::string error;
  auto completion = ParseChatCompletion(slow.body, &error);
  ASSERT_TRUE(completion) << error;
  EXPECT_EQ(completion->content, "busy");
}

// predicted_wait: a request that would wait in the route's compartment queue longer than the
// route's budget (requests ahead x recent service time / slots) goes to the fallback at once
// instead of queueing.
TEST(Degradation, PredictedQueueWaitOverBudgetIsServedByFallback) {
  auto big = StartModelMock("big", "llama-70b");
  ASSERT_TRUE(big);
  auto gw = StartGateway(Listeners() +
                             "compartments:\n  - {name: one, max_concurrent: 1, max_queue: 8, "
                             "max_wait: 10s}\n"
                             "pools:\n  - name: big\n    backends: [http://" +
                             big->address() +
                             "]\n"
                             "routes:\n"
                             "  - name: chat\n    match: {model: llama-70b}\n    to: big\n"
                             "    compartment: one\n"
                             "    fallbacks: [{static: later}]\n"
                             "    degrade: {max_predicted_wait: 100ms}\n",
                         "1");
  ASSERT_TRUE(gw);
  const Headers slow = {{"x-mock-ttft-ms", "400"}};
  // One answer teaches the route its service time (about 400 ms).
  auto warm = Chat(gw->port(), "llama-70b", false, slow);
  ASSERT_EQ(warm.status, 200);
  EXPECT_EQ(warm.Header("x-infergate-degraded"), "");
  // One request holds the only slot; the next would wait about 400 ms > 100 ms.
  std::thread holder([&] { EXPECT_EQ(Chat(gw->port(), "llama-70b", false, slow).status, 200); });
  ASSERT_TRUE(WaitUntil(
      [&] { return MetricOr0(*gw, "infergate_compartment_in_flight", "compartment=\"one\"") == 1; },
      5s, 2ms));
  auto r = Chat(gw->port(), "llama-70b", false, slow);
  holder.join();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-infergate-degraded"), "predicted_wait; served-by=static");
  EXPECT_EQ(MetricOr0(*gw, "infergate_degraded_total",
                      "route=\"chat\",trigger=\"predicted_wait\",fallback=\"static\""),
            1);
}

// least_queue: with load reports, requests go to the backend that reports the shorter queue.
TEST(LoadAwareness, LeastQueueSendsToTheShorterReportedQueue) {
  auto a = StartModelMock("a", "mock-model");
  auto b = StartModelMock("b", "mock-model");
  ASSERT_TRUE(a && b);
  auto gw = StartGateway(Listeners() +
                         "pools:\n  - name: main\n    load_balancing: least_queue\n"
                         "    load_report: {interval: 100ms, timeout: 100ms}\n"
                         "    backends: [http://" +
                         a->address() + ", http://" + b->address() +
                         "]\n"
                         "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n");
  ASSERT_TRUE(gw);
  ASSERT_TRUE(a->SetGauges(R"({"waiting": 40, "running": 8})"));
  ASSERT_TRUE(b->SetGauges(R"({"waiting": 0, "running": 0})"));
  const std::string a_labels = "pool=\"main\",backend=\"" + a->address() + "\"";
  const std::string b_labels = "pool=\"main\",backend=\"" + b->address() + "\"";
  // Both have reported (a backend's series appears with its first report).
  ASSERT_TRUE(WaitUntil(
      [&] {
        return MetricOr0(*gw, "infergate_backend_reported_queue", a_labels) == 40 &&
               gw->Metric("infergate_backend_reported_queue", b_labels) == 0;
      },
      5s));
  Tally t;
  for (int i = 0; i < 20; ++i) Record(t, Chat(gw->port(), "mock-model"));
  EXPECT_EQ(t.Status(200), 20) << t.Summary();
  EXPECT_EQ(t.Server("b"), 20) << t.Summary();

  // The queues swap: traffic follows within a report or two.
  ASSERT_TRUE(a->SetGauges(R"({"waiting": 0, "running": 0})"));
  ASSERT_TRUE(b->SetGauges(R"({"waiting": 40, "running": 8})"));
  EXPECT_TRUE(WaitUntil(
      [&] { return Chat(gw->port(), "mock-model").Header("x-mock-server") == "a"; }, 5s, 20ms));
}

// Adaptive concurrency: when the backend's time to first byte rises far above its baseline, the
// pool's limit falls and the requests over it are shed with 503 overloaded (no fallbacks here).
TEST(LoadAwareness, AdaptiveLimitShedsWhenLatencyRises) {
  auto mock = StartModelMock("main", "mock-model");
  ASSERT_TRUE(mock);
  auto gw = StartGateway(Listeners() +
                         "pools:\n  - name: main\n"
                         "    adaptive_concurrency: {initial_limit: 20, min_limit: 2, "
                         "sample_window: 50ms}\n"
                         "    backends: [http://" +
                         mock->address() +
                         "]\n"
                         "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main, "
                         "retries: 0}\n");
  ASSERT_TRUE(gw);
  // A baseline at about 10 ms, below the initial limit.
  Load calm(gw->port(), Load::With(8, 0ms, 1500ms, 100000, {{"x-mock-ttft-ms", "10"}}));
  Tally c = calm.Result();
  EXPECT_EQ(c.Status(200), c.sent) << c.Summary();
  // The backend starts queueing: 20x the latency.
  Load slow(gw->port(), Load::With(16, 5ms, 3s, 100000, {{"x-mock-ttft-ms", "200"}}));
  Tally s = slow.Result();
  std::printf("[ adaptive ] calm: %s\n[ adaptive ] slow: %s\n", c.Summary().c_str(),
              s.Summary().c_str());
  EXPECT_GT(s.Status(503), 0) << s.Summary();
  EXPECT_GT(s.Status(200), 0) << s.Summary();
  auto it = s.by_code.find("overloaded");
  EXPECT_TRUE(it != s.by_code.end() && it->second == s.Status(503)) << s.Summary();
  EXPECT_GT(MetricOr0(*gw, "infergate_concurrency_limited_total", "pool=\"main\""), 0);
}

// A listener that requires API keys: 401 without one or with an unknown one, in the OpenAI
// shape and with WWW-Authenticate; a tenant's key passes.
TEST(Isolation, RequiredApiKeyGives401UnlessTheKeyIsKnown) {
  auto mock = StartModelMock("main", "mock-model");
  ASSERT_TRUE(mock);
  auto gw = StartGateway(Listeners("    require_api_key: true\n") + TenantsYaml() +
                         "pools:\n  - name: main\n    backends: [http://" + mock->address() +
                         "]\nroutes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n");
  ASSERT_TRUE(gw);
  auto none = Chat(gw->port(), "mock-model");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Header("www-authenticate"), "Bearer");
  EXPECT_EQ(JsonString(none.body, "/error/code").value_or(""), "invalid_api_key") << none.body;
  auto wrong = Chat(gw->port(), "mock-model", false, {{"Authorization", "Bearer wrong-key"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body.find("wrong-key"), std::string::npos) << "keys are never echoed";
  auto good = Chat(gw->port(), "mock-model", false, {{"Authorization", "Bearer paid-key"}});
  EXPECT_EQ(good.status, 200) << good.body;
  auto stats = mock->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests, 1) << "rejected requests never reach a backend";
}

}  // namespace
}  // namespace infergate::testing::containment
