// Integration: request and token rate limits, enforced by the real gateway in front of the mock.
// A per-minute limit cannot be waited out in a test: refill is covered with a manual clock in
// tests/unit/isolation/rate_limit_test.cc. Here: the burst then 429 with Retry-After and the
// x-ratelimit-* headers, the headers on a 200 and on the gateway's own errors, tokens charged
// from the mock's usage, shadow mode, a per-key limit, and a route limit across two tenants.
// A limit decided from the head answers before the body arrives (raw bytes: a head announcing a
// body that never comes, Expect: 100-continue).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/gateway.h"
#include "support/h2_client.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

// printf %s acme-key | sha256sum, and the same for hobby-key and acme-key-2.
constexpr const char* kAcmeHash =
    "afacab3575137afa4e00d9cbcafcb14c9ae25f779d964eb0ea5b2c4eb5dfd163";
constexpr const char* kHobbyHash =
    "ae58499cbf96dabd185f72ae281914ffe58af5328ae1902b63682f97bf3fb645";
constexpr const char* kAcme2Hash =
    "be7df782af8078ebf81424068223c4993133431d522b67c61168fd9152097eb7";

const Headers kAcme = {{"authorization", "Bearer acme-key"}};
const Headers kHobby = {{"authorization", "Bearer hobby-key"}};
const Headers kAcme2 = {{"authorization", "Bearer acme-key-2"}};

class RateLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mock_ = MockServer::Start({"--id", "m", "--model", "m"});
    ASSERT_TRUE(mock_);
  }
  // `route_extra`: keys of the chat route (e.g. its limits); `tenants`: the tenants list.
  std::string Yaml(const std::string& tenants, const std::string& route_extra = "") const {
    return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n    require_api_key: true\n"
           "admin:\n  listen: 127.0.0.1:0\npools:\n" +
           PoolYaml("main", {mock_->address()}, "    health_check: {enabled: false}\n") +
           "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n" + route_extra +
           "tenants:\n" + tenants;
  }
  void Start(const std::string& tenants, const std::string& route_extra = "") {
    std::string why;
    gw_ = Gateway::Start(Yaml(tenants, route_extra), {}, &why);
    ASSERT_TRUE(gw_) << why;
  }
  static std::string Tenant(const std::string& name, const std::string& keys,
                            const std::string& limits) {
    return "  - name: " + name + "\n    api_keys_sha256: [" + keys + "]\n    limits: " + limits +
           "\n";
  }

  std::unique_ptr<MockServer> mock_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(RateLimitTest, RequestLimitAdmitsTheBurstThenRefusesWithRetryAfterAndHeaders) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 30}")));
  HttpClient c(gw_->port());
  for (int i = 0; i < 30; ++i) {
    HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
    ASSERT_EQ(r.status, 200) << i << ": " << r.body;
    EXPECT_EQ(r.Header("x-ratelimit-limit-requests"), "30");
    EXPECT_EQ(r.Header("x-ratelimit-remaining-requests"), std::to_string(29 - i));
    if (i == 0) {
      EXPECT_EQ(r.Header("x-ratelimit-reset-requests"), "2s");
    }
    EXPECT_FALSE(r.HasHeader("x-ratelimit-limit-tokens"));  // no token limit applies
  }
  HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
  ASSERT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code").value_or(""), "rate_limit_exceeded");
  EXPECT_EQ(JsonString(r.body, "/error/type").value_or(""), "requests");
  const std::string message = JsonString(r.body, "/error/message").value_or("");
  EXPECT_NE(message.find("tenant acme on requests per minute: limit 30"), std::string::npos)
      << message;
  // The next request is due 2 s after the first one: 1 or 2 whole seconds from now.
  const std::string retry = r.Header("retry-after");
  EXPECT_TRUE(retry == "2" || retry == "1") << retry;
  EXPECT_EQ(r.Header("x-ratelimit-limit-requests"), "30");
  EXPECT_EQ(r.Header("x-ratelimit-remaining-requests"), "0");
  EXPECT_FALSE(r.Header("x-ratelimit-reset-requests").empty());
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_refused_total",
                               R"(tenant="acme",limit="requests",scope="tenant")", 1),
            1);
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_admitted_total", R"(tenant="acme")", 30), 30);
  EXPECT_EQ(gw_->WaitForMetric("infergate_errors_total", R"(kind="rate_limited")", 1), 1);
}

