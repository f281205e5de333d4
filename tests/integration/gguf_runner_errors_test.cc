// Integration: a request the gguf runner refuses as invalid (a prompt longer than its context, a
// parameter out of range) gets OpenAI's 400 invalid_request_error with the parameter and code
// (context_length_exceeded, invalid_value) when the runner is what answers, in the real binary:
// the runner as the last step, two runners that both refuse it, a later step that answers (200)
// and a later step that fails otherwise (the chain's 503); and the official SDK's
// BadRequestError. Needs the forward pass (INFERGATE_HAVE_LLM) and numpy, skipping otherwise.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "integration/gguf_models.h"
#include "support/gateway.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/node_sdk.h"
#include "support/test_env.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kStaticText = "The local model cannot take this request.";

// Routes by model: `last` has the runner as its only fallback, `two` two runners of the same
// file, `then-static` a static answer after the runner, `then-gone` a dead pool after it.
std::string Yaml(const std::string& model_file, const std::string& dead) {
  const std::string runner =
      ", kind: gguf, compartment: cpu, model: tiny-llama, max_tokens: 8,\n"
      "     model_file: \"" +
      model_file + "\"}\n";
  const std::string route = "    to: gone\n    retries: 0\n";
  return "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
         "admin:\n  listen: 127.0.0.1:0\n"
         "compartments:\n"
         "  - {name: cpu, max_concurrent: 4, thread_pool: {threads: 1, queue: 4}}\n"
         "runners:\n  - {name: local" +
         runner + "  - {name: other" + runner +
         "pools:\n"
         "  - name: gone\n    health_check: {enabled: false}\n    backends: [http://" +
         dead + "]\n  - name: gone2\n    health_check: {enabled: false}\n    backends: [http://" +
         dead +
         "]\n"
         "routes:\n"
         "  - name: two\n    match: {model: two}\n" +
         route + "    fallbacks: [{runner: local}, {runner: other}]\n" +
         "  - name: then-static\n    match: {model: then-static}\n" + route +
         "    fallbacks: [{runner: local}, {static: \"" + kStaticText + "\"}]\n" +
         "  - name: then-gone\n    match: {model: then-gone}\n" + route +
         "    fallbacks: [{runner: local}, {pool: gone2}]\n" + "  - name: last\n" + route +
         "    fallbacks: [{runner: local}]\n";
}

// A prompt of far more tokens than the model's context of 256.
std::string LongText() {
  std::string text;
  for (int i = 0; i < 600; ++i) text += "Hello world ";
  return text;
}

class GgufRunnerErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = CannotGenerate(); !why.empty()) GTEST_SKIP() << why;
    if (!gw_) {
      std::string why;
      dead_ = "127.0.0.1:" + std::to_string(RefusingPort());
      gw_ = Gateway::Start(Yaml(GgufModels::Get().Path("f32"), dead_), {"--workers", "1"}, &why);
      ASSERT_TRUE(gw_) << why;
    }
  }
  static void TearDownTestSuite() { gw_.reset(); }

  static HttpResponse Post(const std::string& path, const std::string& body) {
    HttpClient c(gw_->port());
    return c.Post(path, body, {{"content-type", "application/json"}}, 60000ms);
  }
  static std::string Chat(const std::string& model, const std::string& content,
                          const std::string& extra = "") {
    return R"({"model":")" + model + R"(","messages":[{"role":"user","content":")" + content +
           R"("}])" + extra + "}";
  }
  // OpenAI's 400 with `param` and `code`, the request id as the gateway's other errors carry it,
  // and no address of the gateway's own backends.
  void ExpectInvalid(const HttpResponse& r, const std::string& param, const std::string& code) {
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_EQ(JsonString(r.body, "/error/type"), "invalid_request_error") << r.body;
    EXPECT_EQ(JsonString(r.body, "/error/param"), param) << r.body;
    EXPECT_EQ(JsonString(r.body, "/error/code"), code) << r.body;
    EXPECT_FALSE(r.Header("x-request-id").empty());
    EXPECT_EQ(JsonString(r.body, "/error/request_id"), r.Header("x-request-id")) << r.body;
    EXPECT_EQ(r.body.find("127.0.0.1"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(dead_), std::string::npos) << r.body;
  }

  static inline std::unique_ptr<Gateway> gw_;
  static inline std::string dead_;
};

