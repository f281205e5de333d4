// Integration: routing by model, path, header and host; model rewrite; forwarded headers;
// weighted splits; request bodies; keep-alive and pipelining. Real binaries on loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <thread>

#include "support/gateway.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

std::unique_ptr<MockServer> StartMock(const std::string& id, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--id", id, "--model", "mock-model", "--tokens", "4"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto m = MockServer::Start(args);
  EXPECT_TRUE(m) << "mock " << id << " did not start";
  return m;
}

// Probes open connections of their own; tests that count the mock's connections turn them off.
constexpr const char* kNoProbes = "    health_check: false\n";

void ExpectOpenAiError(const HttpResponse& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_TRUE(JsonValid(r.body)) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code"), code) << r.body;
  EXPECT_TRUE(JsonString(r.body, "/error/message").has_value()) << r.body;
  EXPECT_TRUE(JsonString(r.body, "/error/type").has_value()) << r.body;
  EXPECT_TRUE(JsonIsNull(r.body, "/error/param")) << r.body;
  EXPECT_FALSE(r.Header("x-request-id").empty());
  EXPECT_EQ(r.Header("content-type"), "application/json");
}

class RoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = StartMock("a");
    b_ = StartMock("b");
    c_ = StartMock("c");
    ASSERT_TRUE(a_ && b_ && c_);
    std::string yaml =
        "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
        "admin:\n  listen: 127.0.0.1:0\n"
        "pools:\n" +
        PoolYaml("a", {a_->address()}, kNoProbes) + PoolYaml("b", {b_->address()}, kNoProbes) +
        PoolYaml("c", {c_->address()}, kNoProbes) +
        R"(routes:
  - name: research
    match: {path_prefix: /v1/, headers: {x-team: research}}
    to: c
  - name: small-host
    match: {host: "*.small.test"}
    to: b
  - name: big
    match: {path: /v1/chat/completions, methods: [POST], model: [llama-70b, "llama-3.1-70b*"]}
    to: a
    rewrite_model: mock-model
  - name: small
    match: {path: /v1/chat/completions, model: [llama-8b]}
    to: b
    rewrite_model: mock-model
  - name: passthrough
    match: {path: /v1/completions}
    to: a
  - name: models
    match: {path: /v1/models, methods: [GET]}
    to: a
)";
    std::string why;
    gw_ = Gateway::Start(yaml, {}, &why);
    ASSERT_TRUE(gw_) << why;
  }

  std::unique_ptr<MockServer> a_, b_, c_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(RoutingTest, RoutesByModelPathHeaderAndHost) {
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  auto r = c.Post("/v1/chat/completions", ChatBody("llama-70b"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-mock-server"), "a");
  r = c.Post("/v1/chat/completions", ChatBody("llama-3.1-70b-instruct"));
  EXPECT_EQ(r.Header("x-mock-server"), "a") << r.body;
  r = c.Post("/v1/chat/completions", ChatBody("llama-8b"));
  EXPECT_EQ(r.Header("x-mock-server"), "b") << r.body;
  r = c.Post("/v1/chat/completions", ChatBody("llama-70b"), {{"X-Team", "research"}});
  EXPECT_EQ(r.Header("x-mock-server"), "c");
  r = c.Request("POST", "/v1/chat/completions", {{"Host", "api.small.test:8080"}},
                ChatBody("mock-model"));
  EXPECT_EQ(r.Header("x-mock-server"), "b");
  // GET /v1/models is the gateway's own answer, whatever route matches it (models_test.cc).
  r = c.Get("/v1/models");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("x-mock-server"), "");
  EXPECT_EQ(JsonString(r.body, "/object"), "list") << r.body;
}

TEST_F(RoutingTest, UnmatchedRequestsGetOpenAiShaped404) {
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  auto r = c.Post("/v1/chat/completions", ChatBody("gpt-9"));
  ExpectOpenAiError(r, 404, "model_not_found");
  EXPECT_NE(JsonString(r.body, "/error/message")->find("gpt-9"), std::string::npos);
  r = c.Post("/v1/models", "{}");  // GET only: 405 with the methods it takes
  ExpectOpenAiError(r, 405, "method_not_allowed");
  EXPECT_EQ(r.Header("allow"), "GET");
  r = c.Get("/nothing/here");
  ExpectOpenAiError(r, 404, "route_not_found");
  // The connection survives client errors.
  r = c.Post("/v1/chat/completions", ChatBody("llama-8b"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(b_->Stats()->requests, 1);
}

TEST_F(RoutingTest, MalformedJsonOnAModelRouteIs400AndNothingIsForwarded) {
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  for (const char* body :
       {R"({"model":"llama-70b",)", "[1,2,3]", R"({"model":"a","model":"llama-70b"})",
        R"({"model": 42})", "not json"}) {
    auto r = c.Post("/v1/chat/completions", body);
    ExpectOpenAiError(r, 400, "invalid_json");
  }
  EXPECT_EQ(a_->Stats()->requests + b_->Stats()->requests + c_->Stats()->requests, 0);
  // A route that does not need the model forwards any body untouched.
  auto r = c.Post("/v1/completions", "not json at all", {{"x-mock-echo", "1"}});
  EXPECT_EQ(r.Header("x-mock-server"), "a");
  EXPECT_EQ(a_->Stats()->last_request->body, "not json at all");
}

TEST_F(RoutingTest, RewriteModelSplicesTheBodyAndFixesContentLength) {
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  std::string body =
      R"({ "messages": [{"role":"user","content":"say \"model\": x","model":"nested"}],
  "model" : "llama-70b", "temperature": 0.5, "stream": false })";
  auto r = c.Post("/v1/chat/completions", body, {{"x-mock-echo", "1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto stats = a_->Stats();
  ASSERT_TRUE(stats && stats->last_request);
  const std::string& forwarded = stats->last_request->body;
  EXPECT_EQ(JsonString(forwarded, "/model"), "mock-model");
  EXPECT_EQ(JsonString(forwarded, "/messages/0/model"), "nested");
  EXPECT_EQ(JsonString(forwarded, "/messages/0/content"), "say \"model\": x");
  EXPECT_EQ(JsonDouble(forwarded, "/temperature"), 0.5);
  EXPECT_EQ(stats->last_request->Header("content-length"), std::to_string(forwarded.size()));
  EXPECT_EQ(forwarded.size(),
            body.size() - std::string("llama-70b").size() + std::string("mock-model").size());
}

TEST_F(RoutingTest, ForwardsTheRightHeaders) {
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  auto r = c.Post("/v1/chat/completions", ChatBody("llama-70b"),
                  {{"X-Forwarded-For", "10.1.2.3"},
                   {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                   {"Connection", "keep-alive, x-hop"},
                   {"X-Hop", "secret"},
                   {"Keep-Alive", "timeout=5"},
                   {"TE", "trailers"},
                   {"X-Forwarded-Proto", "https-spoofed"},
                   {"Authorization", "Bearer abc"}});
  ASSERT_EQ(r.status, 200);
  auto req = a_->Stats()->last_request;
  ASSERT_TRUE(req);
  EXPECT_EQ(req->Header("x-forwarded-for"), "10.1.2.3, 127.0.0.1");
  EXPECT_EQ(req->Header("x-forwarded-proto"), "http");
  // The same trace, with the gateway's span as the parent (access_log_test.cc has the rest).
  EXPECT_TRUE(std::regex_match(
      req->Header("traceparent"),
      std::regex("00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01")))
      << req->Header("traceparent");
  EXPECT_EQ(req->Header("authorization"), "Bearer abc");
  EXPECT_EQ(req->Header("x-hop"), "");
  EXPECT_EQ(req->Header("keep-alive"), "");
  EXPECT_EQ(req->Header("te"), "");
  EXPECT_EQ(req->Header("host"), a_->address());
  // A generated request id reaches the backend and comes back to the client.
  std::string rid = r.Header("x-request-id");
  EXPECT_TRUE(std::regex_match(rid, std::regex("[0-9a-f]{32}"))) << rid;
  EXPECT_EQ(req->Header("x-request-id"), rid);
  // A client's own id is kept.
  r = c.Post("/v1/chat/completions", ChatBody("llama-70b"), {{"x-request-id", "client-id-123"}});
  EXPECT_EQ(r.Header("x-request-id"), "client-id-123");
  EXPECT_EQ(a_->Stats()->last_request->Header("x-request-id"), "client-id-123");
}

TEST_F(RoutingTest, ChunkedAndExpectContinueBodiesAreForwardedWithLength) {
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  std::string body = ChatBody("llama-8b");
  std::string raw =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  raw += "10\r\n" + body.substr(0, 16) + "\r\n";
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%zx", body.size() - 16);
  raw += std::string(hex) + "\r\n" + body.substr(16) + "\r\n0\r\n\r\n";
  ASSERT_TRUE(c.SendRaw(raw));
  auto r = c.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.body;
  auto req = b_->Stats()->last_request;
  ASSERT_TRUE(req);
  EXPECT_EQ(req->Header("content-length"), std::to_string(req->body.size()));
  EXPECT_EQ(req->Header("transfer-encoding"), "");
  EXPECT_EQ(JsonString(req->body, "/model"), "mock-model");

  // Expect: 100-continue gets an interim 100 before the body is sent.
  std::string head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  ASSERT_TRUE(c.SendRaw(head));
  auto interim = c.ReadHead(Millis(5000));
  EXPECT_EQ(interim.status, 100);
  ASSERT_TRUE(c.SendRaw(body));
  r = c.ReadResponse();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(b_->Stats()->last_request->Header("expect"), "");
}

TEST_F(RoutingTest, KeepAliveReusesUpstreamConnectionsAndPipeliningKeepsOrder) {
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  for (int i = 0; i < 20; ++i) {
    auto r = c.Post("/v1/chat/completions", ChatBody("llama-70b"));
    ASSERT_EQ(r.status, 200);
    ASSERT_FALSE(r.connection_closed);
  }
  EXPECT_EQ(a_->Stats()->connections_accepted, 1);

  std::string one = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ";
  std::string b1 = ChatBody("llama-70b"), b2 = ChatBody("llama-8b");
  ASSERT_TRUE(c.SendRaw(one + std::to_string(b1.size()) + "\r\n\r\n" + b1 + one +
                        std::to_string(b2.size()) + "\r\n\r\n" + b2));
  auto r1 = c.ReadResponse();
  auto r2 = c.ReadResponse();
  EXPECT_EQ(r1.Header("x-mock-server"), "a");
  EXPECT_EQ(r2.Header("x-mock-server"), "b");
}

TEST(WeightedSplit, NinetyTenWithinFivePercentOver10000Requests) {
  auto a = StartMock("a");
  auto b = StartMock("b");
  ASSERT_TRUE(a && b);
  std::string yaml = "listeners:\n  - name: public\n    listen: 127.0.0.1:0\npools:\n" +
                     PoolYaml("a", {a->address()}) + PoolYaml("b", {b->address()}) +
                     R"(routes:
  - name: split
    match: {path: /v1/chat/completions}
    to: [{pool: a, weight: 90}, {pool: b, weight: 10}]
)";
  std::string why;
  auto gw = Gateway::Start(yaml, {}, &why);
  ASSERT_TRUE(gw) << why;
  constexpr int kThreads = 4, kPerThread = 2500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      HttpClient c(gw->port());
      if (!c.Connect()) {
        failures += kPerThread;
        return;
      }
      std::string body = ChatBody("mock-model");
      for (int i = 0; i < kPerThread; ++i) {
        if (c.Post("/v1/chat/completions", body).status != 200) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  double na = static_cast<double>(a->Stats()->requests),
         nb = static_cast<double>(b->Stats()->requests);
  EXPECT_EQ(na + nb, kThreads * kPerThread);
  EXPECT_NEAR(na / (na + nb), 0.90, 0.05) << "a=" << na << " b=" << nb;
  EXPECT_NEAR(nb / (na + nb), 0.10, 0.05);
}

}  // namespace
}  // namespace infergate::testing
