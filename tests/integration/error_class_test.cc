// Integration: fallbacks chosen by the class of a backend's refusal (an over-long prompt goes to
// a long-context pool; a content-filter refusal to a static answer), with the error bodies
// vLLM, TGI and llama.cpp server really send; and response_model: requested.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/gateway.h"
#include "support/json.h"
#include "support/mock_server.h"
#include "support/openai_sdk.h"

namespace infergate::testing {
namespace {

// vLLM (0.4-0.6), TGI and llama.cpp server refusing an over-long prompt, each with its status.
struct Refusal {
  const char* server;
  int status;
  const char* body;
};
constexpr Refusal kContextRefusals[] = {
    {"vllm", 400,
     R"({"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 4608 tokens (4096 in the messages, 512 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400})"},
    {"tgi", 422,
     R"({"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`","error_type":"validation"})"},
    {"llamacpp", 400,
     R"({"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}})"},
};

class ErrorClassFallbacks : public ::testing::Test {
 protected:
  void SetUp() override {
    small_ = MockServer::Start({"--id", "small", "--model", "llama-8b"});
    long_ = MockServer::Start({"--id", "long", "--model", "llama-8b-128k"});
    ASSERT_TRUE(small_ && long_);
    // The long-context pool drops the steering headers, so it answers normally.
    std::string why;
    gw_ = Gateway::Start(
        "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
        "pools:\n"
        "  - name: small\n    health_check: {enabled: false}\n    backends: [http://" +
            small_->address() +
            "]\n"
            "  - name: long\n    health_check: {enabled: false}\n    backends: [http://" +
            long_->address() +
            "]\n"
            "    request_headers: {remove: [x-mock-status, x-mock-error-body]}\n"
            "routes:\n"
            "  - name: chat\n    match: {path: /v1/chat/completions, model: [llama-8b]}\n"
            "    to: small\n    response_model: requested\n    fallbacks:\n"
            "      - {pool: long, rewrite_model: llama-8b-128k, on: [context_length_exceeded]}\n"
            "      - {static: \"I cannot answer that.\", on: [content_filter]}\n"
            "  - {name: aliased, match: {model: [chat-alias]}, to: small, rewrite_model: llama-8b,"
            " response_model: requested}\n"
            "  - {name: as-backend, match: {model: [other-alias]}, to: small, rewrite_model: "
            "llama-8b}\n",
        {}, &why);
    ASSERT_TRUE(gw_) << why;
  }
  HttpResponse Chat(int status, const std::string& error_body, bool stream = false) {
    HttpClient c(gw_->port());
    return c.Post(
        "/v1/chat/completions",
        std::string(R"({"model":"llama-8b","messages":[{"role":"user","content":"hi"}])") +
            (stream ? R"(,"stream":true})" : "}"),
        {{"content-type", "application/json"},
         {"x-mock-status", std::to_string(status)},
         {"x-mock-error-body", error_body}});
  }
  std::unique_ptr<MockServer> small_, long_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(ErrorClassFallbacks, AnOverLongPromptGoesToTheLongContextPool) {
  for (const Refusal& r : kContextRefusals) {
    SCOPED_TRACE(r.server);
    ASSERT_TRUE(long_->Reset());
    HttpResponse resp = Chat(r.status, r.body);
    EXPECT_EQ(resp.status, 200) << resp.body;
    EXPECT_EQ(resp.Header("x-infergate-degraded"), "context_length_exceeded; served-by=long");
    std::string why;
    auto chat = ParseChatCompletion(resp.body, &why);
    ASSERT_TRUE(chat) << why << "\n" << resp.body;
    EXPECT_EQ(chat->model, "llama-8b");  // response_model: requested
    auto stats = long_->Stats();
    ASSERT_TRUE(stats && stats->last_request);
    // The long-context pool got the request with its own model name.
    EXPECT_EQ(JsonString(stats->last_request->body, "/model"), "llama-8b-128k");
  }
}

TEST_F(ErrorClassFallbacks, AStreamedRequestIsRefusedBeforeItsFirstByteToo) {
  HttpResponse resp = Chat(400, kContextRefusals[2].body, /*stream=*/true);
  EXPECT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(resp.Header("x-infergate-degraded"), "context_length_exceeded; served-by=long");
  std::string why;
  auto stream = ParseChatStream(resp.body, &why);
  ASSERT_TRUE(stream) << why << "\n" << resp.body;
  EXPECT_EQ(stream->model, "llama-8b");
  EXPECT_TRUE(stream->done);
}

TEST_F(ErrorClassFallbacks, AContentFilterRefusalGetsTheStaticAnswer) {
  HttpResponse resp = Chat(
      400,
      R"({"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400}})");
  EXPECT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(resp.Header("x-infergate-degraded"), "content_filter; served-by=static");
  std::string why;
  auto chat = ParseChatCompletion(resp.body, &why);
  ASSERT_TRUE(chat) << why;
  EXPECT_EQ(chat->content, "I cannot answer that.");
  auto stats = long_->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests, 0);  // the long-context pool serves only its class
}

TEST_F(ErrorClassFallbacks, OtherRefusalsReachTheClientAsTheBackendSentThem) {
  const std::string body =
      R"({"object":"error","message":"temperature must be non-negative, got -1.0.","type":"BadRequestError","param":null,"code":400})";
  HttpResponse resp = Chat(400, body);
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(resp.body, body);
  EXPECT_EQ(resp.Header("x-infergate-degraded"), "");
  auto stats = long_->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests, 0);
}

TEST_F(ErrorClassFallbacks, TheAnswerNamesTheRequestedModel) {
  // The backend answers as llama-8b; the client asked for chat-alias and sees that name in the
  // body and in each event (the body's length changes: it goes out chunked).
  HttpClient c(gw_->port());
  HttpResponse plain =
      c.Post("/v1/chat/completions",
             R"({"model":"chat-alias","messages":[{"role":"user","content":"hi"}]})",
             {{"content-type", "application/json"}});
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_TRUE(JsonValid(plain.body)) << plain.body;
  EXPECT_EQ(JsonString(plain.body, "/model"), "chat-alias");
  EXPECT_EQ(JsonString(plain.body, "/object"), "chat.completion");
  HttpResponse streamed =
      c.Post("/v1/chat/completions",
             R"({"model":"chat-alias","stream":true,"messages":[{"role":"user","content":"hi"}]})",
             {{"content-type", "application/json"}});
  std::string why;
  auto stream = ParseChatStream(streamed.body, &why);
  ASSERT_TRUE(stream) << why << "\n" << streamed.body;
  EXPECT_EQ(stream->model, "chat-alias");
  EXPECT_GT(stream->chunks, 1u);
  EXPECT_EQ(streamed.body.find("llama-8b"), std::string::npos) << streamed.body;
  // response_model: backend (the default) leaves the backend's name.
  HttpResponse backend =
      c.Post("/v1/chat/completions",
             R"({"model":"other-alias","messages":[{"role":"user","content":"hi"}]})",
             {{"content-type", "application/json"}});
  ASSERT_EQ(backend.status, 200) << backend.body;
  EXPECT_EQ(JsonString(backend.body, "/model"), "llama-8b");
  EXPECT_NE(backend.Header("content-length"), "");
}

}  // namespace
}  // namespace infergate::testing
