// The load-time warning about fallback chains that cannot answer an inference endpoint their
// route admits (static and runner answers have no embeddings shape).
#include "infergate/config/fallback_coverage.h"

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace infergate::config::testing {
namespace {

std::string ConfigWith(const std::string& routes) {
  return "listeners:\n  - {name: public, listen: 127.0.0.1:0}\n"
         "compartments:\n  - {name: cpu, max_concurrent: 4, thread_pool: {threads: 1}}\n"
         "runners:\n  - {name: tiny, compartment: cpu}\n"
         "pools:\n  - {name: main, backends: [http://127.0.0.1:1]}\n"
         "  - {name: spare, backends: [http://127.0.0.1:2]}\n"
         "routes:\n" +
         routes;
}

std::vector<std::string> Warnings(const std::string& routes) {
  auto cfg = LoadOk(ConfigWith(routes));
  if (!cfg) return {"(not loaded)"};
  return FallbackCoverageWarnings(*cfg);
}

TEST(FallbackCoverage, OwnAnswersOnlyOnAnUnrestrictedRouteWarnAboutEmbeddings) {
  const auto w =
      Warnings("  - {name: chat, to: main, fallbacks: [{static: busy}, {runner: tiny}]}\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0],
            "routes.chat: /v1/embeddings: no fallback can answer it (static, runner:tiny: own "
            "answers serve chat completions, completions and responses only); degraded requests "
            "to it get 503 fallbacks_failed");
}

TEST(FallbackCoverage, APrefixAdmittingEmbeddingsWarns) {
  EXPECT_EQ(Warnings("  - {name: v1, match: {path_prefix: /v1/}, to: main, "
                     "fallbacks: [{static: busy}]}\n")
                .size(),
            1u);
  EXPECT_EQ(Warnings("  - {name: emb, match: {path: /v1/embeddings}, to: main, "
                     "fallbacks: [{runner: tiny}]}\n")
                .size(),
            1u);
}

TEST(FallbackCoverage, NoWarningWhenTheRouteCannotSeeEmbeddingsOrAPoolServesThem) {
  // The path is a chat endpoint, a prefix that leaves embeddings out, or only GET.
  EXPECT_TRUE(Warnings("  - {name: chat, match: {path: /v1/chat/completions}, to: main, "
                       "fallbacks: [{static: busy}]}\n")
                  .empty());
  EXPECT_TRUE(Warnings("  - {name: chat, match: {path_prefix: /v1/chat/}, to: main, "
                       "fallbacks: [{static: busy}]}\n")
                  .empty());
  EXPECT_TRUE(Warnings("  - {name: r, match: {path: /v1/responses}, to: main, "
                       "fallbacks: [{runner: tiny}]}\n")
                  .empty());
  EXPECT_TRUE(Warnings("  - {name: get, match: {methods: [GET]}, to: main, "
                       "fallbacks: [{static: busy}]}\n")
                  .empty());
  // A pool fallback serves every endpoint.
  EXPECT_TRUE(
      Warnings("  - {name: all, to: main, fallbacks: [{pool: spare}, {static: busy}]}\n").empty());
  // No fallbacks: nothing degrades to a chain.
  EXPECT_TRUE(Warnings("  - {name: plain, to: main}\n").empty());
}

TEST(FallbackCoverage, EachRouteIsNamed) {
  const auto w = Warnings(
      "  - {name: a, match: {model: x}, to: main, fallbacks: [{static: busy}]}\n"
      "  - {name: b, match: {model: y}, to: main, fallbacks: [{pool: spare}]}\n"
      "  - {name: c, match: {model: z}, to: main, fallbacks: [{runner: tiny}]}\n");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_TRUE(w[0].starts_with("routes.a: /v1/embeddings: ")) << w[0];
  EXPECT_TRUE(w[1].starts_with("routes.c: /v1/embeddings: ")) << w[1];
}

TEST(FallbackCoverage, AdmissionAndServingRules) {
  RouteConfig route;
  EXPECT_TRUE(RouteAdmitsEndpoint(route, "/v1/embeddings"));
  route.match.path_prefix = "/v1/e";
  EXPECT_TRUE(RouteAdmitsEndpoint(route, "/v1/embeddings"));
  EXPECT_FALSE(RouteAdmitsEndpoint(route, "/v1/responses"));
  route.match.methods = {"GET", "POST"};
  EXPECT_TRUE(RouteAdmitsEndpoint(route, "/v1/embeddings"));
  FallbackConfig f;
  f.kind = FallbackConfig::Kind::kStatic;
  EXPECT_FALSE(FallbackServesEndpoint(f, "/v1/embeddings"));
  EXPECT_TRUE(FallbackServesEndpoint(f, "/v1/responses"));
  f.kind = FallbackConfig::Kind::kPool;
  EXPECT_TRUE(FallbackServesEndpoint(f, "/v1/embeddings"));
}

}  // namespace
}  // namespace infergate::config::testing
