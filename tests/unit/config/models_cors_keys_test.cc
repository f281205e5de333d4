// The top-level models keys and a listener's cors keys: defaults, values, the /v1/models route
// warning, and positioned errors.
#include <gtest/gtest.h>

#include <string>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers
using namespace std::chrono_literals;

#define POOLS_ROUTES                                     \
  "pools: [{name: p, backends: [http://127.0.0.1:1]}]\n" \
  "routes: [{name: r, to: p}]\n"
#define BASE "listeners: [{name: l, listen: \":0\"}]\n" POOLS_ROUTES

TEST(ModelsKeys, Defaults) {
  auto c = LoadOk(BASE);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->models.list.empty());
  EXPECT_EQ(c->models.refresh, 60s);
  EXPECT_TRUE(c->warnings.empty());
}

TEST(ModelsKeys, ListOfStringsAndEntries) {
  auto c = LoadOk(BASE
                  "models:\n"
                  "  refresh: 0s\n"
                  "  list:\n"
                  "    - gpt-4o\n"
                  "    - {id: meta-llama/Llama-3-8B, owned_by: team-a}\n"
                  "    - id: x\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->models.refresh, 0s);
  ASSERT_EQ(c->models.list.size(), 3u);
  EXPECT_EQ(c->models.list[0].id, "gpt-4o");
  EXPECT_EQ(c->models.list[0].owned_by, "");
  EXPECT_EQ(c->models.list[1].id, "meta-llama/Llama-3-8B");
  EXPECT_EQ(c->models.list[1].owned_by, "team-a");
  EXPECT_EQ(c->models.list[2].id, "x");
}

TEST(ModelsKeys, RouteOnModelsPathIsWarnedNotRefused) {
  auto c = LoadOk(
      "listeners: [{name: l, listen: \":0\"}]\n"
      "pools: [{name: p, backends: [http://127.0.0.1:1]}]\n"
      "routes:\n"
      "  - {name: models, match: {path: /v1/models}, to: p}\n"
      "  - {name: posts, match: {path: /v1/models, methods: [POST]}, to: p}\n"
      "  - {name: one, match: {path: /v1/models/x, methods: [head]}, to: p}\n");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->warnings.size(), 2u);
  EXPECT_EQ(c->warnings[0],
            "test.yaml:4:34: warning: routes[0].match.path: this route is never reached for GET "
            "and HEAD: infergate answers /v1/models and /v1/models/{id} itself (see models: in "
            "the docs)");
  EXPECT_EQ(c->warnings[1].rfind("test.yaml:6:31: warning: routes[2].match.path: ", 0), 0u)
      << c->warnings[1];
}

TEST(CorsKeys, AbsentMeansNoCors) {
  auto c = LoadOk(BASE);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->listeners[0].cors);
}

TEST(CorsKeys, DefaultsAndValues) {
  auto c = LoadOk(
      "listeners:\n"
      "  - name: l\n"
      "    listen: \":0\"\n"
      "    cors: {allow_origins: [\"https://App.example.com\", \"http://localhost:3000\"]}\n"
      "  - name: m\n"
      "    listen: \":0\"\n"
      "    cors:\n"
      "      allow_origins: \"*\"\n"
      "      allow_methods: [GET, POST, DELETE]\n"
      "      allow_headers: [Authorization, X-Custom]\n"
      "      expose_headers: [X-Ratelimit-Remaining]\n"
      "      max_age: 1h\n" POOLS_ROUTES);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->listeners[0].cors);
  const CorsConfig& a = *c->listeners[0].cors;
  EXPECT_EQ(a.allow_origins,
            (std::vector<std::string>{"https://app.example.com", "http://localhost:3000"}));
  EXPECT_EQ(a.allow_methods, (std::vector<std::string>{"GET", "POST", "OPTIONS"}));
  EXPECT_EQ(a.allow_headers, (std::vector<std::string>{"authorization", "content-type"}));
  EXPECT_TRUE(a.expose_headers.empty());
  EXPECT_FALSE(a.allow_credentials);
  EXPECT_EQ(a.max_age, 600s);
  ASSERT_TRUE(c->listeners[1].cors);
  const CorsConfig& b = *c->listeners[1].cors;
  EXPECT_EQ(b.allow_origins, (std::vector<std::string>{"*"}));
  EXPECT_EQ(b.allow_methods, (std::vector<std::string>{"GET", "POST", "DELETE"}));
  EXPECT_EQ(b.allow_headers, (std::vector<std::string>{"authorization", "x-custom"}));
  EXPECT_EQ(b.expose_headers, (std::vector<std::string>{"x-ratelimit-remaining"}));
  EXPECT_EQ(b.max_age, 3600s);
}

