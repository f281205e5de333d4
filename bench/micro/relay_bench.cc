// Microbenchmarks of what an answer's bytes pass through on their way to the client: the usage
// codec (always, for token metrics), the model rewrite (response_model: requested) and the error
// classifier (a refusal on a route with error-class fallbacks). Bytes per second over a chat
// stream of 200 events and a 2 KiB JSON answer.
#include <benchmark/benchmark.h>

#include <string>

#include "infergate/exchange/model_rewrite.h"
#include "infergate/exchange/usage_codec.h"
#include "infergate/routing/error_class.h"

namespace infergate::exchange {
namespace {

std::string ChatStream() {
  std::string s;
  for (int i = 0; i < 200; ++i) {
    s += "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":"
         "1733490000,\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,"
         "\"delta\":{\"content\":\" token" +
         std::to_string(i) + "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
  }
  s += "data: [DONE]\n\n";
  return s;
}

std::string ChatJson() {
  std::string content(1800, 'x');
  return "{\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion\",\"created\":1733490000,"
         "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,\"message\":"
         "{\"role\":\"assistant\",\"content\":\"" +
         content +
         "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":"
         "400,\"total_tokens\":412}}";
}

// Feeds `body` in 1,400-byte pieces, as a backend's reads arrive.
template <typename Feed>
void Pieces(const std::string& body, Feed&& feed) {
  for (size_t at = 0; at < body.size(); at += 1400) feed(std::string_view(body).substr(at, 1400));
}

void BM_UsageCodecSse(benchmark::State& state) {
  const std::string body = ChatStream();
  for (auto _ : state) {
    UsageCodec codec;
    codec.Start(UsageCodec::Format::kSse, false);
    Pieces(body, [&](std::string_view p) { codec.Feed(p, nullptr); });
    benchmark::DoNotOptimize(codec.Result());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_UsageCodecSse);

void BM_ModelRewriteSse(benchmark::State& state) {
  const std::string body = ChatStream();
  std::string out;
  for (auto _ : state) {
    ModelRewriter r;
    r.Start(ModelRewriter::Format::kSse, "llama-8b");
    out.clear();
    Pieces(body, [&](std::string_view p) { r.Feed(p, &out); });
    r.End(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ModelRewriteSse);

void BM_ModelRewriteJson(benchmark::State& state) {
  const std::string body = ChatJson();
  std::string out;
  for (auto _ : state) {
    ModelRewriter r;
    r.Start(ModelRewriter::Format::kJson, "llama-8b");
    out.clear();
    Pieces(body, [&](std::string_view p) { r.Feed(p, &out); });
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ModelRewriteJson);

void BM_ClassifyVllmRefusal(benchmark::State& state) {
  const std::string body =
      R"({"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 4608 tokens (4096 in the messages, 512 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400})";
  for (auto _ : state) benchmark::DoNotOptimize(routing::ClassifyBackendError(400, body));
}
BENCHMARK(BM_ClassifyVllmRefusal);

}  // namespace
}  // namespace infergate::exchange
