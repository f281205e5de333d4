// Integration: token accounting end to end on the real binaries. The mock reports usage
// (prompt_tokens = its received body's size / 4 + 1, completion_tokens = --tokens); the
// gateway's GenAI histograms must add up to exactly what the mock reported, whether the answer
// was JSON, a stream whose client asked for usage, or a stream whose usage the gateway asked
// for (and removed from what the client got). Then /metrics after mixed traffic (errors and a
// degraded answer included) must pass `promtool check metrics`.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "support/gateway.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kTokens = 4;

std::string Yaml(const std::string& mock, const std::string& dead = "") {
  std::string y =
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
      "admin:\n  listen: 127.0.0.1:0\n"
      "pools:\n" +
      PoolYaml("main", {mock});
  if (!dead.empty()) y += PoolYaml("gone", {dead}, "    health_check: false\n");
  y += "routes:\n"
       "  - name: chat\n    match: {path_prefix: /v1/, model: [mock-model]}\n    to: main\n";
  if (!dead.empty()) {
    y += "  - name: down\n    match: {path_prefix: /v1/, model: [down-model]}\n    to: gone\n"
         "    retries: 0\n    fallbacks: [{static: \"sorry, later\"}]\n"
         "    degrade: {on: [retries_exhausted, no_backend]}\n";
  }
  return y;
}

const std::string kLabels =
    "gen_ai_operation_name=\"chat\",gen_ai_request_model=\"mock-model\","
    "gen_ai_response_model=\"mock-model\",route=\"chat\"";

std::string TokenLabels(const char* type) {
  return kLabels + ",gen_ai_token_type=\"" + type + "\"";
}

// The usage event a client got, if any.
std::optional<std::string> UsageEvent(const HttpResponse& r) {
  for (const SseEvent& e : r.Events()) {
    if (e.data != "[DONE]" && JsonHas(e.data, "/usage") && !JsonIsNull(e.data, "/usage"))
      return e.data;
  }
  return std::nullopt;
}

