// Microbenchmarks of the per-request routing work: route lookup, body field extraction and the
// model rewrite.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <memory>
#include <string>
#include <vector>

#include "infergate/routing/body_fields.h"
#include "infergate/routing/route_table.h"

namespace infergate::routing {
namespace {

using config::HeaderMatch;
using config::RouteConfig;

class FixedModelSource : public ModelSource {
 public:
  explicit FixedModelSource(std::string_view model) : model_(model) {}
  Expected<std::optional<std::string_view>, Error> Model() override {
    return std::optional<std::string_view>(model_);
  }

 private:
  std::string_view model_;
};

std::shared_ptr<const config::Config> TenRoutes() {
  auto config = std::make_shared<config::Config>();
  config->pools.resize(3);
  auto route = [](std::string name, size_t pool) {
    RouteConfig r;
    r.name = std::move(name);
    r.to.push_back({"pool", pool, 1});
    return r;
  };
  RouteConfig r0 = route("health", 0);
  r0.match.path = "/health";
  RouteConfig r1 = route("admin", 0);
  r1.match.path_prefix = "/admin/";
  RouteConfig r2 = route("tenant", 1);
  r2.match.path_prefix = "/v1/";
  r2.match.headers = {{"x-tenant", HeaderMatch::Kind::kExact, "gold"}};
  RouteConfig r3 = route("embeddings", 1);
  r3.match.path = "/v1/embeddings";
  r3.match.methods = {"POST"};
  RouteConfig r4 = route("llama", 2);
  r4.match.path_prefix = "/v1/";
  r4.match.methods = {"POST"};
  r4.match.host = "*.example.com";
  r4.match.models = {"gpt-*", "meta-llama/Llama-3.1-*"};
  r4.rewrite_model = "llama-3.1-70b";
  config->routes = {r0, r1, r2, r3, r4};
  for (int i = 5; i < 10; ++i) {
    RouteConfig r = route("other" + std::to_string(i), 0);
    r.match.models = {"model-" + std::to_string(i)};
    config->routes.push_back(r);
  }
  return config;
}

void BM_RouteFind(benchmark::State& state) {
  RouteTable table(TenRoutes());
  const HeaderField headers[] = {{"Content-Type", "application/json"},
                                 {"Authorization", "Bearer sk-abcdef"},
                                 {"X-Tenant", "silver"},
                                 {"Accept", "text/event-stream"}};
  const RequestView request{"POST", "/v1/chat/completions", "api.example.com:443", headers};
  FixedModelSource model("meta-llama/Llama-3.1-70B-Instruct");
  for (auto _ : state) {
    auto found = table.Find(request, model);
    benchmark::DoNotOptimize(found);
  }
}
BENCHMARK(BM_RouteFind);

void BM_PickPoolWeighted(benchmark::State& state) {
  auto config = std::make_shared<config::Config>();
  config->pools.resize(3);
  RouteConfig r;
  r.to = {{"a", 0, 70}, {"b", 1, 20}, {"c", 2, 10}};
  config->routes.push_back(r);
  RouteTable table(config);
  Rng rng(1);
  for (auto _ : state) benchmark::DoNotOptimize(table.PickPool(table.config().routes[0], rng));
}
BENCHMARK(BM_PickPoolWeighted);

std::string ChatBody() {
  return R"({"model":"meta-llama/Llama-3.1-70B-Instruct","messages":[{"role":"system",)"
         R"("content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku )"
         R"(about reverse proxies and GPUs, please."}],"temperature":0.7,"max_tokens":256,)"
         R"("top_p":0.95,"stream":true,"stream_options":{"include_usage":true},"user":"u-123"})";
}

std::string LargeBody(size_t bytes) {
  std::string body = R"({"messages":[)";
  const std::string msg =
      R"({"role":"user","content":"Lorem ipsum dolor sit amet, consectetur adipiscing elit, )"
      R"(sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."},)";
  while (body.size() + msg.size() + 64 < bytes) body += msg;
  body.pop_back();
  body += R"(],"model":"meta-llama/Llama-3.1-70B-Instruct","stream":false})";
  return body;
}

void RunExtract(benchmark::State& state, const std::string& body, bool padded) {
  std::string buffer = body;
  if (padded) buffer.resize(body.size() + simdjson::SIMDJSON_PADDING);
  const std::string_view view(buffer.data(), body.size());
  for (auto _ : state) {
    auto fields = ExtractBodyFields(view, buffer.size());
    if (!fields.ok()) state.SkipWithError("extract failed");
    benchmark::DoNotOptimize(fields);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_ExtractChatBody(benchmark::State& state) {
  const std::string body = ChatBody();
  state.SetLabel(std::to_string(body.size()) + " bytes");
  RunExtract(state, body, true);
}
BENCHMARK(BM_ExtractChatBody);

void BM_ExtractChatBodyUnpadded(benchmark::State& state) { RunExtract(state, ChatBody(), false); }
BENCHMARK(BM_ExtractChatBodyUnpadded);

void BM_Extract64KiBBody(benchmark::State& state) { RunExtract(state, LargeBody(64 << 10), true); }
BENCHMARK(BM_Extract64KiBBody);

void BM_SpliceModel(benchmark::State& state) {
  std::string body = ChatBody();
  auto extracted = ExtractBodyFields(body, body.size());
  if (!extracted.ok()) {
    state.SkipWithError("extract failed");
    return;
  }
  BodyFields original = *extracted;
  const std::string from = *original.model;
  const std::string to = "llama-3.1-70b";
  BodyFields spliced = original;
  spliced.model_length = to.size() + 2;
  bool forward = true;
  for (auto _ : state) {
    if (forward) {
      SpliceModel(body, original, to);
    } else {
      SpliceModel(body, spliced, from);
    }
    forward = !forward;
    benchmark::DoNotOptimize(body.data());
  }
}
BENCHMARK(BM_SpliceModel);

}  // namespace
}  // namespace infergate::routing
