// Integration tests of infergate-mock (and of the test harness itself) over loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/json.h"
#include "support/mock_server.h"
#include "support/process.h"
#include "support/test_env.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kModel = "mock-model";

std::string Tokens(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ' ';
    out += "tok" + std::to_string(i);
  }
  return out;
}

std::string RawRequest(std::string_view method, std::string_view target, std::string_view body,
                       const Headers& headers = {}) {
  std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
  for (const auto& [n, v] : headers) req += n + ": " + v + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  req += body;
  return req;
}

// The value of the first sample of `metric` in Prometheus text, or -1.
double MetricValue(const std::string& text, const std::string& metric) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
    if (line.rfind(metric, 0) == 0 && line.size() > metric.size() &&
        (line[metric.size()] == '{' || line[metric.size()] == ' ')) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return -1;
}

std::unique_ptr<MockServer> StartMock(const std::vector<std::string>& args = {}) {
  return MockServer::Start(args);
}

TEST(MockServerTest, ChatCompletionHasOpenAiShape) {
  auto mock = StartMock({"--tokens", "4", "--id", "m1"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel));
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.Header("x-mock-server"), "m1");
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(JsonString(r.body, "/object"), "chat.completion");
  EXPECT_EQ(JsonString(r.body, "/model"), kModel);
  EXPECT_TRUE(JsonString(r.body, "/id").has_value());
  EXPECT_GT(JsonInt(r.body, "/created").value_or(0), 1600000000);
  EXPECT_EQ(JsonSize(r.body, "/choices"), 1u);
  EXPECT_EQ(JsonInt(r.body, "/choices/0/index"), 0);
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/role"), "assistant");
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/content"), Tokens(4));
  EXPECT_EQ(JsonString(r.body, "/choices/0/finish_reason"), "stop");
  EXPECT_EQ(JsonInt(r.body, "/usage/completion_tokens"), 4);
  int64_t prompt = JsonInt(r.body, "/usage/prompt_tokens").value_or(-1);
  EXPECT_GT(prompt, 0);
  EXPECT_EQ(JsonInt(r.body, "/usage/total_tokens"), prompt + 4);
}

TEST(MockServerTest, TextCompletionHasOpenAiShape) {
  auto mock = StartMock({"--tokens", "3"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/completions", CompletionBody(kModel));
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.Header("x-mock-server"), "mock");
  EXPECT_EQ(JsonString(r.body, "/object"), "text_completion");
  EXPECT_EQ(JsonString(r.body, "/choices/0/text"), Tokens(3));
  EXPECT_EQ(JsonString(r.body, "/choices/0/finish_reason"), "stop");
  EXPECT_EQ(JsonInt(r.body, "/usage/completion_tokens"), 3);
}

TEST(MockServerTest, TokensHeaderOverridesDefault) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel));
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/content"), Tokens(16));
  r = client.Post("/v1/chat/completions", ChatBody(kModel), {{"x-mock-tokens", "2"}});
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/content"), Tokens(2));
  r = client.Post("/v1/chat/completions", ChatBody(kModel), {{"X-Mock-Tokens", "0"}});
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/content"), "");
  EXPECT_EQ(JsonInt(r.body, "/usage/completion_tokens"), 0);
}