// The key's and the tenant's request limits are decided from the head: over them, a body the
// route would have to parse (its rewrite_model reads the model) is not looked at.
TEST_F(RateLimitTest, OverAHeadLimitTheBodyIsNotParsed) {
  ASSERT_NO_FATAL_FAILURE(
      Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 1}"), "    rewrite_model: m\n"));
  HttpClient c(gw_->port());
  HttpResponse first = c.Post("/v1/chat/completions", "{not json", kAcme);
  EXPECT_EQ(first.status, 400) << first.body;  // parsed, and refused as malformed
  EXPECT_EQ(first.Header("x-ratelimit-remaining-requests"), "0");
  HttpResponse second = c.Post("/v1/chat/completions", "{not json", kAcme);
  EXPECT_EQ(second.status, 429) << second.body;  // refused before the body was read
  EXPECT_EQ(gw_->WaitForMetric("infergate_errors_total", R"(kind="malformed_json")", 1), 1);
}

// A POST head for acme announcing `length` body bytes (none sent), plus `extra` header lines.
std::string AcmeHead(size_t length, const std::string& extra = "") {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer acme-key\r\n"
         "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(length) + "\r\n" + extra + "\r\n";
}

TEST_F(RateLimitTest, OverAHeadLimitTheAnswerDoesNotWaitForTheBody) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 1}") +
                                Tenant("hobby", kHobbyHash, "{requests_per_minute: 5}")));
  HttpClient first(gw_->port());
  ASSERT_EQ(first.Post("/v1/chat/completions", ChatBody("m"), kAcme).status, 200);
  // The head of a large body that never comes: the 429 comes anyway (a gateway that waited for
  // the body would answer 408 after body_timeout, 60 s, long after this read gives up).
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.SendRaw(AcmeHead(8 << 20)));
  HttpResponse r = c.ReadResponse();
  ASSERT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code").value_or(""), "rate_limit_exceeded");
  EXPECT_FALSE(r.Header("retry-after").empty());
  EXPECT_EQ(r.Header("x-ratelimit-limit-requests"), "1");
  EXPECT_EQ(r.Header("x-ratelimit-remaining-requests"), "0");
  // A body over 256 KiB is not waited for and skipped: the connection ends with the answer.
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_TRUE(c.IsClosedByPeer(Millis(10000)));
  // A new connection is served.
  HttpClient next(gw_->port());
  HttpResponse ok = next.Post("/v1/chat/completions", ChatBody("m"), kHobby);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(gw_->WaitForMetric("infergate_errors_total", R"(kind="rate_limited")", 1), 1);
}

