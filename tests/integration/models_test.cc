// Integration: the gateway's own GET /v1/models and /v1/models/{id}: route names, the models
// each pool's backends report mapped back through rewrites, dedupe, a configured list, ids with
// '/', 404s, HEAD, HTTP/2, authentication, and a reload that keeps and updates the list.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "integration/failure_containment_util.h"
#include "support/gateway.h"
#include "support/h2_client.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

// sha256("tenant-key"), as `printf %s tenant-key | sha256sum` prints it.
constexpr const char* kTenantKeyHash =
    "5c3c107fd162b818601ac73cf4ac41d98bcf1c4c77f844a1f7877cbb7ee8bcdd";

std::unique_ptr<MockServer> StartMock(const std::string& id, std::vector<std::string> models) {
  std::vector<std::string> args = {"--id", id};
  for (const std::string& m : models) {
    args.push_back("--model");
    args.push_back(m);
  }
  auto m = MockServer::Start(args);
  EXPECT_TRUE(m) << "mock " << id << " did not start";
  return m;
}

constexpr const char* kNoProbes = "    health_check: {enabled: false}\n";

std::string Head(const std::string& listener_extra = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n" + listener_extra +
         "admin:\n  listen: 127.0.0.1:0\n";
}

// The routes of the main test config: an alias rewritten to the backend's name, globs that
// admit some of pool a's models, and a catch-all to pool b.
constexpr const char* kRoutes = R"(routes:
  - name: alias
    match: {path: /v1/chat/completions, model: [alias]}
    to: a
    rewrite_model: backend-name
  - name: llama
    match: {path: /v1/chat/completions, model: ["meta-llama/*", "shared-*"]}
    to: a
  - name: rest
    match: {path_prefix: /v1/}
    to: b
)";

// "id:owned_by" of each listed model, in order; empty when the body is not a model list.
std::vector<std::string> Listed(const std::string& body) {
  std::vector<std::string> out;
  if (JsonString(body, "/object") != "list") return out;
  const size_t n = JsonSize(body, "/data").value_or(0);
  for (size_t i = 0; i < n; ++i) {
    const std::string at = "/data/" + std::to_string(i);
    EXPECT_EQ(JsonString(body, at + "/object"), "model") << body;
    EXPECT_TRUE(JsonInt(body, at + "/created").has_value()) << body;
    out.push_back(JsonString(body, at + "/id").value_or("?") + ":" +
                  JsonString(body, at + "/owned_by").value_or("?"));
  }
  return out;
}

// Asks GET /v1/models until its list is `want` (the backends are polled at start and after a
// reload, asynchronously). Returns the last list seen.
std::vector<std::string> WaitForList(uint16_t port, const std::vector<std::string>& want,
                                     const Headers& headers = {}) {
  HttpClient c(port);
  std::vector<std::string> got;
  containment::WaitUntil(
      [&] {
        got = Listed(c.Get("/v1/models", headers).body);
        return got == want;
      },
      10s);
  return got;
}

const std::vector<std::string> kMainList = {"alias:a", "b-only:b", "meta-llama/Llama-3-8B:a",
                                            "shared-model:a"};

class ModelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = StartMock("a", {"backend-name", "shared-model", "meta-llama/Llama-3-8B"});
    b_ = StartMock("b", {"b-only", "shared-model"});
    ASSERT_TRUE(a_ && b_);
  }

  // Polls at start and after a reload that adds a pool, not again during a test.
  std::string MainYaml(const std::string& listener_extra = "", const std::string& tail = "",
                       const std::string& models = "models: {refresh: 1h}\n") {
    return Head(listener_extra) + "pools:\n" + PoolYaml("a", {a_->address()}, kNoProbes) +
           PoolYaml("b", {b_->address()}, kNoProbes) + kRoutes + tail + models;
  }

  std::unique_ptr<MockServer> a_, b_;
};

