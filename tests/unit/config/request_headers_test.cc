// A pool's request_headers: names checked and lower-cased, ${env:NAME} expanded at load, and each
// refusal reported at its place without ever echoing a variable's value.
#include <stdlib.h>

#include <gtest/gtest.h>

#include <string>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

#define HEAD                                 \
  "listeners: [{name: l, listen: \":0\"}]\n" \
  "routes: [{name: r, to: p}]\n"             \
  "pools:\n"                                 \
  "  - name: p\n"                            \
  "    backends: [http://127.0.0.1:1]\n"     \
  "    request_headers:\n"
// Rule lines start at line 7, their keys at column 7.

class RequestHeaders : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("IG_TEST_PROVIDER_KEY", "s3cr3t-value", 1);
    setenv("IG_TEST_BAD_VALUE", "a\r\nInjected: yes", 1);
    unsetenv("IG_TEST_UNSET");
  }
  void TearDown() override {
    unsetenv("IG_TEST_PROVIDER_KEY");
    unsetenv("IG_TEST_BAD_VALUE");
  }
};

TEST_F(RequestHeaders, ReadsSetAddAndRemoveWithEnvironmentValues) {
  auto c = LoadOk(HEAD
                  "      set: {Authorization: \"Bearer ${env:IG_TEST_PROVIDER_KEY}\"}\n"
                  "      add: {X-Tenant: acme, x-both: "
                  "\"${env:IG_TEST_PROVIDER_KEY}-${env:IG_TEST_PROVIDER_KEY}\"}\n"
                  "      remove: [X-Internal-Debug, x-forwarded-for]\n");
  ASSERT_TRUE(c);
  const RequestHeaderRules& r = c->pools[0].request_headers;
  ASSERT_EQ(r.set.size(), 1u);
  EXPECT_EQ(r.set[0].first, "authorization");
  EXPECT_EQ(r.set[0].second, "Bearer s3cr3t-value");
  ASSERT_EQ(r.add.size(), 2u);
  EXPECT_EQ(r.add[0].first, "x-tenant");
  EXPECT_EQ(r.add[1].second, "s3cr3t-value-s3cr3t-value");
  EXPECT_EQ(r.remove, (std::vector<std::string>{"x-internal-debug", "x-forwarded-for"}));
  EXPECT_TRUE(r.Drops("authorization"));
  EXPECT_TRUE(r.Drops("x-forwarded-for"));
  EXPECT_FALSE(r.Drops("x-tenant"));  // added: the client's stay
}

TEST_F(RequestHeaders, NoRulesByDefault) {
  auto c = LoadOk(
      "listeners: [{name: l, listen: \":0\"}]\nroutes: [{name: r, to: p}]\n"
      "pools: [{name: p, backends: [http://127.0.0.1:1]}]\n");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->pools[0].request_headers.empty());
}

class RequestHeaderErrors : public RequestHeaders,
                            public ::testing::WithParamInterface<ErrorCase> {};
TEST_P(RequestHeaderErrors, ReportPositionPathAndMessage) { ExpectErrorCase(GetParam()); }

const ErrorCase kCases[] = {
    {"UnsetVariable", HEAD "      set: {authorization: \"Bearer ${env:IG_TEST_UNSET}\"}\n", 7, 28,
     "pools[0].request_headers.set.authorization", "environment variable IG_TEST_UNSET is not set"},
    {"MalformedReference", HEAD "      add: {x-key: \"${IG_TEST_PROVIDER_KEY}\"}\n", 7, 20,
     "pools[0].request_headers.add.x-key", "write an environment variable as ${env:NAME}"},
    {"ControlCharacterInTheValue", HEAD "      set: {x-key: \"${env:IG_TEST_BAD_VALUE}\"}\n", 7, 20,
     "pools[0].request_headers.set.x-key", "holds a control character"},
    {"ManagedHeader", HEAD "      set: {Host: other}\n", 7, 13, "pools[0].request_headers.set.Host",
     "header \"host\" is framed or managed by the gateway itself"},
    {"NotAHeaderName", HEAD "      add: {\"bad name\": x}\n", 7, 13,
     "pools[0].request_headers.add.bad name", "is not a valid header name"},
    {"TwoRulesForOneName", HEAD "      set: {x-a: \"1\"}\n      remove: [X-A]\n", 8, 16,
     "pools[0].request_headers.remove[0]", "header \"x-a\" already has a rule at line 7"},
    {"UnknownKey", HEAD "      replace: {x-a: \"1\"}\n", 7, 7, "pools[0].request_headers.replace",
     "unknown key \"replace\" (allowed: set, add, remove)"},
};
INSTANTIATE_TEST_SUITE_P(Each, RequestHeaderErrors, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(RequestHeaders, NoErrorMessageEchoesAVariablesValue) {
  for (const char* yaml : {HEAD "      set: {x-key: \"${env:IG_TEST_BAD_VALUE}\"}\n",
                           HEAD "      set: {Host: \"${env:IG_TEST_PROVIDER_KEY}\"}\n"}) {
    for (const ConfigError& e : Errors(Yaml(yaml))) {
      EXPECT_EQ(e.ToString().find("s3cr3t"), std::string::npos) << e.ToString();
      EXPECT_EQ(e.ToString().find("Injected"), std::string::npos) << e.ToString();
    }
  }
}

}  // namespace
}  // namespace infergate::config