TEST_F(GgufRunnerErrors, PromptLongerThanTheContextIs400ContextLengthExceeded) {
  const HttpResponse chat = Post("/v1/chat/completions", Chat("m", LongText()));
  ExpectInvalid(chat, "messages", "context_length_exceeded");
  EXPECT_NE(JsonString(chat.body, "/error/message")
                .value_or("")
                .find("This model's maximum context length is 256 tokens"),
            std::string::npos)
      << chat.body;
  // Streamed: refused before the first piece, so the same 400 (no event stream).
  ExpectInvalid(Post("/v1/chat/completions", Chat("m", LongText(), R"(,"stream":true)")),
                "messages", "context_length_exceeded");
  ExpectInvalid(Post("/v1/completions", R"({"model":"m","prompt":")" + LongText() + R"("})"),
                "prompt", "context_length_exceeded");
  ExpectInvalid(Post("/v1/responses", R"({"model":"m","input":")" + LongText() + R"("})"), "input",
                "context_length_exceeded");
}

TEST_F(GgufRunnerErrors, ParameterOutOfRangeIs400InvalidValueNamingIt) {
  const HttpResponse r = Post("/v1/chat/completions", Chat("m", "Hi", R"(,"temperature":5)"));
  ExpectInvalid(r, "temperature", "invalid_value");
  EXPECT_EQ(JsonString(r.body, "/error/message"), "temperature must be a number in 0..2") << r.body;
  ExpectInvalid(Post("/v1/chat/completions", Chat("m", "Hi", R"(,"n":3)")), "n", "invalid_value");
}

TEST_F(GgufRunnerErrors, EveryStepRefusingItAsInvalidIs400) {
  ExpectInvalid(Post("/v1/chat/completions", Chat("two", LongText())), "messages",
                "context_length_exceeded");
}

// Too long for the local model is no reason to stop: a later step answers it.
TEST_F(GgufRunnerErrors, ALaterStepStillAnswers) {
  const HttpResponse r = Post("/v1/chat/completions", Chat("then-static", LongText()));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonString(r.body, "/choices/0/message/content"), kStaticText) << r.body;
}

// A later step that fails for another reason might have answered the request: the chain's 503,
// whose message names the runner's refusal.
TEST_F(GgufRunnerErrors, ALaterStepFailingOtherwiseIsTheChains503) {
  const HttpResponse r = Post("/v1/chat/completions", Chat("then-gone", LongText()));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code"), "fallbacks_failed") << r.body;
  EXPECT_NE(r.body.find("context_length_exceeded"), std::string::npos) << r.body;
}

TEST_F(GgufRunnerErrors, OfficialSdkRaisesBadRequestError) {
  const std::string missing = NodeSdkMissing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  for (bool stream : {false, true}) {
    std::string why;
    const std::string options =
        std::string(R"({"model":"m","stream":)") + (stream ? "true" : "false") +
        R"(,"extra":{"messages":[{"role":"user","content":")" + LongText() + R"("}]}})";
    auto out = RunNodeSdk("chat", "http://127.0.0.1:" + std::to_string(gw_->port()) + "/v1", "key",
                          options, &why);
    ASSERT_TRUE(out) << why;
    EXPECT_EQ(JsonBool(*out, "/ok"), false) << *out;
    EXPECT_EQ(JsonString(*out, "/error_class"), "BadRequestError") << *out;
    EXPECT_EQ(JsonInt(*out, "/status"), 400) << *out;
    EXPECT_EQ(JsonString(*out, "/code"), "context_length_exceeded") << *out;
    EXPECT_EQ(JsonString(*out, "/type"), "invalid_request_error") << *out;
    EXPECT_EQ(JsonString(*out, "/param"), "messages") << *out;
  }
}

}  // namespace
}  // namespace infergate::testing