TEST(MockServerTest, StreamingEventsArePacedByTokenInterval) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel, true),
                               {{"x-mock-tokens", "5"}, {"x-mock-token-interval-ms", "50"}});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.Header("content-type"), "text/event-stream");
  std::vector<SseEvent> events = r.Events();
  ASSERT_EQ(events.size(), 6u) << r.body;
  EXPECT_EQ(r.chunks.size(), 6u) << "one HTTP chunk per SSE event";
  std::string joined;
  for (int i = 0; i < 5; ++i) {
    const std::string& data = events[static_cast<size_t>(i)].data;
    EXPECT_EQ(JsonString(data, "/object"), "chat.completion.chunk");
    EXPECT_EQ(JsonString(data, "/model"), kModel);
    joined += JsonString(data, "/choices/0/delta/content").value_or("?");
    if (i < 4) {
      EXPECT_TRUE(JsonIsNull(data, "/choices/0/finish_reason")) << data;
    } else {
      EXPECT_EQ(JsonString(data, "/choices/0/finish_reason"), "stop");
    }
  }
  EXPECT_EQ(JsonString(events[0].data, "/choices/0/delta/role"), "assistant");
  EXPECT_EQ(joined, Tokens(5));
  EXPECT_EQ(events[5].data, "[DONE]");
  // Paced, not written at once: every token arrives in a read of its own, after the one before.
  // (The schedule itself, 50 ms apart, is asserted in tests/unit/mock/pacing_test.cc.)
  for (size_t i = 1; i < 5; ++i) {
    EXPECT_GT(events[i].at, events[i - 1].at) << "event " << i << " came with the one before";
  }
  auto stats = mock->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->tokens_streamed, 5);
}

TEST(MockServerTest, StreamingIncludeUsageAddsUsageEvent) {
  auto mock = StartMock({"--tokens", "3"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel, true, true));
  ASSERT_EQ(r.status, 200) << r.error;
  std::vector<SseEvent> events = r.Events();
  ASSERT_EQ(events.size(), 5u) << r.body;
  EXPECT_EQ(JsonSize(events[3].data, "/choices"), 0u);
  EXPECT_EQ(JsonInt(events[3].data, "/usage/completion_tokens"), 3);
  EXPECT_EQ(events[4].data, "[DONE]");

  r = client.Post("/v1/chat/completions", ChatBody(kModel, true, false));
  events = r.Events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_FALSE(JsonHas(events[2].data, "/usage"));
}

