// Integration: the gateway's own answers (a static fallback, the synthetic runner) on every
// endpoint they have a shape for (issue 15): chat completions, legacy completions and the
// Responses API, streamed or not, with usage as OpenAI reports it; embeddings still get the 503.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/gateway.h"
#include "support/json.h"
#include "support/openai_responses.h"
#include "support/openai_sdk.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kStaticText = "Sorry, busy right now.";  // 4 pieces
constexpr int64_t kStaticPieces = 4;
constexpr const char* kRunnerText = "The gateway answered this request";  // 5 tokens
constexpr int64_t kRunnerTokens = 5;

// The pool's only backend is a closed port: every request degrades (retries_exhausted or
// no_backend) to the route's fallback.
class OwnAnswersEndpoints : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string why;
    gw_ = Gateway::Start(
              "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
              "compartments:\n  - {name: cpu, max_concurrent: 8, thread_pool: {threads: 1, "
              "queue: 8}}\n"
              "runners:\n  - {name: tiny, compartment: cpu, tokens: 5, token_cost: 0ms}\n"
              "pools:\n  - name: gone\n    health_check: {enabled: false}\n"
              "    backends: [http://127.0.0.1:9]\n"
              "routes:\n"
              "  - {name: canned, match: {model: static-model}, to: gone, retries: 0, "
              "fallbacks: [{static: \"Sorry, busy right now.\"}]}\n"
              "  - {name: named, match: {model: named-model}, to: gone, retries: 0, "
              "fallbacks: [{static: \"x\", model: canned-model}]}\n"
              "  - {name: generated, match: {model: runner-model}, to: gone, retries: 0, "
              "fallbacks: [{runner: tiny}]}\n",
              {}, &why)
              .release();
    ASSERT_TRUE(gw_) << why;
  }
  static void TearDownTestSuite() {
    delete gw_;
    gw_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(gw_, nullptr); }

  static HttpResponse Post(const std::string& path, const std::string& body) {
    HttpClient c(gw_->port());
    return c.Post(path, body, {{"content-type", "application/json"}}, 10000ms);
  }

  // A request body for `path`: chat messages, a legacy prompt or a Responses input, each of
  // three words.
  static std::string Body(const std::string& path, const std::string& model, bool stream,
                          const std::string& extra = "") {
    std::string b = R"({"model":")" + model + "\",";
    if (path == "/v1/chat/completions") {
      b += R"("messages":[{"role":"user","content":"one two three"}])";
    } else if (path == "/v1/completions") {
      b += R"("prompt":"one two three")";
    } else {
      b += R"("input":"one two three")";
    }
    if (stream) b += R"(,"stream":true)";
    b += extra + "}";
    return b;
  }

  static void ExpectDegraded(const HttpResponse& r, const std::string& served_by) {
    const std::string degraded = r.Header("x-infergate-degraded");
    EXPECT_NE(degraded.find("served-by=" + served_by), std::string::npos) << degraded;
    EXPECT_FALSE(r.Header("x-request-id").empty());
  }

  static Gateway* gw_;
};

Gateway* OwnAnswersEndpoints::gw_ = nullptr;

struct Kind {
  std::string model, served_by, text;
  int64_t prompt_tokens, completion_tokens;
};
// Static answers count no prompt tokens (no tokenizer); the runner counts the prompt's words.
const std::vector<Kind> kKinds = {{"static-model", "static", kStaticText, 0, kStaticPieces},
                                  {"runner-model", "runner:tiny", kRunnerText, 3, kRunnerTokens}};