TEST(CorsKeys, CredentialsWithListedOrigins) {
  auto c = LoadOk(
      "listeners: [{name: l, listen: \":0\", cors: {allow_credentials: true, allow_origins: "
      "[\"https://[::1]:8443\"]}}]\n" POOLS_ROUTES);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->listeners[0].cors->allow_credentials);
}

class ModelsCorsErrorTest : public ::testing::TestWithParam<ErrorCase> {};
TEST_P(ModelsCorsErrorTest, ReportsPositionPathAndMessage) { ExpectErrorCase(GetParam()); }

#define LISTENER_CORS "listeners:\n  - name: l\n    listen: \":0\"\n    cors:\n"

const ErrorCase kCases[] = {
    {"ModelsUnknownKey", BASE "models: {lists: [a]}\n", 4, 10, "models.lists",
     "did you mean \"list\"?"},
    {"ModelsNegativeRefresh", BASE "models: {refresh: -1s}\n", 4, 19, "models.refresh", ""},
    {"ModelsEmptyList", BASE "models: {list: []}\n", 4, 16, "models.list", "empty list"},
    {"ModelsDuplicate", BASE "models:\n  list:\n    - a\n    - {id: a}\n", 7, 12,
     "models.list[1].id", "model \"a\" is listed twice (first at line 6)"},
    {"ModelsEntryWithoutId", BASE "models:\n  list:\n    - {owned_by: x}\n", 6, 7, "models.list[0]",
     "missing required key \"id\""},
    {"ModelsEmptyId", BASE "models:\n  list: [\"\"]\n", 5, 10, "models.list[0]",
     "must not be empty"},
    {"ModelsEntryUnknownKey", BASE "models:\n  list:\n    - {id: a, owner: x}\n", 6, 15,
     "models.list[0].owner", "unknown key"},
    {"CorsWildcardWithCredentials",
     LISTENER_CORS "      allow_credentials: true\n      allow_origins: [\"*\"]\n" POOLS_ROUTES, 6,
     23, "listeners[0].cors.allow_origins[0]", "cannot be used with allow_credentials: true"},
    {"CorsOriginWithPath",
     LISTENER_CORS "      allow_origins: [\"https://a.example/app\"]\n" POOLS_ROUTES, 5, 23,
     "listeners[0].cors.allow_origins[0]", "an origin has no path"},
    {"CorsOriginWithoutScheme", LISTENER_CORS "      allow_origins: [a.example.com]\n" POOLS_ROUTES,
     5, 23, "listeners[0].cors.allow_origins[0]", "write scheme://host[:port]"},
    {"CorsOriginBadPort",
     LISTENER_CORS "      allow_origins: [\"http://a.example:99999\"]\n" POOLS_ROUTES, 5, 23,
     "listeners[0].cors.allow_origins[0]", "the port is not a number"},
    {"CorsWildcardNotAlone",
     LISTENER_CORS "      allow_origins: [\"*\", \"https://a.example\"]\n" POOLS_ROUTES, 5, 23,
     "listeners[0].cors.allow_origins[0]", "list it alone"},
    {"CorsOriginsMissing", LISTENER_CORS "      max_age: 1m\n" POOLS_ROUTES, 5, 7,
     "listeners[0].cors", "missing required key \"allow_origins\""},
    {"CorsLowerCaseMethod",
     LISTENER_CORS "      allow_origins: [\"https://a.example\"]\n      allow_methods: [GET, "
                   "post]\n" POOLS_ROUTES,
     6, 28, "listeners[0].cors.allow_methods[1]", "not an upper-case method token"},
    {"CorsBadHeader",
     LISTENER_CORS
     "      allow_origins: [\"https://a.example\"]\n      allow_headers: [\"a b\"]\n" POOLS_ROUTES,
     6, 23, "listeners[0].cors.allow_headers[0]", "not a valid header name"},
    {"CorsUnknownKey",
     LISTENER_CORS
     "      allow_origins: [\"https://a.example\"]\n      allow_origin: x\n" POOLS_ROUTES,
     6, 7, "listeners[0].cors.allow_origin", "unknown key"},
    {"CorsCredentialsNotBool",
     LISTENER_CORS "      allow_origins: [\"https://a.example\"]\n      allow_credentials: yes "
                   "please\n" POOLS_ROUTES,
     6, 26, "listeners[0].cors.allow_credentials", ""},
};
INSTANTIATE_TEST_SUITE_P(All, ModelsCorsErrorTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace infergate::config