TEST(MockServerTest, StreamingTextCompletion) {
  auto mock = StartMock({"--tokens", "2"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/completions", CompletionBody(kModel, true));
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.complete);
  std::vector<SseEvent> events = r.Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(JsonString(events[0].data, "/object"), "text_completion");
  EXPECT_EQ(JsonString(events[0].data, "/choices/0/text"), "tok0 ");
  EXPECT_EQ(JsonString(events[1].data, "/choices/0/text"), "tok1");
  EXPECT_EQ(JsonString(events[1].data, "/choices/0/finish_reason"), "stop");
}

// The ttft and token interval, from the command line and from headers. When each piece is due is
// asserted in tests/unit/mock/pacing_test.cc; here what the client gets, and that nothing is
// sent while the ttft runs.
TEST(MockServerTest, TtftDelaysFirstTokenAndNonStreamingAnswer) {
  auto mock = StartMock({"--tokens", "3", "--token-interval", "40ms", "--ttft", "100ms"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel, true));
  ASSERT_EQ(r.status, 200) << r.error;
  std::vector<SseEvent> events = r.Events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_GT(events[1].at, events[0].at) << "tokens 40 ms apart came in one read";
  EXPECT_GT(events[2].at, events[1].at) << "tokens 40 ms apart came in one read";

  r = client.Post("/v1/chat/completions", ChatBody(kModel));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/content"), Tokens(3));

  r = client.Post("/v1/chat/completions", ChatBody(kModel),
                  {{"x-mock-ttft-ms", "0"}, {"x-mock-token-interval-ms", "0"}});
  ASSERT_EQ(r.status, 200);

  r = client.Post("/v1/chat/completions", ChatBody(kModel, true),
                  {{"x-mock-ttft-ms", "250"}, {"x-mock-tokens", "1"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Events().size(), 2u);

  // While a (long) ttft runs, streamed or not, the request is in progress and nothing of the
  // answer has been sent: no token, no head.
  auto before = mock->Stats();
  ASSERT_TRUE(before);
  for (bool stream : {true, false}) {
    SCOPED_TRACE(stream ? "streamed" : "not streamed");
    HttpClient waiting(mock->port());
    ASSERT_TRUE(waiting.Connect());
    ASSERT_TRUE(waiting.SendRaw(RawRequest("POST", "/v1/chat/completions", ChatBody(kModel, stream),
                                           {{"x-mock-ttft-ms", "60000"}})));
    MockStats s;
    ASSERT_TRUE(mock->WaitForStats(
        [&](const MockStats& st) {
          return st.active_requests == 1 && st.active_streams == (stream ? 1 : 0);
        },
        5s, &s))
        << s.json;
    EXPECT_EQ(s.tokens_streamed, before->tokens_streamed);
    EXPECT_EQ(s.completed, before->completed);
    waiting.Close();
    ASSERT_TRUE(mock->WaitForStats([](const MockStats& st) { return st.active_requests == 0; }));
  }
  EXPECT_EQ(mock->Stats()->client_disconnects, 2);
}

TEST(MockServerTest, UnknownOrMissingModelIs404AndBadJsonIs400) {
  auto mock = StartMock({"--model", "alpha", "--model", "beta"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/chat/completions", ChatBody("beta"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(JsonString(r.body, "/model"), "beta");

  r = client.Post("/v1/chat/completions", ChatBody(kModel));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(JsonString(r.body, "/error/message"), "The model `mock-model` does not exist.");
  EXPECT_EQ(JsonString(r.body, "/error/type"), "invalid_request_error");
  EXPECT_TRUE(JsonIsNull(r.body, "/error/param"));
  EXPECT_EQ(JsonString(r.body, "/error/code"), "model_not_found");

  r = client.Post("/v1/completions", R"({"prompt":"hi"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(JsonString(r.body, "/error/code"), "model_not_found");

  for (const char* bad : {"{\"model\": ", "not json", "[1,2]", "", "{\"model\":\"alpha\"} x"}) {
    r = client.Post("/v1/chat/completions", bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(JsonString(r.body, "/error/type"), "invalid_request_error") << bad;
  }
  EXPECT_TRUE(client.connected()) << "errors keep the connection";
}

TEST(MockServerTest, StatusHeaderForcesErrorAnswer) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r =
      client.Post("/v1/chat/completions", ChatBody(kModel), {{"x-mock-status", "503"}});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Header("x-mock-server"), "mock");
  EXPECT_TRUE(JsonString(r.body, "/error/message").has_value());
  EXPECT_EQ(JsonString(r.body, "/error/type"), "server_error");
  r = client.Post("/v1/chat/completions", ChatBody(kModel, true), {{"x-mock-status", "429"}});
  EXPECT_EQ(r.status, 429);
  EXPECT_FALSE(r.chunked);
  r = client.Get("/v1/models", {{"x-mock-status", "500"}});
  EXPECT_EQ(r.status, 500);
  auto stats = mock->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests, 3);
  EXPECT_EQ(stats->completed, 3);
}

TEST(MockServerTest, HangThenClientCloseCountsDisconnect) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(client.SendRaw(
      RawRequest("POST", "/v1/chat/completions", ChatBody(kModel), {{"x-mock-hang", "1"}})));
  MockStats s;
  ASSERT_TRUE(mock->WaitForStats(
      [](const MockStats& st) { return st.requests == 1 && st.active_requests == 1; }, 5s, &s))
      << s.json;
  EXPECT_EQ(s.client_disconnects, 0);
  EXPECT_EQ(s.connections_open, 2);  // the client plus the harness's control connection
  HttpResponse r = client.ReadResponse(100ms);
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.timed_out);
  client.Close();
  ASSERT_TRUE(mock->WaitForStats(
      [](const MockStats& st) {
        return st.client_disconnects == 1 && st.active_requests == 0 && st.connections_open == 1;
      },
      5s, &s))
      << s.json;
  EXPECT_EQ(s.completed, 0);
}

TEST(MockServerTest, ResetDuringTtftWaitCountsDisconnect) {
  auto mock = StartMock({"--ttft", "20s"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(client.SendRaw(RawRequest("POST", "/v1/chat/completions", ChatBody(kModel))));
  ASSERT_TRUE(mock->WaitForStats([](const MockStats& s) { return s.active_requests == 1; }));
  client.Abort();
  MockStats s;
  EXPECT_TRUE(mock->WaitForStats(
      [](const MockStats& st) { return st.client_disconnects == 1 && st.active_requests == 0; }, 5s,
      &s))
      << s.json;
}

TEST(MockServerTest, CloseMidStreamCountsDisconnect) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(
      client.SendRaw(RawRequest("POST", "/v1/chat/completions", ChatBody(kModel, true),
                                {{"x-mock-tokens", "1000"}, {"x-mock-token-interval-ms", "20"}})));
  HttpResponse head = client.ReadHead(5s);
  ASSERT_EQ(head.status, 200) << head.error;
  ASSERT_TRUE(mock->WaitForStats([](const MockStats& s) { return s.active_streams == 1; }));
  client.Close();
  MockStats s;
  EXPECT_TRUE(mock->WaitForStats(
      [](const MockStats& st) {
        return st.client_disconnects == 1 && st.active_streams == 0 && st.active_requests == 0;
      },
      5s, &s))
      << s.json;
}

TEST(MockServerTest, CloseDuringBodyReadCountsDisconnect) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(client.SendRaw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"model\""));
  ASSERT_TRUE(mock->WaitForStats([](const MockStats& s) { return s.active_requests == 1; }));
  client.Close();
  MockStats s;
  EXPECT_TRUE(mock->WaitForStats(
      [](const MockStats& st) { return st.client_disconnects == 1 && st.active_requests == 0; }, 5s,
      &s))
      << s.json;
}

TEST(MockServerTest, ReadDelayHoldsBodyAndNoticesClose) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r =
      client.Post("/v1/chat/completions", ChatBody(kModel), {{"x-mock-read-delay-ms", "200"}});
  ASSERT_EQ(r.status, 200) << r.error;
  auto read = mock->Stats();
  ASSERT_TRUE(read && read->last_request);
  EXPECT_EQ(read->last_request->Header("x-mock-read-delay-ms"), "200");
  EXPECT_EQ(read->last_request->body, ChatBody(kModel)) << "read once the delay ended";

  HttpClient quitter(mock->port());
  ASSERT_TRUE(quitter.Connect());
  ASSERT_TRUE(quitter.SendRaw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nx-mock-read-delay-ms: 20000\r\n"
      "Content-Length: 100\r\n\r\n{\"model\""));
  MockStats held;
  ASSERT_TRUE(
      mock->WaitForStats([](const MockStats& s) { return s.active_requests == 1; }, 5s, &held));
  // Its head is in, its body is held back: the last request read in full is still the first.
  ASSERT_TRUE(held.last_request);
  EXPECT_EQ(held.last_request->Header("x-mock-read-delay-ms"), "200");
  quitter.Close();
  MockStats s;
  EXPECT_TRUE(mock->WaitForStats(
      [](const MockStats& st) { return st.client_disconnects == 1 && st.active_requests == 0; }, 5s,
      &s))
      << s.json;
}

