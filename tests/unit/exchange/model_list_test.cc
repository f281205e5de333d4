// The gateway's model list: route names, reported models mapped back through rewrites, dedupe
// and order, a configured list; the /v1/models/{id} path; a backend's model list parsed.
#include "infergate/exchange/model_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace infergate::exchange {
namespace {

std::shared_ptr<const config::Config> Load(const std::string& routes,
                                           const std::string& extra = "") {
  auto loaded = config::LoadConfigString(
      "listeners: [{name: l, listen: \":0\"}]\n"
      "pools:\n  - {name: a, backends: [http://127.0.0.1:1]}\n"
      "  - {name: b, backends: [http://127.0.0.1:2]}\n"
      "routes:\n" +
          routes + extra,
      "test.yaml");
  EXPECT_TRUE(loaded.ok());
  return loaded.ok() ? *loaded : nullptr;
}

std::vector<std::string> Names(const std::vector<ListedModel>& models) {
  std::vector<std::string> out;
  for (const ListedModel& m : models) out.push_back(m.id + ":" + m.owned_by);
  return out;
}

upstream::ModelCatalog::Reported Reported() {
  upstream::ModelCatalog::Reported r;
  r["a"] = {{"backend-name", 7}, {"shared", 8}, {"org/model", 9}};
  r["b"] = {{"b-only", 1}, {"shared", 2}};
  return r;
}

TEST(ModelList, RouteNamesAndReportedModelsThroughRewrites) {
  auto c = Load(
      "  - {name: alias, match: {model: [alias, \"gl*b\"]}, to: a, rewrite_model: backend-name}\n"
      "  - {name: some, match: {model: [\"org/*\", shared]}, to: a}\n"
      "  - {name: rest, to: b}\n");
  ASSERT_TRUE(c);
  const auto reported = Reported();
  const std::vector<ListedModel> list = ListModels(*c, &reported, 100);
  // alias: a route name (globs are not); shared: a route name of pool a, before b reports it;
  // org/model: pool a's, admitted by a glob; b-only: pool b's, admitted by the catch-all;
  // backend-name: only the rewriting route reaches it.
  EXPECT_EQ(Names(list),
            (std::vector<std::string>{"alias:a", "b-only:b", "org/model:a", "shared:a"}));
  EXPECT_EQ(list[0].created, 100);  // a configured name: the config's time
  EXPECT_EQ(list[1].created, 1);    // a reported one: the backend's
  EXPECT_EQ(Names(ListModels(*c, nullptr, 100)), (std::vector<std::string>{"alias:a", "shared:a"}));
}

TEST(ModelList, AConfiguredListIsListedExactly) {
  auto c = Load("  - {name: one, match: {model: [\"x*\"]}, to: b}\n",
                "models:\n  list: [zeta, {id: alpha, owned_by: team}, x1]\n");
  ASSERT_TRUE(c);
  const auto reported = Reported();
  EXPECT_EQ(Names(ListModels(*c, &reported, 1)),
            (std::vector<std::string>{"zeta:infergate", "alpha:team", "x1:b"}));
}

TEST(ModelList, Json) {
  EXPECT_EQ(ModelListJson({{"a\"b", "p", 5}, {"m/n", "", 6}}),
            R"({"object":"list","data":[{"id":"a\"b","object":"model","created":5,)"
            R"("owned_by":"p"},{"id":"m/n","object":"model","created":6,"owned_by":""}]})");
  EXPECT_EQ(ModelListJson({}), R"({"object":"list","data":[]})");
}

TEST(ModelList, PathId) {
  bool bad = false;
  EXPECT_EQ(ModelsPathId("/v1/models", &bad), "");
  EXPECT_EQ(ModelsPathId("/v1/models/m", &bad), "m");
  EXPECT_EQ(ModelsPathId("/v1/models/org/m-1", &bad), "org/m-1");
  EXPECT_EQ(ModelsPathId("/v1/models/org%2Fm%201", &bad), "org/m 1");
  EXPECT_FALSE(bad);
  EXPECT_EQ(ModelsPathId("/v1/models/a%2", &bad), "a%2");
  EXPECT_TRUE(bad);
  EXPECT_EQ(ModelsPathId("/v1/models/", &bad), std::nullopt);
  EXPECT_EQ(ModelsPathId("/v1/modelsx", &bad), std::nullopt);
  EXPECT_EQ(ModelsPathId("/v1/chat/completions", &bad), std::nullopt);
}

TEST(ModelList, ParseABackendsList) {
  auto list = upstream::ParseModelList(
      R"({"object":"list","data":[{"id":"a","object":"model","created":12,"owned_by":"vllm"},)"
      R"({"object":"model","id":"b\/c"},{"id":"a"},{"id":""}]})",
      99);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "a");
  EXPECT_EQ((*list)[0].created, 12);
  EXPECT_EQ((*list)[1].id, "b/c");
  EXPECT_EQ((*list)[1].created, 99);
  EXPECT_FALSE(upstream::ParseModelList("not json", 1));
  EXPECT_FALSE(upstream::ParseModelList(R"({"data":{}})", 1));
  EXPECT_FALSE(upstream::ParseModelList(R"({"data":[{"id":5}]})", 1));
  EXPECT_FALSE(upstream::ParseModelList(R"([1])", 1));
}

TEST(ModelCatalog, KeepsEachBackendsListByNameAndForgetsRemovedBackends) {
  upstream::ModelCatalog catalog;
  EXPECT_TRUE(catalog.reported()->empty());
  catalog.Set("a", "127.0.0.1:1", {{"x", 1}, {"y", 1}});
  catalog.Set("a", "127.0.0.1:9", {{"y", 2}, {"z", 2}});  // not in the config below
  catalog.Set("b", "127.0.0.1:2", {{"x", 3}});
  auto before = catalog.reported();
  ASSERT_EQ(before->at("a").size(), 3u);  // x, y (the first backend's), z
  EXPECT_EQ(before->at("a")[1].created, 1);
  EXPECT_EQ(before->at("b").size(), 1u);
  auto c = Load("  - {name: r, to: a}\n");
  ASSERT_TRUE(c);
  catalog.Retain(*c);
  auto after = catalog.reported();
  ASSERT_EQ(after->at("a").size(), 2u);
  EXPECT_EQ(after->at("a")[1].id, "y");
  EXPECT_EQ(after->at("b").size(), 1u);
  EXPECT_EQ(before->at("a").size(), 3u);  // a snapshot taken earlier does not change
  catalog.Set("b", "127.0.0.1:2", {});    // a backend that now reports nothing
  EXPECT_TRUE(catalog.reported()->at("b").empty());
}

}  // namespace
}  // namespace infergate::exchange