TEST_F(OwnAnswersEndpoints, NonStreamedAnswersHaveTheEndpointsShapeAndUsage) {
  for (const Kind& k : kKinds) {
    SCOPED_TRACE(k.model);
    auto chat = Post("/v1/chat/completions", Body("/v1/chat/completions", k.model, false));
    ASSERT_EQ(chat.status, 200) << chat.body;
    EXPECT_EQ(chat.Header("content-type"), "application/json");
    ExpectDegraded(chat, k.served_by);
    std::string error;
    auto parsed = ParseChatCompletion(chat.body, &error);
    ASSERT_TRUE(parsed) << error << chat.body;
    EXPECT_EQ(parsed->content, k.text);
    EXPECT_EQ(parsed->model, k.model);
    EXPECT_TRUE(parsed->id.starts_with("chatcmpl-")) << parsed->id;
    EXPECT_EQ(JsonInt(chat.body, "/usage/prompt_tokens"), k.prompt_tokens);
    EXPECT_EQ(JsonInt(chat.body, "/usage/completion_tokens"), k.completion_tokens);
    EXPECT_EQ(JsonInt(chat.body, "/usage/total_tokens"), k.prompt_tokens + k.completion_tokens);

    auto legacy = Post("/v1/completions", Body("/v1/completions", k.model, false));
    ASSERT_EQ(legacy.status, 200) << legacy.body;
    EXPECT_EQ(legacy.Header("content-type"), "application/json");
    ExpectDegraded(legacy, k.served_by);
    EXPECT_EQ(JsonString(legacy.body, "/object"), "text_completion");
    EXPECT_TRUE(JsonString(legacy.body, "/id").value_or("").starts_with("cmpl-"));
    EXPECT_EQ(JsonString(legacy.body, "/model"), k.model);
    EXPECT_EQ(JsonString(legacy.body, "/choices/0/text"), k.text);
    EXPECT_EQ(JsonString(legacy.body, "/choices/0/finish_reason"), "stop");
    EXPECT_EQ(JsonInt(legacy.body, "/usage/prompt_tokens"), k.prompt_tokens);
    EXPECT_EQ(JsonInt(legacy.body, "/usage/completion_tokens"), k.completion_tokens);

    auto resp = Post("/v1/responses", Body("/v1/responses", k.model, false));
    ASSERT_EQ(resp.status, 200) << resp.body;
    EXPECT_EQ(resp.Header("content-type"), "application/json");
    ExpectDegraded(resp, k.served_by);
    const std::string id = JsonString(resp.body, "/id").value_or("");
    ASSERT_TRUE(id.starts_with("resp_")) << resp.body;
    EXPECT_EQ(JsonString(resp.body, "/object"), "response");
    EXPECT_EQ(JsonString(resp.body, "/status"), "completed");
    EXPECT_EQ(JsonString(resp.body, "/model"), k.model);
    EXPECT_GT(JsonInt(resp.body, "/created_at").value_or(0), 0);
    EXPECT_TRUE(JsonIsNull(resp.body, "/error"));
    ASSERT_EQ(JsonSize(resp.body, "/output"), 1u);
    EXPECT_EQ(JsonString(resp.body, "/output/0/type"), "message");
    EXPECT_EQ(JsonString(resp.body, "/output/0/id"), "msg_" + id.substr(5));
    EXPECT_EQ(JsonString(resp.body, "/output/0/role"), "assistant");
    EXPECT_EQ(JsonString(resp.body, "/output/0/status"), "completed");
    ASSERT_EQ(JsonSize(resp.body, "/output/0/content"), 1u);
    EXPECT_EQ(JsonString(resp.body, "/output/0/content/0/type"), "output_text");
    EXPECT_EQ(JsonString(resp.body, "/output/0/content/0/text"), k.text);
    EXPECT_EQ(JsonSize(resp.body, "/output/0/content/0/annotations"), 0u);
    EXPECT_EQ(JsonInt(resp.body, "/usage/input_tokens"), k.prompt_tokens);
    EXPECT_EQ(JsonInt(resp.body, "/usage/output_tokens"), k.completion_tokens);
    EXPECT_EQ(JsonInt(resp.body, "/usage/total_tokens"), k.prompt_tokens + k.completion_tokens);
    EXPECT_EQ(JsonInt(resp.body, "/usage/input_tokens_details/cached_tokens"), 0);
    EXPECT_EQ(JsonInt(resp.body, "/usage/output_tokens_details/reasoning_tokens"), 0);
    auto sdk = ParseResponseObject(resp.body, &error);
    ASSERT_TRUE(sdk) << error;
    EXPECT_EQ(sdk->output_text, k.text);
  }
}