TEST(MockServerTest, CloseAfterTokensCutsTheStream) {
  auto mock = StartMock({"--tokens", "10"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel, true),
                               {{"x-mock-close-after-tokens", "3"}});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_FALSE(r.complete);
  EXPECT_TRUE(r.connection_closed);
  EXPECT_FALSE(client.connected());
  std::vector<SseEvent> events = r.Events();
  ASSERT_EQ(events.size(), 3u) << r.body;
  EXPECT_EQ(JsonString(events[2].data, "/choices/0/delta/content"), "tok2 ");

  r = client.Post("/v1/chat/completions", ChatBody(kModel), {{"x-mock-close-after-tokens", "0"}});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.connection_closed);

  MockStats s;
  EXPECT_TRUE(mock->WaitForStats(
      [](const MockStats& st) { return st.requests == 2 && st.active_requests == 0; }, 5s, &s));
  EXPECT_EQ(s.completed, 0);
  EXPECT_EQ(s.client_disconnects, 0);
  EXPECT_EQ(s.active_streams, 0);
}

TEST(MockServerTest, EchoReturnsTheRequest) {
  auto mock = StartMock({"--tokens", "1"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  std::string body = ChatBody(kModel, false, false, "quote \" and \\ and \n newline");
  HttpResponse r = client.Post("/v1/chat/completions?trace=1", body,
                               {{"x-mock-echo", "1"}, {"X-Custom-Thing", "Abc"}});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/content"), "tok0");
  EXPECT_EQ(JsonString(r.body, "/echo/method"), "POST");
  EXPECT_EQ(JsonString(r.body, "/echo/target"), "/v1/chat/completions?trace=1");
  EXPECT_EQ(JsonString(r.body, "/echo/headers/x-custom-thing"), "Abc");
  EXPECT_EQ(JsonString(r.body, "/echo/headers/content-length"), std::to_string(body.size()));
  EXPECT_EQ(JsonString(r.body, "/echo/body"), body);

  r = client.Post("/v1/chat/completions", body);
  EXPECT_FALSE(JsonHas(r.body, "/echo"));
}

TEST(MockServerTest, ModelsHealthAndUnknownPaths) {
  auto mock = StartMock({"--model", "a", "--model", "b"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Get("/v1/models");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(JsonString(r.body, "/object"), "list");
  EXPECT_EQ(JsonSize(r.body, "/data"), 2u);
  EXPECT_EQ(JsonString(r.body, "/data/0/id"), "a");
  EXPECT_EQ(JsonString(r.body, "/data/1/id"), "b");
  EXPECT_EQ(JsonString(r.body, "/data/1/object"), "model");

  r = client.Get("/v1/models/b");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(JsonString(r.body, "/id"), "b");
  EXPECT_EQ(client.Get("/v1/models/zzz").status, 404);

  r = client.Get("/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(JsonString(r.body, "/status"), "ok");

  r = client.Get("/v2/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(JsonString(r.body, "/error/type"), "invalid_request_error");
  r = client.Get("/v1/chat/completions");
  EXPECT_EQ(r.status, 405);
  EXPECT_TRUE(client.connected());
}

TEST(MockServerTest, MetricsAndGaugeOverrides) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("# TYPE vllm:num_requests_running gauge"), std::string::npos);
  EXPECT_NE(r.body.find("# HELP vllm:num_requests_waiting"), std::string::npos);
  EXPECT_NE(r.body.find("# TYPE vllm:gpu_cache_usage_perc gauge"), std::string::npos);
  EXPECT_EQ(MetricValue(r.body, "vllm:num_requests_running"), 0);
  EXPECT_EQ(MetricValue(r.body, "vllm:num_requests_waiting"), 0);
  EXPECT_EQ(MetricValue(r.body, "vllm:gpu_cache_usage_perc"), 0);

  HttpClient hanging(mock->port());
  ASSERT_TRUE(hanging.Connect());
  ASSERT_TRUE(hanging.SendRaw(
      RawRequest("POST", "/v1/chat/completions", ChatBody(kModel), {{"x-mock-hang", "1"}})));
  ASSERT_TRUE(mock->WaitForStats([](const MockStats& s) { return s.active_requests == 1; }));
  r = client.Get("/metrics");
  EXPECT_EQ(MetricValue(r.body, "vllm:num_requests_running"), 1);

  ASSERT_TRUE(mock->SetGauges(R"({"waiting": 12, "running": 3, "kv_cache_usage": 0.9})"));
  r = client.Get("/metrics");
  EXPECT_EQ(MetricValue(r.body, "vllm:num_requests_waiting"), 12);
  EXPECT_EQ(MetricValue(r.body, "vllm:num_requests_running"), 3);
  EXPECT_DOUBLE_EQ(MetricValue(r.body, "vllm:gpu_cache_usage_perc"), 0.9);
  auto stats = mock->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->waiting, 12);
  EXPECT_EQ(stats->running, 3);
  EXPECT_DOUBLE_EQ(stats->kv_cache_usage, 0.9);

  ASSERT_TRUE(mock->SetGauges(R"({"running": -1})"));
  r = client.Get("/metrics");
  EXPECT_EQ(MetricValue(r.body, "vllm:num_requests_running"), 1);
  EXPECT_EQ(MetricValue(r.body, "vllm:num_requests_waiting"), 12);

  EXPECT_EQ(mock->Control("POST", "/mock/gauges", "{oops").status, 400);
  ASSERT_TRUE(mock->Reset());
  r = client.Get("/metrics");
  EXPECT_EQ(MetricValue(r.body, "vllm:num_requests_waiting"), 0);
  EXPECT_EQ(MetricValue(r.body, "vllm:gpu_cache_usage_perc"), 0);
}

TEST(MockServerTest, StatsCountRequestsModelsAndLastRequest) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  EXPECT_EQ(client.Post("/v1/chat/completions", ChatBody(kModel)).status, 200);
  EXPECT_EQ(client.Post("/v1/completions", CompletionBody(kModel)).status, 200);
  EXPECT_EQ(client.Post("/v1/chat/completions", ChatBody("other")).status, 404);
  EXPECT_EQ(client.Get("/health").status, 200);
  EXPECT_EQ(client.Get("/metrics").status, 200);
  std::string last_body = ChatBody(kModel, false, false, "last one");
  EXPECT_EQ(client.Post("/v1/chat/completions", last_body, {{"X-Trace", "t-1"}}).status, 200);
  auto s = mock->Stats();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->id, "mock");
  EXPECT_EQ(s->requests, 4);
  EXPECT_EQ(s->completed, 4);
  EXPECT_EQ(s->active_requests, 0);
  EXPECT_EQ(s->connections_accepted, 1);
  EXPECT_EQ(s->ByModel(kModel), 3);
  EXPECT_EQ(s->ByModel("other"), 1);
  ASSERT_TRUE(s->last_request);
  EXPECT_EQ(s->last_request->method, "POST");
  EXPECT_EQ(s->last_request->target, "/v1/chat/completions");
  EXPECT_EQ(s->last_request->body, last_body);
  EXPECT_EQ(s->last_request->Header("x-trace"), "t-1");

  ASSERT_TRUE(mock->Reset());
  s = mock->Stats();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->requests, 0);
  EXPECT_EQ(s->completed, 0);
  EXPECT_EQ(s->connections_accepted, 0);
  EXPECT_EQ(s->connections_open, 2);
  EXPECT_TRUE(s->by_model.empty());
  EXPECT_FALSE(s->last_request);
}