TEST_F(RateLimitTest, Expect100ContinueGetsTheRefusalInsteadOf100) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 1}")));
  const std::string body = ChatBody("m");
  // Under the limit the body is wanted: 100 Continue, then the answer.
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.SendRaw(AcmeHead(body.size(), "Expect: 100-continue\r\n")));
  HttpResponse interim = c.ReadHead();
  ASSERT_EQ(interim.status, 100);
  ASSERT_TRUE(c.SendRaw(body));
  HttpResponse ok = c.ReadResponse();
  ASSERT_EQ(ok.status, 200) << ok.body;
  // Over it: the 429 is the first answer, and no 100 follows.
  ASSERT_TRUE(c.SendRaw(AcmeHead(4096, "Expect: 100-continue\r\n")));
  HttpResponse head = c.ReadHead();
  ASSERT_EQ(head.status, 429);
  c.ReadBody(&head);
  EXPECT_EQ(JsonString(head.body, "/error/code").value_or(""), "rate_limit_exceeded");
  EXPECT_FALSE(head.Header("retry-after").empty());
  EXPECT_EQ(head.Header("x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(head.Header("connection"), "close");
  EXPECT_TRUE(c.IsClosedByPeer(Millis(10000)));
}

TEST_F(RateLimitTest, ARefusedRequestsSmallBodyIsSkippedAsItArrivesAndTheConnectionKept) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 1}") +
                                Tenant("hobby", kHobbyHash, "{requests_per_minute: 5}")));
  HttpClient c(gw_->port());
  ASSERT_EQ(c.Post("/v1/chat/completions", ChatBody("m"), kAcme).status, 200);
  // The 429 comes on the head alone; the body, sent afterwards in two pieces, is dropped and
  // the next request on the same connection is served.
  const std::string body = ChatBody("m") + std::string(4096, ' ');
  HttpClient k(gw_->port());
  ASSERT_TRUE(k.Connect());
  ASSERT_TRUE(k.SendRaw(AcmeHead(body.size())));
  HttpResponse refused = k.ReadResponse();
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_FALSE(refused.HasHeader("connection"));
  ASSERT_TRUE(k.SendRaw(body.substr(0, 1000)));
  ASSERT_TRUE(k.SendRaw(body.substr(1000)));
  ASSERT_TRUE(k.connected());
  HttpResponse ok = k.Post("/v1/chat/completions", ChatBody("m"), kHobby);
  EXPECT_EQ(ok.status, 200) << ok.body;
  // And a refused head with its body in the same write.
  ASSERT_TRUE(k.SendRaw(AcmeHead(body.size()) + body));
  EXPECT_EQ(k.ReadResponse().status, 429);
  EXPECT_EQ(k.Post("/v1/chat/completions", ChatBody("m"), kHobby).status, 200);
}

TEST_F(RateLimitTest, HeadersOnA200AndOnTheGatewaysOwnErrors) {
  ASSERT_NO_FATAL_FAILURE(
      Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 600, tokens_per_minute: 100000}")));
  HttpClient c(gw_->port());
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"Hello"}],)"
                           R"("max_tokens":20})";
  HttpResponse r = c.Post("/v1/chat/completions", body, kAcme);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-ratelimit-limit-requests"), "600");
  EXPECT_EQ(r.Header("x-ratelimit-remaining-requests"), "599");
  EXPECT_EQ(r.Header("x-ratelimit-reset-requests"), "100ms");
  EXPECT_EQ(r.Header("x-ratelimit-limit-tokens"), "100000");
  // The estimate: ceil(35 bytes of messages / 4) + max_tokens 20 = 29.
  EXPECT_EQ(r.Header("x-ratelimit-remaining-tokens"), "99971");
  EXPECT_FALSE(r.Header("x-ratelimit-reset-tokens").empty());
  // A route the gateway does not know: its own 404 still reports the limits.
  HttpResponse missing = c.Post("/elsewhere", "{}", kAcme);
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(missing.Header("x-ratelimit-limit-requests"), "600");
  EXPECT_EQ(missing.Header("x-ratelimit-remaining-requests"), "598");
}

