// Integration: the gguf runner as a route's fallback in the real binary, on tiny llama models
// written by scripts/gguf/gen_gguf.py (f32 and q8_0): answers through the official openai SDK,
// streamed and not; seed reproducibility; max_tokens -> finish_reason length with
// usage.completion_tokens == max_tokens; a client that leaves frees the compartment's only
// thread; and --check-config refusing a truncated model file by name. The generation tests need
// the forward pass (the llm part, INFERGATE_HAVE_LLM) and skip saying so without it; all skip
// when /usr/bin/python3 has no numpy.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "integration/failure_containment_util.h"
#include "integration/gguf_models.h"
#include "support/gateway.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/node_sdk.h"
#include "support/process.h"
#include "support/test_env.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

TEST(GgufRunnerCheckConfig, RefusesATruncatedModelFileNamingIt) {
  if (!GgufModels::Get().ok()) GTEST_SKIP() << "/usr/bin/python3 has no numpy";
  TempFile config(RunnerGatewayYaml(GgufModels::Get().truncated(), "127.0.0.1:1"), ".yaml");
  auto p = Process::Start({BinaryPath("infergate"), "--check-config", "-c", config.path()});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->Wait(20s), 1) << p->Output();
  EXPECT_NE(p->Output().find("runners[0].model_file: model file \"" +
                             GgufModels::Get().truncated() + "\" is not a usable GGUF file"),
            std::string::npos)
      << p->Output();
}

// One gateway per model type, started by the first test that needs it.
class GgufRunnerGateway : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (const std::string why = CannotGenerate(); !why.empty()) GTEST_SKIP() << why;
    auto& gw = gateways_[GetParam()];
    if (!gw) {
      std::string why;
      gw = Gateway::Start(RunnerGatewayYaml(GgufModels::Get().Path(GetParam()),
                                            "127.0.0.1:" + std::to_string(RefusingPort())),
                          {"--workers", "2"}, &why);
      ASSERT_TRUE(gw) << why;
    }
    gw_ = gw.get();
  }
  static void TearDownTestSuite() { gateways_.clear(); }

  HttpResponse Post(const std::string& path, const std::string& body) {
    HttpClient c(gw_->port());
    return c.Post(path, body, {{"content-type", "application/json"}}, 60000ms);
  }
  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(gw_->port()) + "/v1"; }

  Gateway* gw_ = nullptr;
  static inline std::map<std::string, std::unique_ptr<Gateway>> gateways_;
};

// The official SDK gets the runner's answer on each endpoint, streamed and not, with usage.
TEST_P(GgufRunnerGateway, OfficialSdkSeesTheRunnersAnswer) {
  const std::string missing = NodeSdkMissing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  for (const char* kase : {"chat", "completions", "responses"}) {
    for (bool stream : {false, true}) {
      std::string why;
      const std::string options = std::string("{\"model\":\"any\",\"stream\":") +
                                  (stream ? "true" : "false") +
                                  ",\"include_usage\":true,\"extra\":{\"max_tokens\":6}}";
      auto out = RunNodeSdk(kase, BaseUrl(), "key", options, &why);
      ASSERT_TRUE(out) << why;
      EXPECT_EQ(JsonBool(*out, "/ok"), true) << kase << " " << stream << ": " << *out;
      EXPECT_EQ(JsonString(*out, "/model"), "tiny-llama") << *out;
      const bool responses = std::string(kase) == "responses";
      const auto generated =
          JsonInt(*out, responses ? "/usage/output_tokens" : "/usage/completion_tokens");
      ASSERT_TRUE(generated) << *out;
      EXPECT_GE(*generated, 1) << *out;
      EXPECT_LE(*generated, 6) << *out;
      if (!responses) {
        const std::string finish = JsonString(*out, "/finish_reason").value_or("");
        EXPECT_TRUE(finish == "stop" || finish == "length") << *out;
        if (finish == "length") {
          EXPECT_EQ(*generated, 6) << *out;
        }
      }
    }
  }
}

TEST_P(GgufRunnerGateway, SameSeedSameAnswer) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"Tell me a story"}],)"
      R"("temperature":1.0,"seed":1234,"max_tokens":12})";
  const HttpResponse a = Post("/v1/chat/completions", body);
  const HttpResponse b = Post("/v1/chat/completions", body);
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_NE(a.Header("x-infergate-degraded").find("served-by=runner:local"), std::string::npos);
  EXPECT_EQ(JsonString(a.body, "/choices/0/message/content"),
            JsonString(b.body, "/choices/0/message/content"));
  EXPECT_EQ(JsonInt(a.body, "/usage/completion_tokens"),
            JsonInt(b.body, "/usage/completion_tokens"));
}

// Greedy on the generated model runs to max_tokens (the test fails, saying so, if the seeded
// weights ever make EOS the greedy choice within 4 tokens).
TEST_P(GgufRunnerGateway, MaxTokensEndsWithLengthAndCountsThem) {
  const HttpResponse r =
      Post("/v1/completions",
           R"({"model":"m","prompt":"Once upon a time","temperature":0,"max_tokens":4,)"
           R"("logprobs":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonString(r.body, "/choices/0/finish_reason"), "length") << r.body;
  EXPECT_EQ(JsonInt(r.body, "/usage/completion_tokens"), 4) << r.body;
  EXPECT_GT(JsonInt(r.body, "/usage/prompt_tokens").value_or(0), 1) << r.body;
  EXPECT_EQ(JsonSize(r.body, "/choices/0/logprobs/token_logprobs"), 4u) << r.body;
  EXPECT_EQ(JsonSize(r.body, "/choices/0/logprobs/top_logprobs/0"), 2u) << r.body;
}

// The compartment has one thread: a client that leaves mid-stream must free it (the runner stops
// within a token once the channel is cancelled), and the next request is answered.
TEST_P(GgufRunnerGateway, ClientAbortFreesTheThread) {
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"Hello"}],"stream":true,)"
      R"("max_tokens":200})";
  ASSERT_TRUE(
      c.SendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body));
  const HttpResponse head = c.ReadHead(30000ms);
  ASSERT_EQ(head.status, 200);
  c.Abort();
  EXPECT_EQ(gw_->WaitForMetric("infergate_compartment_in_flight", "compartment=\"cpu\"", 0, 30s),
            0.0);
  const HttpResponse next =
      Post("/v1/chat/completions",
           R"({"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":2})");
  EXPECT_EQ(next.status, 200) << next.body;
}

INSTANTIATE_TEST_SUITE_P(Types, GgufRunnerGateway, ::testing::Values("f32", "q8_0"));

}  // namespace
}  // namespace infergate::testing
