// Integration: a pool's request_headers on the real binaries. A credential from the environment
// replaces the client's Authorization on its way to the backend (over HTTP/1.1 and HTTP/2),
// other rules add and remove fields, and the credential never reaches the gateway's log.
#include <gtest/gtest.h>

#include <string>

#include "support/gateway.h"
#include "support/h2_client.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

constexpr const char* kSecret = "sk-test-5f1d2c9a";
constexpr const char* kChat = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";

TEST(RequestHeaders, ACredentialFromTheEnvironmentReplacesTheClientsAndIsNeverLogged) {
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  std::string why;
  auto gw = Gateway::Start(
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
      "admin:\n  listen: 127.0.0.1:0\n"
      "pools:\n  - name: hosted\n    backends: [http://" +
          mock->address() +
          "]\n"
          "    request_headers:\n"
          "      set: {Authorization: \"Bearer ${env:IG_PROVIDER_KEY}\", x-forwarded-for: edge}\n"
          "      add: {x-tenant: acme}\n"
          "      remove: [x-internal-debug]\n"
          "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: hosted}\n",
      {"--log-level", "debug"}, &why, {"env", std::string("IG_PROVIDER_KEY=") + kSecret});
  ASSERT_TRUE(gw) << why;

  HttpClient h1(gw->port());
  HttpResponse r = h1.Post("/v1/chat/completions", kChat,
                           {{"content-type", "application/json"},
                            {"authorization", "Bearer client-key"},
                            {"x-internal-debug", "1"},
                            {"x-tenant", "client-said"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto seen = mock->Stats()->last_request;
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->Header("authorization"), std::string("Bearer ") + kSecret);
  EXPECT_EQ(seen->Header("x-forwarded-for"), "edge");  // set replaces the gateway's own too
  EXPECT_EQ(seen->Header("x-internal-debug"), "");
  EXPECT_NE(seen->Header("x-tenant"), "");  // added next to the client's

  H2Client h2(gw->port());
  const int32_t id = h2.Submit("POST", "/v1/chat/completions",
                               {{"content-type", "application/json"},
                                {"authorization", "Bearer client-key"},
                                {"x-internal-debug", "1"}},
                               kChat);
  ASSERT_TRUE(h2.WaitClosed(id));
  EXPECT_EQ(h2.streams[id].status, 200);
  seen = mock->Stats()->last_request;
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->Header("authorization"), std::string("Bearer ") + kSecret);
  EXPECT_EQ(seen->Header("x-internal-debug"), "");
  EXPECT_EQ(seen->Header("x-tenant"), "acme");

  gw->process().Stop();
  const std::string log = gw->process().Output();
  EXPECT_NE(log.find("access rid="), std::string::npos);  // debug logging was on
  EXPECT_EQ(log.find(kSecret), std::string::npos);
}

TEST(RequestHeaders, AMissingVariableIsAPositionedConfigError) {
  std::string why;
  auto gw = Gateway::Start(
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
      "pools:\n  - name: hosted\n    backends: [http://127.0.0.1:1]\n"
      "    request_headers: {set: {authorization: \"Bearer ${env:IG_SURELY_UNSET_VAR}\"}}\n"
      "routes:\n  - {name: chat, to: hosted}\n",
      {}, &why);
  EXPECT_FALSE(gw);
  EXPECT_NE(why.find(":7:44: pools[0].request_headers.set.authorization"), std::string::npos)
      << why;
  EXPECT_NE(why.find("environment variable IG_SURELY_UNSET_VAR is not set"), std::string::npos)
      << why;
}

}  // namespace
}  // namespace infergate::testing
