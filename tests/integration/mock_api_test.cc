// Integration: the mock's Responses API and embeddings answers, proxied through the gateway -
// the response object and its typed event stream, float and base64 embeddings, the mock's
// failure injection on both, and its per-model counters.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/gateway.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

class MockApi : public ::testing::Test {
 protected:
  void SetUp() override {
    mock_ = MockServer::Start({"--model", "mock-model", "--model", "embed-model", "--tokens", "3"});
    ASSERT_TRUE(mock_);
    std::string why;
    gw_ = Gateway::Start(
        "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
        "pools:\n  - name: main\n    health_check: {enabled: false}\n    backends: [http://" +
            mock_->address() +
            "]\nroutes:\n  - {name: all, match: {path_prefix: /v1/}, to: main}\n",
        {}, &why);
    ASSERT_TRUE(gw_) << why;
  }
  HttpResponse Post(const std::string& path, const std::string& body, const Headers& extra = {}) {
    HttpClient c(gw_->port());
    Headers headers = {{"content-type", "application/json"}};
    for (const auto& h : extra) headers.push_back(h);
    return c.Post(path, body, headers);
  }
  std::unique_ptr<MockServer> mock_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(MockApi, ResponsesAnswersAResponseObjectThroughTheGateway) {
  auto r = Post("/v1/responses", R"({"model":"mock-model","input":"Hello"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(JsonString(r.body, "/object"), "response");
  EXPECT_EQ(JsonString(r.body, "/status"), "completed");
  EXPECT_EQ(JsonString(r.body, "/model"), "mock-model");
  EXPECT_TRUE(JsonString(r.body, "/id").value_or("").starts_with("resp_")) << r.body;
  EXPECT_EQ(JsonString(r.body, "/output/0/content/0/text"), "tok0 tok1 tok2");
  EXPECT_EQ(JsonInt(r.body, "/usage/output_tokens"), 3);
  auto stats = mock_->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ByModel("mock-model"), 1);
  EXPECT_EQ(stats->last_request->target, "/v1/responses");
}

TEST_F(MockApi, ResponsesStreamsTypedEventsEndingWithCompleted) {
  auto r = Post("/v1/responses", R"({"model":"mock-model","input":"Hello","stream":true})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.Header("content-type"), "text/event-stream");
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
  EXPECT_TRUE(r.body.starts_with("event: response.created\ndata: ")) << r.body;
  size_t deltas = 0;
  for (size_t at = r.body.find("event: response.output_text.delta\n"); at != std::string::npos;
       at = r.body.find("event: response.output_text.delta\n", at + 1)) {
    ++deltas;
  }
  EXPECT_EQ(deltas, 3u);
  const size_t last = r.body.rfind("event: ");
  ASSERT_NE(last, std::string::npos);
  EXPECT_TRUE(r.body.substr(last).starts_with("event: response.completed\n")) << r.body;
  const std::string data = r.body.substr(r.body.find("data: ", last) + 6);
  EXPECT_EQ(JsonInt(data, "/sequence_number"), 10) << data;
  EXPECT_EQ(JsonString(data, "/response/output/0/content/0/text"), "tok0 tok1 tok2");
  auto stats = mock_->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->tokens_streamed, 3);
}

TEST_F(MockApi, EmbeddingsAnswerFloatsOrBase64ThroughTheGateway) {
  auto floats = Post("/v1/embeddings", R"({"model":"embed-model","input":["a","b"]})");
  ASSERT_EQ(floats.status, 200) << floats.body;
  EXPECT_EQ(JsonString(floats.body, "/object"), "list");
  EXPECT_EQ(JsonString(floats.body, "/model"), "embed-model");
  EXPECT_EQ(JsonSize(floats.body, "/data"), 2u);
  EXPECT_EQ(JsonInt(floats.body, "/data/1/index"), 1);
  EXPECT_EQ(JsonSize(floats.body, "/data/0/embedding"), 8u);
  EXPECT_EQ(JsonInt(floats.body, "/usage/prompt_tokens"), 2);
  auto again = Post("/v1/embeddings", R"({"model":"embed-model","input":["a","b"]})");
  EXPECT_EQ(JsonRaw(again.body, "/data"), JsonRaw(floats.body, "/data")) << "deterministic";

  auto b64 =
      Post("/v1/embeddings", R"({"model":"embed-model","input":"a","encoding_format":"base64",)"
                             R"("dimensions":3})");
  ASSERT_EQ(b64.status, 200) << b64.body;
  EXPECT_EQ(JsonString(b64.body, "/data/0/embedding").value_or("").size(), 16u) << b64.body;

  auto missing = Post("/v1/embeddings", R"({"model":"embed-model"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(JsonString(missing.body, "/error/param"), "input") << missing.body;
  auto stats = mock_->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->ByModel("embed-model"), 3) << "a body refused is not counted";
}

TEST_F(MockApi, FailureInjectionAppliesToResponsesAndEmbeddings) {
  auto responses =
      Post("/v1/responses", R"({"model":"mock-model","input":"x"})", {{"x-mock-status", "429"}});
  EXPECT_EQ(responses.status, 429) << responses.body;
  EXPECT_EQ(JsonString(responses.body, "/error/code"), "mock_status");
  ASSERT_TRUE(mock_->SetGauges(R"({"fail_status": 500})"));
  auto embeddings = Post("/v1/embeddings", R"({"model":"embed-model","input":"x"})");
  EXPECT_EQ(embeddings.status, 500) << embeddings.body;
  ASSERT_TRUE(mock_->SetGauges(R"({"fail_status": 0})"));
  EXPECT_EQ(Post("/v1/embeddings", R"({"model":"embed-model","input":"x"})").status, 200);
}

}  // namespace
}  // namespace infergate::testing