// Chat and legacy streams: content events, the finish chunk, the usage chunk only when the
// client asked for it, then [DONE].
TEST_F(OwnAnswersEndpoints, ChunkStreamsCarryUsageOnlyWhenAsked) {
  for (const Kind& k : kKinds) {
    for (const std::string path : {"/v1/chat/completions", "/v1/completions"}) {
      for (const char* options : {"", R"(,"stream_options":{"include_usage":false})",
                                  R"(,"stream_options":{"include_usage":true})"}) {
        const bool asked = std::string(options).find("true") != std::string::npos;
        SCOPED_TRACE(k.model + " " + path + " " + options);
        auto r = Post(path, Body(path, k.model, true, options));
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.Header("content-type"), "text/event-stream");
        ExpectDegraded(r, k.served_by);
        const bool chat = path == "/v1/chat/completions";
        const std::vector<SseEvent> events = r.Events();
        // chat: role + pieces + finish (+ usage) + [DONE]; legacy: no role event.
        const size_t want =
            (chat ? 1 : 0) + static_cast<size_t>(k.completion_tokens) + 1 + (asked ? 1 : 0) + 1;
        ASSERT_EQ(events.size(), want) << r.body;
        EXPECT_EQ(events.back().data, "[DONE]");
        std::string text;
        size_t usage_events = 0;
        for (size_t i = 0; i + 1 < events.size(); ++i) {
          const std::string& d = events[i].data;
          EXPECT_EQ(JsonString(d, "/object"), chat ? "chat.completion.chunk" : "text_completion");
          EXPECT_EQ(JsonString(d, "/model"), k.model);
          if (JsonSize(d, "/choices") == 0u) {
            ++usage_events;
            EXPECT_EQ(i, events.size() - 2) << "the usage chunk comes last, before [DONE]";
            EXPECT_EQ(JsonInt(d, "/usage/prompt_tokens"), k.prompt_tokens) << d;
            EXPECT_EQ(JsonInt(d, "/usage/completion_tokens"), k.completion_tokens) << d;
            EXPECT_EQ(JsonInt(d, "/usage/total_tokens"), k.prompt_tokens + k.completion_tokens);
            continue;
          }
          EXPECT_FALSE(JsonHas(d, "/usage")) << d;
          text += JsonString(d, chat ? "/choices/0/delta/content" : "/choices/0/text").value_or("");
          const bool finish = i == want - (asked ? 3 : 2);
          if (finish) {
            EXPECT_EQ(JsonString(d, "/choices/0/finish_reason"), "stop") << d;
          } else {
            EXPECT_TRUE(JsonIsNull(d, "/choices/0/finish_reason")) << d;
          }
        }
        EXPECT_EQ(text, k.text);
        EXPECT_EQ(usage_events, asked ? 1u : 0u);
        if (chat) {
          std::string error;
          auto parsed = ParseChatStream(r.body, &error);
          ASSERT_TRUE(parsed) << error;
          EXPECT_EQ(parsed->content, k.text);
          EXPECT_TRUE(parsed->done);
        }
      }
    }
  }
}