TEST(GenAiMetrics, TokenHistogramsAddUpToTheMocksUsage) {
  auto mock = MockServer::Start({"--model", "mock-model", "--tokens", std::to_string(kTokens)});
  ASSERT_TRUE(mock);
  std::string why;
  auto gw = Gateway::Start(Yaml(mock->address()), {"--workers", "1"}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  int64_t input_sum = 0;

  // 1. A JSON answer: its usage as the client saw it.
  HttpResponse json = c.Post("/v1/chat/completions", ChatBody("mock-model"));
  ASSERT_EQ(json.status, 200) << json.body;
  auto p1 = JsonInt(json.body, "/usage/prompt_tokens");
  ASSERT_TRUE(p1) << json.body;
  EXPECT_EQ(JsonInt(json.body, "/usage/completion_tokens"), kTokens);
  input_sum += *p1;

  // 2. A stream whose client asked for usage: it gets the usage event, the body goes as sent.
  const std::string asked = ChatBody("mock-model", true, true, "tell me more");
  HttpResponse s1 = c.Post("/v1/chat/completions", asked);
  ASSERT_EQ(s1.status, 200);
  auto usage = UsageEvent(s1);
  ASSERT_TRUE(usage) << s1.body;
  auto p2 = JsonInt(*usage, "/usage/prompt_tokens");
  ASSERT_TRUE(p2);
  EXPECT_EQ(*p2, static_cast<int64_t>(asked.size() / 4 + 1)) << "the body reached the mock as sent";
  EXPECT_EQ(JsonInt(*usage, "/usage/completion_tokens"), kTokens);
  input_sum += *p2;

  // 3. A stream whose client did not ask: the gateway asked for it and took the event out.
  const std::string plain = ChatBody("mock-model", true, false, "and then?");
  HttpResponse s2 = c.Post("/v1/chat/completions", plain);
  ASSERT_EQ(s2.status, 200);
  EXPECT_FALSE(UsageEvent(s2)) << s2.body;
  ASSERT_FALSE(s2.Events().empty());
  EXPECT_EQ(s2.Events().back().data, "[DONE]");
  int content_events = 0;
  for (const SseEvent& e : s2.Events()) {
    if (e.data != "[DONE]") ++content_events;
  }
  EXPECT_EQ(content_events, kTokens);
  auto stats = mock->Stats();
  ASSERT_TRUE(stats && stats->last_request);
  const std::string& sent = stats->last_request->body;
  EXPECT_EQ(JsonBool(sent, "/stream_options/include_usage"), true) << sent;
  EXPECT_EQ(sent.size(),
            plain.size() + std::string(R"("stream_options":{"include_usage":true},)").size());
  input_sum += static_cast<int64_t>(sent.size() / 4 + 1);

  // The histograms: three answers, every token the mock reported.
  ASSERT_EQ(gw->WaitForMetric("gen_ai_client_token_usage_count", TokenLabels("input"), 3), 3)
      << gw->Metrics();
  EXPECT_EQ(gw->Metric("gen_ai_client_token_usage_sum", TokenLabels("input")),
            static_cast<double>(input_sum));
  EXPECT_EQ(gw->Metric("gen_ai_client_token_usage_count", TokenLabels("output")), 3);
  EXPECT_EQ(gw->Metric("gen_ai_client_token_usage_sum", TokenLabels("output")), 3 * kTokens);
  EXPECT_EQ(gw->Metric("gen_ai_server_request_duration_seconds_count", kLabels), 3);
  // Time to first token and per output token: the two streams only.
  EXPECT_EQ(gw->Metric("gen_ai_server_time_to_first_token_seconds_count", kLabels), 2);
  EXPECT_EQ(gw->Metric("gen_ai_server_time_per_output_token_seconds_count", kLabels), 2);
  const std::string text = gw->Metrics();
  EXPECT_NE(
      text.find("gen_ai_server_time_to_first_token_seconds_bucket{" + kLabels + ",le=\"0.001\"}"),
      std::string::npos)
      << "the conventions' buckets";
}

// promtool, as `promtool check metrics` reads the exposition on stdin.
struct Promtool {
  int status = -1;
  std::string output;
};

Promtool CheckMetrics(const std::string& text) {
  TempFile file(text, ".prom");
  auto p = Process::Start({"sh", "-c", "promtool check metrics < " + file.path() + " 2>&1"});
  Promtool r;
  if (!p) return r;
  auto status = p->Wait(30s);
  r.status = status.value_or(-1);
  r.output = p->Output();
  return r;
}

TEST(GenAiMetrics, MetricsPassPromtoolAfterMixedTraffic) {
  auto mock = MockServer::Start({"--model", "mock-model", "--tokens", "3"});
  ASSERT_TRUE(mock);
  std::string why;
  auto gw = Gateway::Start(Yaml(mock->address(), "127.0.0.1:" + std::to_string(RefusingPort())),
                           {"--workers", "2"}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  EXPECT_EQ(c.Post("/v1/chat/completions", ChatBody("mock-model")).status, 200);
  EXPECT_EQ(c.Post("/v1/chat/completions", ChatBody("mock-model", true)).status, 200);
  EXPECT_EQ(c.Post("/v1/completions", CompletionBody("mock-model", true)).status, 200);
  EXPECT_EQ(
      c.Post("/v1/chat/completions", ChatBody("mock-model"), {{"x-mock-status", "500"}}).status,
      500);
  EXPECT_EQ(c.Post("/v1/chat/completions", ChatBody("no-such-model")).status, 404);
  EXPECT_EQ(c.Get("/nowhere").status, 404);
  HttpResponse degraded = c.Post("/v1/chat/completions", ChatBody("down-model", true));
  EXPECT_EQ(degraded.status, 200);
  EXPECT_FALSE(degraded.Header("x-infergate-degraded").empty());
  ASSERT_TRUE(gw->WaitForMetric("gen_ai_client_token_usage_count",
                                "gen_ai_operation_name=\"text_completion\","
                                "gen_ai_request_model=\"mock-model\",gen_ai_response_model="
                                "\"mock-model\",route=\"chat\",gen_ai_token_type=\"output\"",
                                1));

  const std::string text = gw->Metrics();
  // The process and build series, and this connection on its listener.
  for (const char* name : {"process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                           "process_resident_memory_bytes", "process_virtual_memory_bytes",
                           "process_start_time_seconds"}) {
    auto v = gw->Metric(name);
    ASSERT_TRUE(v) << name;
    EXPECT_GT(*v, 0) << name;
  }
  EXPECT_NE(text.find("infergate_build_info{version=\""), std::string::npos);
  EXPECT_EQ(gw->Metric("infergate_listener_connections", "listener=\"public\""), 1);
  EXPECT_GT(gw->Metric("infergate_listener_max_connections", "listener=\"public\"").value_or(0), 0);

  Promtool check = CheckMetrics(text);
  EXPECT_EQ(check.status, 0) << "promtool check metrics:\n" << check.output;
  EXPECT_EQ(check.output, "") << check.output;
}

}  // namespace
}  // namespace infergate::testing
