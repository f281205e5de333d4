// Microbenchmarks of the HTTP/1.1 codecs on the request path: decoding a ~300-byte chat request,
// a small JSON response and one SSE chunk of a streamed response.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "infergate/http/h1_codec.h"

namespace infergate::http {
namespace {

std::string ChatRequest() {
  const std::string body =
      R"({"model":"mock-model","messages":[{"role":"system","content":"You are a helpful )"
      R"(assistant."},{"role":"user","content":"Summarise the benefits of a reverse proxy in )"
      R"(front of GPU inference servers in one short sentence, please."}],"max_tokens":16,)"
      R"("temperature":0.2,"user":"bench","stream":false})";
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
         "User-Agent: bench/1.0\r\nAccept: application/json\r\n"
         "Content-Type: application/json\r\nAuthorization: Bearer sk-0123456789abcdef\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

class NullSink : public ResponseSink {
 public:
  void OnHead(const H1ResponseHead& head) override { benchmark::DoNotOptimize(head.status); }
  void OnBody(std::string_view data) override { bytes += data.size(); }
  uint64_t bytes = 0;
};

void BM_RequestDecodeChat(benchmark::State& state) {
  const std::string request = ChatRequest();
  RequestDecoder decoder(RequestLimits{});
  for (auto _ : state) {
    decoder.Reset();
    size_t consumed = 0;
    auto status = decoder.Feed(request, &consumed);
    if (!status.ok() || *status != RequestDecoder::Status::kComplete) {
      state.SkipWithError("request not decoded in one feed");
      return;
    }
    benchmark::DoNotOptimize(decoder.body().data());
  }
  state.SetLabel(std::to_string(request.size()) + " bytes");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * request.size()));
}
BENCHMARK(BM_RequestDecodeChat);

void BM_ResponseDecodeJson(benchmark::State& state) {
  const std::string body =
      R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"mock-model",)"
      R"("choices":[{"index":0,"message":{"role":"assistant","content":"tok0 tok1 tok2 tok3 tok4 )"
      R"(tok5 tok6 tok7"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":17,)"
      R"("completion_tokens":8,"total_tokens":25}})";
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-mock-server: mock\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ResponseDecoder decoder;
  NullSink sink;
  for (auto _ : state) {
    decoder.Start(false);
    size_t consumed = 0;
    auto status = decoder.Feed(response, &consumed, sink);
    if (!status.ok() || *status != ResponseDecoder::Status::kComplete) {
      state.SkipWithError("response not decoded in one feed");
      return;
    }
  }
  benchmark::DoNotOptimize(sink.bytes);
  state.SetLabel(std::to_string(response.size()) + " bytes");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * response.size()));
}
BENCHMARK(BM_ResponseDecodeJson);

// One chunk of a streamed chat completion, decoded mid-stream (the decoder stays in the body).
void BM_ResponseDecodeSseChunk(benchmark::State& state) {
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const std::string event =
      R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,)"
      R"("model":"mock-model","choices":[{"index":0,"delta":{"content":"tok7 "},)"
      R"("logprobs":null,"finish_reason":null}]})"
      "\n\n";
  std::string chunk;
  AppendChunk(chunk, event);
  ResponseDecoder decoder;
  NullSink sink;
  decoder.Start(false);
  size_t consumed = 0;
  auto started = decoder.Feed(head, &consumed, sink);
  if (!started.ok() || consumed != head.size()) {
    state.SkipWithError("response head not decoded");
    return;
  }
  // The decoder may stop before a chunk's closing CRLF and read it with the next chunk, so in the
  // steady state each feed is the previous chunk's unread tail followed by the next chunk.
  std::string pending = chunk;
  for (auto _ : state) {
    auto status = decoder.Feed(pending, &consumed, sink);
    if (!status.ok() || *status != ResponseDecoder::Status::kNeedMore) {
      state.SkipWithError("chunk not decoded");
      return;
    }
    pending.erase(0, consumed);
    if (pending.size() > 8) {
      state.SkipWithError("decoder left more than a chunk's tail unread");
      return;
    }
    pending += chunk;
  }
  benchmark::DoNotOptimize(sink.bytes);
  state.SetLabel(std::to_string(chunk.size()) + " bytes");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * chunk.size()));
}
BENCHMARK(BM_ResponseDecodeSseChunk);

}  // namespace
}  // namespace infergate::http