TEST_F(ModelsTest, ListsRouteNamesAndReportedModelsThroughRewrites) {
  std::string why;
  auto gw = Gateway::Start(MainYaml(), {}, &why);
  ASSERT_TRUE(gw) << why;
  // alias: a route name (its backend's name is not listed: only the rewriting route reaches
  // it); b-only: pool b's; shared-model: reported by both, owned by the first (pool a);
  // meta-llama/...: pool a's, admitted by a glob. Sorted by id.
  EXPECT_EQ(WaitForList(gw->port(), kMainList), kMainList);

  HttpClient c(gw->port());
  HttpResponse r = c.Get("/v1/models");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_FALSE(r.Header("x-request-id").empty());
  EXPECT_EQ(r.Header("x-mock-server"), "");  // the gateway's answer, not a backend's

  // The alias works: the backend gets its own name.
  r = c.Post("/v1/chat/completions", ChatBody("alias"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-mock-server"), "a");
  auto stats = a_->Stats();
  ASSERT_TRUE(stats && stats->last_request);
  EXPECT_EQ(JsonString(stats->last_request->body, "/model"), "backend-name");
}

TEST_F(ModelsTest, OneModelByIdWithSlashAndPercentEncodingAnd404) {
  std::string why;
  auto gw = Gateway::Start(MainYaml(), {}, &why);
  ASSERT_TRUE(gw) << why;
  ASSERT_EQ(WaitForList(gw->port(), kMainList), kMainList);
  HttpClient c(gw->port());
  for (const char* path : {"/v1/models/meta-llama/Llama-3-8B", "/v1/models/meta-llama%2FLlama-3-8B",
                           "/v1/models/meta-llama%2fLlama-3-8B"}) {
    HttpResponse r = c.Get(path);
    EXPECT_EQ(r.status, 200) << path << " " << r.body;
    EXPECT_EQ(JsonString(r.body, "/id"), "meta-llama/Llama-3-8B") << r.body;
    EXPECT_EQ(JsonString(r.body, "/object"), "model") << r.body;
    EXPECT_EQ(JsonString(r.body, "/owned_by"), "a") << r.body;
    EXPECT_TRUE(JsonInt(r.body, "/created").has_value()) << r.body;
  }
  HttpResponse r = c.Get("/v1/models/alias");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonString(r.body, "/owned_by"), "a") << r.body;

  // Reported by pool a but reachable only through the rewrite: not a name a client can send.
  r = c.Get("/v1/models/backend-name", {{"x-request-id", "req-404"}});
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code"), "model_not_found") << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/type"), "invalid_request_error") << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/param"), "model") << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/request_id"), "req-404") << r.body;
  EXPECT_NE(JsonString(r.body, "/error/message").value_or("").find("`backend-name` does not exist"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(r.Header("x-request-id"), "req-404");

  // HEAD: the head of the GET answer, no body.
  ASSERT_TRUE(c.SendRaw("HEAD /v1/models HTTP/1.1\r\nHost: a\r\n\r\n"));
  r = c.ReadResponse(10s, /*no_body=*/true);
  EXPECT_EQ(r.status, 200);
  EXPECT_GT(r.content_length, 0);
  EXPECT_TRUE(r.body.empty());
  // Other methods on /v1/models still go to the routes (here: pool b's mock).
  r = c.Request("POST", "/v1/models", {}, "{}");
  EXPECT_EQ(r.Header("x-mock-server"), "b");
}

TEST_F(ModelsTest, Http2) {
  std::string why;
  auto gw = Gateway::Start(MainYaml(), {}, &why);
  ASSERT_TRUE(gw) << why;
  ASSERT_EQ(WaitForList(gw->port(), kMainList), kMainList);
  H2Client h2(gw->port());
  ASSERT_TRUE(h2.connected());
  const int32_t list = h2.Submit("GET", "/v1/models");
  const int32_t one = h2.Submit("GET", "/v1/models/meta-llama%2FLlama-3-8B");
  const int32_t missing = h2.Submit("GET", "/v1/models/nope");
  ASSERT_TRUE(h2.RunUntil([&] {
    return h2.streams[list].closed && h2.streams[one].closed && h2.streams[missing].closed;
  }));
  EXPECT_EQ(h2.streams[list].status, 200);
  EXPECT_EQ(Listed(h2.streams[list].body), kMainList);
  EXPECT_EQ(h2.streams[one].status, 200);
  EXPECT_EQ(JsonString(h2.streams[one].body, "/id"), "meta-llama/Llama-3-8B");
  EXPECT_EQ(h2.streams[missing].status, 404);
  EXPECT_EQ(JsonString(h2.streams[missing].body, "/error/code"), "model_not_found");
}

TEST_F(ModelsTest, ConfiguredListIsListedExactly) {
  std::string why;
  auto gw = Gateway::Start(MainYaml("", "",
                                    "models:\n  list:\n    - {id: custom, owned_by: team-x}\n"
                                    "    - meta-llama/Llama-3-8B\n    - nothing-routes\n"),
                           {}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  HttpResponse r = c.Get("/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  // In the configured order; "" owned_by: the first route admitting it (the catch-all to b
  // admits any name).
  EXPECT_EQ(Listed(r.body), (std::vector<std::string>{"custom:team-x", "meta-llama/Llama-3-8B:a",
                                                      "nothing-routes:b"}));
  EXPECT_EQ(c.Get("/v1/models/alias").status, 404);
  EXPECT_EQ(c.Get("/v1/models/custom").status, 200);
}

TEST_F(ModelsTest, RequiresTheTenantKeyWhereTheListenerDoes) {
  std::string why;
  auto gw = Gateway::Start(
      MainYaml("    require_api_key: true\n",
               std::string("tenants:\n  - {name: t, api_keys_sha256: [") + kTenantKeyHash + "]}\n"),
      {}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  HttpResponse r = c.Get("/v1/models");
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code"), "invalid_api_key") << r.body;
  EXPECT_EQ(c.Get("/v1/models/alias").status, 401);
  const Headers key = {{"authorization", "Bearer tenant-key"}};
  EXPECT_EQ(WaitForList(gw->port(), kMainList, key), kMainList);
}

TEST_F(ModelsTest, ReloadKeepsReportedListsAndPollsAddedPools) {
  std::string why;
  const std::string first = Head() + "pools:\n" + PoolYaml("a", {a_->address()}, kNoProbes) +
                            "routes:\n  - {name: all, match: {path_prefix: /v1/}, to: a}\n"
                            "models: {refresh: 1h}\n";
  auto gw = Gateway::Start(first, {}, &why);
  ASSERT_TRUE(gw) << why;
  const std::vector<std::string> before = {"backend-name:a", "meta-llama/Llama-3-8B:a",
                                           "shared-model:a"};
  ASSERT_EQ(WaitForList(gw->port(), before), before);

  // Pool b is added, and pool a's route changes: pool a's reported list is kept (by pool name,
  // no new poll needed), mapped through the new routes; pool b's is read after the reload.
  ASSERT_TRUE(gw->RewriteConfig(MainYaml()));
  HttpResponse r = gw->AdminReload();
  ASSERT_EQ(r.status, 200) << r.body;
  HttpClient c(gw->port());
  std::vector<std::string> now = Listed(c.Get("/v1/models").body);
  EXPECT_NE(std::find(now.begin(), now.end(), "meta-llama/Llama-3-8B:a"), now.end());
  EXPECT_EQ(std::find(now.begin(), now.end(), "backend-name:a"), now.end());
  EXPECT_EQ(WaitForList(gw->port(), kMainList), kMainList);
}

TEST_F(ModelsTest, AFailedPollKeepsTheLastListAndTheNextGoodOneReplacesIt) {
  std::string why;
  auto gw = Gateway::Start(MainYaml("", "", "models: {refresh: 100ms}\n"), {}, &why);
  ASSERT_TRUE(gw) << why;
  ASSERT_EQ(WaitForList(gw->port(), kMainList), kMainList);
  const std::string b_address = b_->address();
  b_.reset();  // pool b's only backend goes away
  ASSERT_TRUE(gw->process().WaitForOutput("backend b/.* cannot read its model list", 10s))
      << gw->process().Output();
  HttpClient c(gw->port());
  EXPECT_EQ(Listed(c.Get("/v1/models").body), kMainList);
  // Back on the same address with another list: the next poll replaces b's.
  b_ = MockServer::Start({"--id", "b", "--listen", b_address, "--model", "b-new"});
  ASSERT_TRUE(b_);
  const std::vector<std::string> after = {"alias:a", "b-new:b", "meta-llama/Llama-3-8B:a",
                                          "shared-model:a"};
  EXPECT_EQ(WaitForList(gw->port(), after), after);
  EXPECT_TRUE(gw->process().WaitForOutput("backend b/.* model list read again", 10s));
}

}  // namespace
}  // namespace infergate::testing