// The Responses API stream: typed events in order, increasing sequence numbers, usage in
// response.completed whether or not include_usage was sent, and no [DONE].
TEST_F(OwnAnswersEndpoints, ResponsesStreamHasTheTypedEventsInOrder) {
  for (const Kind& k : kKinds) {
    for (const char* options : {"", R"(,"stream_options":{"include_usage":true})"}) {
      SCOPED_TRACE(k.model + " " + options);
      auto r = Post("/v1/responses", Body("/v1/responses", k.model, true, options));
      ASSERT_EQ(r.status, 200) << r.body;
      EXPECT_EQ(r.Header("content-type"), "text/event-stream");
      ExpectDegraded(r, k.served_by);
      EXPECT_EQ(r.body.find("[DONE]"), std::string::npos) << r.body;
      std::vector<std::string> want = {"response.created", "response.in_progress",
                                       "response.output_item.added", "response.content_part.added"};
      for (int64_t i = 0; i < k.completion_tokens; ++i)
        want.emplace_back("response.output_text.delta");
      for (const char* t : {"response.output_text.done", "response.content_part.done",
                            "response.output_item.done", "response.completed"}) {
        want.emplace_back(t);
      }
      const std::vector<SseEvent> events = r.Events();
      ASSERT_EQ(events.size(), want.size()) << r.body;
      std::string deltas;
      std::string id;
      for (size_t i = 0; i < events.size(); ++i) {
        const std::string& d = events[i].data;
        EXPECT_EQ(JsonString(d, "/type"), want[i]) << d;
        EXPECT_EQ(JsonInt(d, "/sequence_number"), static_cast<int64_t>(i)) << d;
        // Each event is named on its own "event:" line before its data.
        EXPECT_NE(r.body.find("event: " + want[i] + "\ndata: " + d), std::string::npos) << d;
        if (want[i] == "response.output_text.delta") {
          deltas += JsonString(d, "/delta").value_or("");
          EXPECT_EQ(JsonString(d, "/item_id"), "msg_" + id.substr(5));
        }
        if (i == 0) {
          id = JsonString(d, "/response/id").value_or("");
          EXPECT_TRUE(id.starts_with("resp_")) << d;
          EXPECT_EQ(JsonString(d, "/response/status"), "in_progress");
          EXPECT_EQ(JsonSize(d, "/response/output"), 0u);
          EXPECT_EQ(JsonString(d, "/response/model"), k.model);
        }
      }
      EXPECT_EQ(deltas, k.text);
      const std::string& done = events[events.size() - 4].data;
      EXPECT_EQ(JsonString(done, "/text"), k.text);
      const std::string& completed = events.back().data;
      EXPECT_EQ(JsonString(completed, "/response/id"), id);
      EXPECT_EQ(JsonString(completed, "/response/status"), "completed");
      EXPECT_EQ(JsonString(completed, "/response/output/0/content/0/text"), k.text);
      EXPECT_EQ(JsonInt(completed, "/response/usage/input_tokens"), k.prompt_tokens);
      EXPECT_EQ(JsonInt(completed, "/response/usage/output_tokens"), k.completion_tokens);
      EXPECT_EQ(JsonInt(completed, "/response/usage/total_tokens"),
                k.prompt_tokens + k.completion_tokens);
      std::string error;
      auto sdk = ParseResponseStream(r.body, &error);
      ASSERT_TRUE(sdk) << error;
      EXPECT_EQ(sdk->types, want);
      EXPECT_EQ(sdk->completed.output_text, k.text);
    }
  }
}

TEST_F(OwnAnswersEndpoints, TheRunnerCountsPromptWordsOfEveryShape) {
  // Chat: every message's content; Responses: a list of input messages with parts.
  auto chat = Post("/v1/chat/completions",
                   R"({"model":"runner-model","messages":[{"role":"system","content":"be )"
                   R"(brief"},{"role":"user","content":[{"type":"text","text":"a b c d"}]}]})");
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(JsonInt(chat.body, "/usage/prompt_tokens"), 6);
  auto resp =
      Post("/v1/responses",
           R"({"model":"runner-model","input":[{"role":"user","content":[{"type":"input_text",)"
           R"("text":"what time is it"}]}]})");
  ASSERT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(JsonInt(resp.body, "/usage/input_tokens"), 4);
  EXPECT_EQ(JsonInt(resp.body, "/usage/output_tokens"), kRunnerTokens);
}

TEST_F(OwnAnswersEndpoints, AnEntrysModelIsReportedOnEveryEndpoint) {
  for (const std::string path : {"/v1/chat/completions", "/v1/completions", "/v1/responses"}) {
    auto r = Post(path, Body(path, "named-model", false));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(JsonString(r.body, "/model"), "canned-model") << path;
  }
}

TEST_F(OwnAnswersEndpoints, EmbeddingsStillGetThe503) {
  for (const Kind& k : kKinds) {
    auto r = Post("/v1/embeddings", R"({"model":")" + k.model + R"(","input":"hi"})");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(JsonString(r.body, "/error/code"), "fallbacks_failed") << r.body;
    EXPECT_NE(r.body.find("cannot answer /v1/embeddings"), std::string::npos) << r.body;
    EXPECT_TRUE(r.Header("x-infergate-degraded").empty());
  }
}