TEST(MockServerTest, KeepAliveReusesOneConnection) {
  auto mock = StartMock({"--tokens", "3"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  for (int i = 0; i < 6; ++i) {
    bool stream = i % 2 == 1;
    HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel, stream));
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(r.complete);
    EXPECT_FALSE(r.connection_closed);
  }
  EXPECT_EQ(client.Get("/v1/models").status, 200);
  auto s = mock->Stats();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->connections_accepted, 1);
  EXPECT_EQ(s->requests, 7);
  EXPECT_EQ(s->completed, 7);
}

TEST(MockServerTest, PipelinedRequestsAnsweredInOrder) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  ASSERT_TRUE(client.Connect());
  std::string both =
      RawRequest("POST", "/v1/chat/completions", ChatBody(kModel),
                 {{"x-mock-tokens", "1"}, {"x-mock-ttft-ms", "50"}}) +
      RawRequest("POST", "/v1/chat/completions", ChatBody(kModel, true), {{"x-mock-tokens", "2"}}) +
      RawRequest("GET", "/v1/models", "");
  ASSERT_TRUE(client.SendRaw(both));
  HttpResponse first = client.ReadResponse(5s);
  HttpResponse second = client.ReadResponse(5s);
  HttpResponse third = client.ReadResponse(5s);
  EXPECT_EQ(JsonString(first.body, "/choices/0/message/content"), "tok0");
  EXPECT_EQ(second.Events().size(), 3u);
  EXPECT_TRUE(second.complete);
  EXPECT_EQ(JsonString(third.body, "/object"), "list");
}

