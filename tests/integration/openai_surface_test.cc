// Integration: the OpenAI surface of answers infergate makes itself (issue 15): a request with no
// model, a method a path does not take, error types the SDKs map to their classes, and which
// endpoints a static fallback serves.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "support/gateway.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

class OpenAiSurface : public ::testing::Test {
 protected:
  void SetUp() override {
    mock_ = MockServer::Start();
    ASSERT_TRUE(mock_);
    std::string why;
    gw_ = Gateway::Start(
        "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
        "pools:\n  - name: main\n    health_check: {enabled: false}\n    backends: [http://" +
            mock_->address() +
            "]\nroutes:\n"
            "  - {name: chat, match: {path: /v1/chat/completions, methods: [POST], model: "
            "[mock-model]}, to: main}\n"
            "  - {name: models, match: {path: /v1/models, methods: [GET, HEAD]}, to: main}\n",
        {}, &why);
    ASSERT_TRUE(gw_) << why;
  }
  HttpResponse Send(const std::string& method, const std::string& path, const std::string& body) {
    HttpClient c(gw_->port());
    return c.Request(method, path, {{"content-type", "application/json"}}, body);
  }
  std::unique_ptr<MockServer> mock_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(OpenAiSurface, ARequestWithoutAModelIsA400NamingTheParameter) {
  auto r = Send("POST", "/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/type"), "invalid_request_error") << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/param"), "model") << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code"), "missing_required_parameter") << r.body;
  // A model no route serves is still a 404, as OpenAI's API answers it.
  auto unknown = Send("POST", "/v1/chat/completions", R"({"model":"nope","messages":[]})");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(JsonString(unknown.body, "/error/code"), "model_not_found");
  EXPECT_TRUE(JsonIsNull(unknown.body, "/error/param"));
  auto stats = mock_->Stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests, 0);
}

TEST_F(OpenAiSurface, AMethodThePathDoesNotTakeIsA405WithAllow) {
  auto get = Send("GET", "/v1/chat/completions", "");
  EXPECT_EQ(get.status, 405) << get.body;
  EXPECT_EQ(get.Header("allow"), "POST");
  EXPECT_EQ(JsonString(get.body, "/error/type"), "invalid_request_error");
  auto del = Send("DELETE", "/v1/models", "");
  EXPECT_EQ(del.status, 405) << del.body;
  EXPECT_EQ(del.Header("allow"), "GET, HEAD");
  // A path no route serves at all stays a 404.
  EXPECT_EQ(Send("GET", "/v1/nothing-here", "").status, 404);
}

// A static fallback answers in the shape of the endpoint asked (chat completions, legacy
// completions, the Responses API); it has no embeddings shape, so there it is skipped and the
// client gets the 503, never a 200 of the wrong shape.
TEST(OwnAnswers, AStaticFallbackServesEveryEndpointButEmbeddings) {
  std::string why;
  auto gw = Gateway::Start(
      "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
      "pools:\n  - name: gone\n    health_check: {enabled: false}\n"
      "    backends: [http://127.0.0.1:9]\n"
      "routes:\n  - {name: all, match: {path_prefix: /v1/}, to: gone, retries: 0, "
      "fallbacks: [{static: busy}]}\n",
      {}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  const std::string body =
      R"({"model":"m","input":"hi","prompt":"hi","messages":[{"role":"user","content":"x"}]})";
  const std::pair<const char*, const char*> served[] = {{"/v1/chat/completions", "chat.completion"},
                                                        {"/v1/completions", "text_completion"},
                                                        {"/v1/responses", "response"}};
  for (const auto& [path, object] : served) {
    auto r = c.Post(path, body, {{"content-type", "application/json"}});
    EXPECT_EQ(r.status, 200) << path << " " << r.body;
    EXPECT_EQ(JsonString(r.body, "/object"), object) << r.body;
    EXPECT_FALSE(r.Header("x-infergate-degraded").empty()) << path;
  }
  auto r = c.Post("/v1/embeddings", body, {{"content-type", "application/json"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code"), "fallbacks_failed") << r.body;
  EXPECT_NE(r.body.find("cannot answer /v1/embeddings"), std::string::npos) << r.body;
  EXPECT_TRUE(r.Header("x-infergate-degraded").empty());
}

}  // namespace
}  // namespace infergate::testing