// The primary's body gets stream_options.include_usage injected for its pool
// (inject_stream_usage, on by default); that is not the client's ask, so the own answer that
// follows has no usage chunk unless the client asked for it.
TEST(OwnAnswersUsage, TheGatewaysOwnUsageInjectionIsNotTheClientsAsk) {
  std::string why;
  auto gw = Gateway::Start(
      "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
      "pools:\n  - name: gone\n    health_check: {enabled: false}\n"
      "    backends: [http://127.0.0.1:9]\n"
      "routes:\n  - {name: all, match: {path_prefix: /v1/}, to: gone, retries: 0, "
      "fallbacks: [{static: \"Sorry, busy right now.\"}]}\n",
      {}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  const Headers json = {{"content-type", "application/json"}};
  for (const std::string path : {"/v1/chat/completions", "/v1/completions"}) {
    auto r =
        c.Post(path, R"({"model":"m","prompt":"x","messages":[],"stream":true})", json, 10000ms);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body.find("\"usage\""), std::string::npos) << path << " " << r.body;
    auto asked = c.Post(path,
                        R"({"model":"m","prompt":"x","messages":[],"stream":true,)"
                        R"("stream_options":{"include_usage":true}})",
                        json, 10000ms);
    ASSERT_EQ(asked.status, 200) << asked.body;
    const std::vector<SseEvent> events = asked.Events();
    ASSERT_GE(events.size(), 2u) << asked.body;
    EXPECT_EQ(JsonInt(events[events.size() - 2].data, "/usage/completion_tokens"), kStaticPieces)
        << asked.body;
  }
}

// The counts own answers report are the ones the GenAI token histograms record (a Responses
// API answer is a chat operation).
TEST(OwnAnswersMetrics, TokenHistogramsRecordTheRunnersCounts) {
  std::string why;
  auto gw = Gateway::Start(
      "listeners:\n  - {name: public, listen: 127.0.0.1:0}\nadmin:\n  listen: 127.0.0.1:0\n"
      "compartments:\n  - {name: cpu, max_concurrent: 8, thread_pool: {threads: 1}}\n"
      "runners:\n  - {name: tiny, compartment: cpu, tokens: 5, token_cost: 0ms}\n"
      "pools:\n  - name: gone\n    health_check: {enabled: false}\n"
      "    backends: [http://127.0.0.1:9]\n"
      "routes:\n  - {name: gen, match: {model: runner-model}, to: gone, retries: 0, "
      "fallbacks: [{runner: tiny}]}\n",
      {}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  const Headers json = {{"content-type", "application/json"}};
  auto chat = c.Post("/v1/chat/completions",
                     R"({"model":"runner-model","messages":[{"role":"user","content":"a b c"}]})",
                     json, 10000ms);
  ASSERT_EQ(chat.status, 200) << chat.body;
  auto resp = c.Post("/v1/responses", R"({"model":"runner-model","input":"d e","stream":true})",
                     json, 10000ms);
  ASSERT_EQ(resp.status, 200) << resp.body;
  const std::string labels =
      "gen_ai_operation_name=\"chat\",gen_ai_request_model=\"runner-model\","
      "gen_ai_response_model=\"runner-model\",route=\"gen\",gen_ai_token_type=";
  ASSERT_EQ(gw->WaitForMetric("gen_ai_client_token_usage_count", labels + "\"output\"", 2), 2)
      << gw->Metrics();
  EXPECT_EQ(gw->Metric("gen_ai_client_token_usage_sum", labels + "\"output\""), 2 * kRunnerTokens);
  EXPECT_EQ(gw->Metric("gen_ai_client_token_usage_count", labels + "\"input\""), 2);
  EXPECT_EQ(gw->Metric("gen_ai_client_token_usage_sum", labels + "\"input\""), 3 + 2);
}

}  // namespace
}  // namespace infergate::testing