TEST(MockServerTest, ChunkedRequestBodyAndExpectContinue) {
  auto mock = StartMock({"--tokens", "1"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  ASSERT_TRUE(client.Connect());
  std::string body = ChatBody(kModel);
  std::string a = body.substr(0, 10);
  std::string b = body.substr(10);
  char size_a[16];
  char size_b[16];
  std::snprintf(size_a, sizeof(size_a), "%zx", a.size());
  std::snprintf(size_b, sizeof(size_b), "%zX", b.size());
  ASSERT_TRUE(client.SendRaw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
      "x-mock-echo: 1\r\n\r\n" +
      std::string(size_a) + ";ext=1\r\n" + a + "\r\n" + std::string(size_b) + "\r\n" + b +
      "\r\n0\r\nX-Trailer: 1\r\n\r\n"));
  HttpResponse r = client.ReadResponse(5s);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(JsonString(r.body, "/echo/body"), body);

  r = client.Post("/v1/chat/completions", body, {{"Expect", "100-continue"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.interim_statuses, std::vector<int>{100});
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/content"), "tok0");
}

TEST(MockServerTest, LargeBodyIsRead) {
  auto mock = StartMock({"--tokens", "1"});
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  std::string body = ChatBody(kModel, false, false, std::string(3 << 20, 'x'));
  HttpResponse r = client.Post("/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.error;
  auto s = mock->Stats();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->last_request);
  EXPECT_EQ(s->last_request->body.size(), body.size());
}

TEST(MockServerTest, ConnectionCloseAndMalformedRequests) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel), {{"Connection", "close"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_FALSE(client.connected());

  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(client.SendRaw("GARBAGE\r\n\r\n"));
  r = client.ReadResponse(5s);
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(client.connected());

  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(
      client.SendRaw("POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  r = client.ReadResponse(5s);
  EXPECT_EQ(r.status, 400);

  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(client.SendRaw("GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  r = client.ReadResponse(5s);
  EXPECT_EQ(r.status, 200);
  HttpClient idle(mock->port());
  ASSERT_TRUE(idle.Connect());
  ASSERT_TRUE(idle.SendRaw("GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(idle.IsClosedByPeer(5s));
}

TEST(MockServerTest, ConnectionsOpenTracksClients) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<HttpClient>(mock->port()));
    EXPECT_EQ(clients.back()->Get("/v1/models").status, 200);
  }
  MockStats s;
  EXPECT_TRUE(mock->WaitForStats(
      [](const MockStats& st) { return st.connections_open == 4 && st.connections_accepted == 3; },
      5s, &s))
      << s.json;
  clients.clear();
  EXPECT_TRUE(
      mock->WaitForStats([](const MockStats& st) { return st.connections_open == 1; }, 5s, &s))
      << s.json;
  EXPECT_EQ(s.client_disconnects, 0);
}

TEST(MockServerTest, SeveralThreadsServeConcurrentClients) {
  auto mock = StartMock({"--threads", "3", "--tokens", "2", "--token-interval", "5ms"});
  ASSERT_TRUE(mock);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client(mock->port());
      for (int i = 0; i < 5; ++i) {
        HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel, (t + i) % 2 == 0));
        if (r.status == 200 && r.complete) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  MockStats s;
  EXPECT_TRUE(mock->WaitForStats(
      [](const MockStats& st) { return st.completed == 20 && st.active_requests == 0; }, 5s, &s))
      << s.json;
  EXPECT_EQ(s.requests, 20);
  EXPECT_EQ(s.ByModel(kModel), 20);
}

TEST(MockServerTest, ExitsCleanlyOnSigtermAndSigint) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  HttpClient client(mock->port());
  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(client.SendRaw(
      RawRequest("POST", "/v1/chat/completions", ChatBody(kModel), {{"x-mock-hang", "1"}})));
  ASSERT_TRUE(mock->WaitForStats([](const MockStats& s) { return s.active_requests == 1; }));
  EXPECT_EQ(mock->Stop(5s), 0);

  auto other = StartMock();
  ASSERT_TRUE(other);
  other->process().Signal(SIGINT);
  EXPECT_EQ(other->process().Wait(5s), 0);
}

TEST(MockServerTest, RestartsOnTheSamePort) {
  auto mock = StartMock({"--id", "first"});
  ASSERT_TRUE(mock);
  uint16_t port = mock->port();
  HttpClient client(port);
  EXPECT_EQ(client.Get("/health").status, 200);
  EXPECT_EQ(mock->Stop(5s), 0);
  mock.reset();
  EXPECT_TRUE(client.IsClosedByPeer(5s));
  auto again = StartMock({"--id", "second", "--listen", "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->port(), port);
  HttpResponse r = client.Post("/v1/chat/completions", ChatBody(kModel));
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.Header("x-mock-server"), "second");
}

TEST(MockServerTest, BadFlagsExitWithStatus2) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{{"--tokens", "x"},
                                                                             {"--bogus", "1"},
                                                                             {"--ttft", "20"},
                                                                             {"--listen", "nope"},
                                                                             {"--threads"}}) {
    std::vector<std::string> argv = {BinaryPath("infergate-mock")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = Process::Start(argv);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->Wait(5s), 2) << args[0] << "\n" << p->Output();
    EXPECT_NE(p->Output().find("infergate-mock:"), std::string::npos);
  }
  auto help = Process::Start({"infergate-mock", "--help"});
  ASSERT_TRUE(help);
  EXPECT_EQ(help->Wait(5s), 0);
  EXPECT_TRUE(help->WaitForOutput("--token-interval", 1s));
}

TEST(HarnessTest, ProcessCapturesOutputAndExitStatus) {
  auto p = Process::Start({"sh", "-c", "echo ready on port 4242; echo oops >&2; exit 3"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->WaitForOutput(R"(port (\d+))", 5s), "4242");
  EXPECT_EQ(p->Wait(5s), 3);
  EXPECT_TRUE(p->WaitForOutput("oops", 1s));
  EXPECT_FALSE(p->WaitForOutput("never printed", 50ms));

  auto sleeper = Process::Start({"sleep", "30"});
  ASSERT_TRUE(sleeper);
  EXPECT_TRUE(sleeper->Running());
  EXPECT_FALSE(sleeper->Wait(20ms));
  sleeper->Signal(SIGTERM);
  EXPECT_EQ(sleeper->Wait(5s), -SIGTERM);

  EXPECT_FALSE(Process::Start({"/nonexistent/binary"}));
}

TEST(HarnessTest, TempFilesAndEvents) {
  std::string path;
  {
    TempFile f("a: 1\n", ".yaml");
    path = f.path();
    ASSERT_FALSE(path.empty());
    EXPECT_TRUE(path.ends_with(".yaml"));
    auto cat = Process::Start({"cat", path});
    ASSERT_TRUE(cat);
    EXPECT_EQ(cat->Wait(5s), 0);
    EXPECT_EQ(cat->Output(), "a: 1\n");
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);

  HttpResponse r;
  auto now = std::chrono::steady_clock::now();
  r.chunks = {{now, "data: one\r\n"},
              {now, "\r\n: comment\n\ndata: a\ndata: b\n\nda"},
              {now, "ta: [DONE]\n\n"}};
  std::vector<SseEvent> events = r.Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "one");
  EXPECT_EQ(events[1].data, "a\nb");
  EXPECT_EQ(events[2].data, "[DONE]");
}

}  // namespace
}  // namespace infergate::testing