TEST_F(RateLimitTest, TokensChargedFromTheMocksUsage) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant("acme", kAcmeHash, "{tokens_per_minute: 1000}")));
  HttpClient c(gw_->port());
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"Hello"}],)"
                           R"("max_tokens":10})";
  const uint64_t estimate = (35 + 3) / 4 + 10;  // 19
  const uint64_t prompt = body.size() / 4 + 1;  // what the mock reports
  Headers headers = kAcme;
  headers.push_back({"x-mock-tokens", "400"});
  HttpResponse first = c.Post("/v1/chat/completions", body, headers);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.Header("x-ratelimit-remaining-tokens"), std::to_string(1000 - estimate));
  EXPECT_EQ(JsonInt(first.body, "/usage/completion_tokens"), 400);
  // The first answer's real usage replaced its estimate before the second was admitted.
  HttpResponse second = c.Post("/v1/chat/completions", body, headers);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.Header("x-ratelimit-remaining-tokens"),
            std::to_string(1000 - (prompt + 400) - estimate));
  // Third: 166 left for an estimate of 19: admitted, and its real 417 puts the tenant in debt.
  HttpResponse third = c.Post("/v1/chat/completions", body, headers);
  ASSERT_EQ(third.status, 200) << third.body;
  HttpResponse refused = c.Post("/v1/chat/completions", body, headers);
  ASSERT_EQ(refused.status, 429) << refused.body;
  const std::string message = JsonString(refused.body, "/error/message").value_or("");
  EXPECT_NE(message.find("on tokens per minute: limit 1000"), std::string::npos) << message;
  EXPECT_EQ(refused.Header("x-ratelimit-remaining-tokens"), "0");
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_tokens_charged_total", R"(tenant="acme")",
                               static_cast<double>(3 * (prompt + 400))),
            static_cast<double>(3 * (prompt + 400)));
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_refused_total",
                               R"(tenant="acme",limit="tokens",scope="tenant")", 1),
            1);
}

TEST_F(RateLimitTest, StreamsAreChargedTheirUsageAndACutStreamWhatWasSent) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant("acme", kAcmeHash, "{tokens_per_minute: 100000}")));
  // A stream whose client did not ask for usage: the gateway asks, and charges the usage event.
  const std::string body = ChatBody("m", /*stream=*/true);
  Headers headers = kAcme;
  headers.push_back({"x-mock-tokens", "400"});
  HttpClient c(gw_->port());
  HttpResponse r = c.Post("/v1/chat/completions", body, headers);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_NE(r.body.find("data: [DONE]"), std::string::npos);
  // The mock counts the prompt of the body it got (with stream_options added by the gateway).
  const std::string sent = R"({"model":"m","messages":[{"role":"user","content":"Hello"}],)"
                           R"("stream":true,"stream_options":{"include_usage":true}})";
  const double full = static_cast<double>(sent.size() / 4 + 1 + 400);
  EXPECT_EQ(
      gw_->WaitForMetric("infergate_rate_limit_tokens_charged_total", R"(tenant="acme")", full),
      full);
  // A long stream the client leaves after its head: charged far less than its 100000 tokens.
  HttpClient cut(gw_->port());
  ASSERT_TRUE(cut.Connect());
  ASSERT_TRUE(cut.SendRaw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer acme-key\r\n"
      "x-mock-tokens: 100000\r\nx-mock-token-interval-ms: 1\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body));
  HttpResponse head = cut.ReadHead();
  ASSERT_EQ(head.status, 200);
  cut.Close();
  EXPECT_EQ(gw_->WaitForMetric("infergate_errors_total", R"(kind="client_abort")", 1), 1);
  const std::optional<double> charged =
      gw_->Metric("infergate_rate_limit_tokens_charged_total", R"(tenant="acme")");
  ASSERT_TRUE(charged);
  EXPECT_GT(*charged, full);
  EXPECT_LT(*charged, full + 100000);
}

TEST_F(RateLimitTest, ShadowModeRefusesNothingAndCounts) {
  ASSERT_NO_FATAL_FAILURE(
      Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 2, shadow: true}")));
  HttpClient c(gw_->port());
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
    ASSERT_EQ(r.status, 200) << i << ": " << r.body;
    EXPECT_EQ(r.Header("x-ratelimit-limit-requests"), "2");
    EXPECT_EQ(r.Header("x-ratelimit-remaining-requests"), i == 0 ? "1" : "0") << i;
  }
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_shadow_refused_total",
                               R"(tenant="acme",limit="requests",scope="tenant")", 3),
            3);
  EXPECT_EQ(gw_->Metric("infergate_rate_limit_refused_total",
                        R"(tenant="acme",limit="requests",scope="tenant")"),
            0);
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_admitted_total", R"(tenant="acme")", 5), 5);
}

TEST_F(RateLimitTest, AKeyWithItsOwnLimitAndOneThatInheritsTheTenants) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant(
      "acme",
      std::string("{sha256: ") + kAcmeHash + ", limits: {requests_per_minute: 2}}, " + kAcme2Hash,
      "{requests_per_minute: 100}")));
  HttpClient c(gw_->port());
  for (int i = 0; i < 2; ++i) {
    HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-ratelimit-limit-requests"), "2");  // the key's: the tightest
  }
  HttpResponse refused = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_NE(
      JsonString(refused.body, "/error/message").value_or("").find("this API key (tenant acme)"),
      std::string::npos);
  // The tenant's other key counts against the tenant only (98 left after the key's two).
  HttpResponse other = c.Post("/v1/chat/completions", ChatBody("m"), kAcme2);
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(other.Header("x-ratelimit-limit-requests"), "100");
  EXPECT_EQ(other.Header("x-ratelimit-remaining-requests"), "97");
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_refused_total",
                               R"(tenant="acme",limit="requests",scope="key")", 1),
            1);
}

TEST_F(RateLimitTest, ARouteLimitCountsEveryTenant) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 100}") +
                                    Tenant("hobby", kHobbyHash, "{requests_per_minute: 100}"),
                                "    limits: {requests_per_minute: 4}\n"));
  HttpClient c(gw_->port());
  for (const Headers* who : {&kAcme, &kHobby, &kAcme, &kHobby}) {
    HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m"), *who);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  HttpResponse refused = c.Post("/v1/chat/completions", ChatBody("m"), kHobby);
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_NE(JsonString(refused.body, "/error/message").value_or("").find("route chat"),
            std::string::npos);
  EXPECT_EQ(refused.Header("x-ratelimit-limit-requests"), "4");
  // Every tenant meets the same route limit.
  HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_refused_total",
                               R"(tenant="hobby",limit="requests",scope="route")", 1),
            1);
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_refused_total",
                               R"(tenant="acme",limit="requests",scope="route")", 1),
            1);
}

TEST_F(RateLimitTest, ARouteLimitIsDecidedFromTheHeadWhenTheHeadDecidesTheRoute) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 100}"),
                                "    limits: {requests_per_minute: 1}\n"));
  HttpClient c(gw_->port());
  ASSERT_EQ(c.Post("/v1/chat/completions", ChatBody("m"), kAcme).status, 200);
  HttpClient raw(gw_->port());
  ASSERT_TRUE(raw.Connect());
  ASSERT_TRUE(raw.SendRaw(AcmeHead(1 << 20)));  // no body follows
  HttpResponse r = raw.ReadResponse();
  ASSERT_EQ(r.status, 429) << r.body;
  EXPECT_NE(JsonString(r.body, "/error/message").value_or("").find("route chat"),
            std::string::npos);
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_refused_total",
                               R"(tenant="acme",limit="requests",scope="route")", 1),
            1);
}

TEST_F(RateLimitTest, ARouteLimitBehindARouteOnTheModelIsDecidedAfterTheBody) {
  const std::string yaml =
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n    require_api_key: true\n"
      "admin:\n  listen: 127.0.0.1:0\npools:\n" +
      PoolYaml("main", {mock_->address()}, "    health_check: {enabled: false}\n") +
      "routes:\n  - name: other\n    match: {model: other, path_prefix: /v1/}\n    to: main\n"
      "    rewrite_model: m\n"
      "  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n"
      "    limits: {requests_per_minute: 1}\n"
      "tenants:\n" +
      Tenant("acme", kAcmeHash, "{requests_per_minute: 100}");
  std::string why;
  gw_ = Gateway::Start(yaml, {}, &why);
  ASSERT_TRUE(gw_) << why;
  HttpClient c(gw_->port());
  ASSERT_EQ(c.Post("/v1/chat/completions", ChatBody("m"), kAcme).status, 200);
  HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
  ASSERT_EQ(r.status, 429) << r.body;
  EXPECT_NE(JsonString(r.body, "/error/message").value_or("").find("route chat"),
            std::string::npos);
  EXPECT_EQ(c.Post("/v1/chat/completions", ChatBody("other"), kAcme).status, 200);
}

TEST_F(RateLimitTest, AModelLimitCountsTheModelTheClientAskedFor) {
  ASSERT_NO_FATAL_FAILURE(
      Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 100}") +
            "model_limits:\n  - {model: m, limits: {requests_per_minute: 1}}\n"));
  HttpClient c(gw_->port());
  HttpResponse first = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.Header("x-ratelimit-limit-requests"), "1");
  EXPECT_EQ(first.Header("x-ratelimit-remaining-requests"), "0");
  HttpResponse refused = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_NE(JsonString(refused.body, "/error/message").value_or("").find("model m"),
            std::string::npos);
  // Another model is not counted with it (the mock serves only m: its 404 is relayed).
  HttpResponse other = c.Post("/v1/chat/completions", ChatBody("other"), kAcme);
  EXPECT_EQ(other.status, 404) << other.body;
  EXPECT_EQ(other.Header("x-ratelimit-limit-requests"), "100");
  EXPECT_EQ(gw_->WaitForMetric("infergate_rate_limit_refused_total",
                               R"(tenant="acme",limit="requests",scope="model")", 1),
            1);
}

TEST_F(RateLimitTest, Http2AnswersCarryTheHeadersToo) {
  ASSERT_NO_FATAL_FAILURE(Start(Tenant("acme", kAcmeHash, "{requests_per_minute: 1}")));
  H2Client h2(gw_->port());
  ASSERT_TRUE(h2.connected());
  const Headers headers = {{"authorization", "Bearer acme-key"},
                           {"content-type", "application/json"}};
  const int32_t first = h2.Submit("POST", "/v1/chat/completions", headers, ChatBody("m"));
  ASSERT_TRUE(h2.RunUntil([&] { return h2.streams[first].closed; }));
  const int32_t second = h2.Submit("POST", "/v1/chat/completions", headers, ChatBody("m"));
  ASSERT_TRUE(h2.RunUntil([&] { return h2.streams[second].closed; }));
  EXPECT_EQ(h2.streams[first].status, 200) << h2.streams[first].body;
  EXPECT_EQ(h2.streams[first].Header("x-ratelimit-limit-requests"), "1");
  EXPECT_EQ(h2.streams[first].Header("x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(h2.streams[second].status, 429) << h2.streams[second].body;
  EXPECT_FALSE(h2.streams[second].Header("retry-after").empty());
  EXPECT_EQ(h2.streams[second].Header("x-ratelimit-remaining-requests"), "0");
}

TEST_F(RateLimitTest, AReloadKeepsWhatWasCounted) {
  const std::string acme = Tenant("acme", kAcmeHash, "{requests_per_minute: 2}");
  ASSERT_NO_FATAL_FAILURE(Start(acme));
  HttpClient c(gw_->port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(c.Post("/v1/chat/completions", ChatBody("m"), kAcme).status, 200);
  }
  ASSERT_TRUE(
      gw_->RewriteConfig(Yaml(acme + Tenant("hobby", kHobbyHash, "{requests_per_minute: 2}"))));
  ASSERT_EQ(gw_->AdminReload().status, 200);
  HttpResponse hobby = c.Post("/v1/chat/completions", ChatBody("m"), kHobby);
  EXPECT_EQ(hobby.status, 200) << hobby.body;  // the new config is in force
  HttpResponse r = c.Post("/v1/chat/completions", ChatBody("m"), kAcme);
  EXPECT_EQ(r.status, 429) << r.body;  // acme's two requests are still counted
  EXPECT_EQ(r.Header("x-ratelimit-limit-requests"), "2");
}

}  // namespace
}  // namespace infergate::testing
