// Token accounting through the exchange, on fakes and a manual clock: the usage injection per
// pool, the usage event removed from the client's stream, the record's tokens and first token,
// and the GenAI metrics recorded from it.
#include <gtest/gtest.h>

#include "infergate/exchange/genai_metrics.h"
#include "unit/exchange/fakes.h"

namespace infergate::exchange::testing {
namespace {

using namespace std::chrono_literals;

// A server stream whose every flush takes 10 ms of the manual clock.
class ClockedStream final : public ServerStream {
 public:
  ClockedStream(FakeServerStream& inner, ManualTimers& timers) : in_(inner), timers_(timers) {}
  const http::Request& request() const override { return in_.request(); }
  const config::ListenerConfig& listener() const override { return in_.listener(); }
  std::string_view client_address() const override { return in_.client_address(); }
  PeerGone& peer_gone() override { return in_.peer_gone(); }
  void WriteHead(const http::ResponseHead& head) override { in_.WriteHead(head); }
  void WriteBody(std::string_view piece) override { in_.WriteBody(piece); }
  void WriteEnd() override { in_.WriteEnd(); }
  void Discard() override { in_.Discard(); }
  boost::asio::awaitable<bool> Flush() override {
    timers_.Advance(10ms);
    const bool ok = co_await in_.Flush();
    co_return ok;
  }
  boost::asio::awaitable<void> Reset() override { co_await in_.Reset(); }

 private:
  FakeServerStream& in_;
  ManualTimers& timers_;
};

std::string Yaml(const std::string& pool_extra = "", const std::string& route_extra = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
         "pools:\n  - name: main\n    backends: [http://127.0.0.1:9001]\n" +
         pool_extra +
         "routes:\n  - name: chat\n    match: {path_prefix: /v1/, model: [m, \"x-*\"]}\n"
         "    to: main\n    rewrite_model: m-served\n" +
         route_extra;
}

const std::string kStreamed = R"({"model":"m","stream":true,"messages":[]})";
const std::string kAsked =
    R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]})";

const std::string kRole =
    "data: {\"model\":\"m-served\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n";
std::string Content(const std::string& text) {
  return "data: {\"model\":\"m-served\",\"choices\":[{\"delta\":{\"content\":\"" + text +
         "\"}}]}\n\n";
}
const std::string kUsage =
    "data: {\"model\":\"m-served\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,"
    "\"completion_tokens\":3,\"total_tokens\":14}}\n\n";
const std::string kDone = "data: [DONE]\n\n";

Script Sse(std::vector<std::string> pieces) {
  Script s;
  s.headers = {{"content-type", "text/event-stream"}};
  s.pieces = std::move(pieces);
  return s;
}

struct Ran {
  std::unique_ptr<FakeServerStream> stream;
  ExchangeRecord rec;
};

Ran RunOne(Harness& h, const std::string& body, const std::string& path = "/v1/chat/completions") {
  Ran r;
  r.stream = std::make_unique<FakeServerStream>("POST", path, body);
  ClockedStream clocked(*r.stream, h.timers);
  Exchange ex(h.env());
  bool done = false;
  h.Start(ex, clocked, &done);
  EXPECT_TRUE(done);
  r.rec = ex.record();
  return r;
}

bool Has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(UsageExchange, InjectsUsageAndRemovesItsEventFromTheClientsStream) {
  Harness h(Yaml());
  // The usage event arrives split over two reads, with [DONE] in the second.
  const std::string split_at = kUsage.substr(0, 30);
  h.connector.scripts[0].push_back(
      Sse({kRole, Content("Hel"), Content("lo") + split_at, kUsage.substr(30) + kDone}));
  const TimePoint start = h.timers.Now();
  Ran r = RunOne(h, kStreamed);
  ASSERT_EQ(h.connector.log.bodies.size(), 1u);
  EXPECT_EQ(h.connector.log.bodies[0],
            R"({"stream_options":{"include_usage":true},"model":"m-served","stream":true,)"
            R"("messages":[]})");
  EXPECT_EQ(r.stream->body, kRole + Content("Hel") + Content("lo") + kDone);
  EXPECT_EQ(r.rec.body_bytes, r.stream->body.size());
  EXPECT_EQ(r.rec.input_tokens, 11u);
  EXPECT_EQ(r.rec.output_tokens, 3u);
  EXPECT_FALSE(r.rec.tokens_estimated);
  EXPECT_EQ(r.rec.response_model, "m-served");
  EXPECT_EQ(r.rec.request_model, "m-served");
  // Flushes: the head (10 ms), the role event (20 ms), the first content (30 ms).
  EXPECT_EQ(r.rec.first_token_at - start, 30ms);

  const std::string text = h.registry.Render();
  const std::string labels =
      "gen_ai_operation_name=\"chat\",gen_ai_request_model=\"m-served\","
      "gen_ai_response_model=\"m-served\",route=\"chat\"";
  EXPECT_TRUE(
      Has(text, "gen_ai_client_token_usage_sum{" + labels + ",gen_ai_token_type=\"input\"} 11\n"))
      << text;
  EXPECT_TRUE(
      Has(text, "gen_ai_client_token_usage_sum{" + labels + ",gen_ai_token_type=\"output\"} 3\n"));
  EXPECT_TRUE(Has(text, "gen_ai_server_time_to_first_token_seconds_sum{" + labels + "} 0.03\n"));
  EXPECT_TRUE(Has(text, "gen_ai_server_time_to_first_token_seconds_count{" + labels + "} 1\n"));
  // Five flushes in all (the last with the end): 50 ms; (50 - 30) / (3 - 1) per token.
  EXPECT_TRUE(Has(text, "gen_ai_server_request_duration_seconds_sum{" + labels + "} 0.05\n"));
  EXPECT_TRUE(Has(text, "gen_ai_server_time_per_output_token_seconds_sum{" + labels + "} 0.01\n"));
}

TEST(UsageExchange, AClientThatAskedForUsageGetsItUntouched) {
  Harness h(Yaml());
  h.connector.scripts[0].push_back(Sse({kRole + Content("a"), kUsage + kDone}));
  Ran r = RunOne(h, kAsked);
  EXPECT_EQ(h.connector.log.bodies[0],
            R"({"model":"m-served","stream":true,"stream_options":{"include_usage":true},)"
            R"("messages":[]})");
  EXPECT_EQ(r.stream->body, kRole + Content("a") + kUsage + kDone);
  EXPECT_EQ(r.rec.input_tokens, 11u);
  EXPECT_EQ(r.rec.output_tokens, 3u);
}

TEST(UsageExchange, PoolOptionOffForwardsTheBodyAsItIsAndEstimates) {
  Harness h(Yaml("    inject_stream_usage: false\n"));
  h.connector.scripts[0].push_back(Sse({kRole, Content("a"), Content("b"), kDone}));
  Ran r = RunOne(h, kStreamed);
  EXPECT_EQ(h.connector.log.bodies[0], R"({"model":"m-served","stream":true,"messages":[]})");
  EXPECT_EQ(r.stream->body, kRole + Content("a") + Content("b") + kDone);
  EXPECT_FALSE(r.rec.input_tokens);
  EXPECT_EQ(r.rec.output_tokens, 2u);
  EXPECT_TRUE(r.rec.tokens_estimated);
}

TEST(UsageExchange, JsonAnswerTokensAndNoFirstToken) {
  Harness h(Yaml());
  Script s;
  s.headers = {{"content-type", "application/json"}};
  s.pieces = {R"({"model":"m-served","choices":[],"us)",
              R"(age":{"prompt_tokens":5,"completion_tokens":7}})"};
  h.connector.scripts[0].push_back(s);
  Ran r = RunOne(h, R"({"model":"x-other","messages":[]})");
  EXPECT_EQ(h.connector.log.bodies[0], R"({"model":"m-served","messages":[]})");
  EXPECT_EQ(r.rec.input_tokens, 5u);
  EXPECT_EQ(r.rec.output_tokens, 7u);
  EXPECT_EQ(r.rec.first_token_at, TimePoint{});
  const std::string text = h.registry.Render();
  EXPECT_TRUE(Has(text,
                  "gen_ai_client_token_usage_count{gen_ai_operation_name=\"chat\","
                  "gen_ai_request_model=\"m-served\",gen_ai_response_model=\"m-served\","
                  "route=\"chat\",gen_ai_token_type=\"output\"} 1\n"))
      << text;
  EXPECT_FALSE(Has(text,
                   "gen_ai_server_time_to_first_token_seconds_count{gen_ai_operation_name="
                   "\"chat\",gen_ai_request_model=\"m-served\",gen_ai_response_model="
                   "\"m-served\",route=\"chat\"} 1"));
}

TEST(UsageExchange, AFallbackPoolThatRefusesStreamOptionsGetsTheClientsBody) {
  Harness h(
      "listeners:\n  - {name: public, listen: \"127.0.0.1:0\"}\n"
      "pools:\n  - {name: main, backends: [http://127.0.0.1:9001]}\n"
      "  - {name: plain, backends: [http://127.0.0.1:9002], inject_stream_usage: false}\n"
      "routes:\n  - name: chat\n    match: {path_prefix: /}\n    to: main\n    retries: 0\n"
      "    fallbacks: [{pool: plain, rewrite_model: other-name}]\n"
      "    degrade: {on: [retries_exhausted]}\n");
  Script refused;
  refused.kind = Script::Kind::kResetBeforeHead;
  // Backend 0 of each pool: the primary's (reset), then the fallback pool's.
  h.connector.scripts[0] = {refused, Sse({Content("a"), kDone})};
  Ran r = RunOne(h, kStreamed);
  ASSERT_EQ(h.connector.log.bodies.size(), 2u);
  EXPECT_TRUE(Has(h.connector.log.bodies[0], R"("stream_options":{"include_usage":true})"));
  EXPECT_EQ(h.connector.log.bodies[1], R"({"model":"other-name","stream":true,"messages":[]})");
  EXPECT_EQ(r.stream->body, Content("a") + kDone);
  EXPECT_EQ(r.rec.request_model, "other-name");
  EXPECT_EQ(r.rec.output_tokens, 1u);
  EXPECT_TRUE(r.rec.tokens_estimated);
}

TEST(UsageExchange, ClientGoneMidStreamKeepsTheTokensSentSoFar) {
  Harness h(Yaml());
  Script s = Sse({kRole, Content("a"), Content("b"), Content("c"), kUsage + kDone});
  s.stall_at_piece = 3;  // the stream waits after two content events
  h.connector.scripts[0].push_back(s);
  FakeServerStream stream("POST", "/v1/chat/completions", kStreamed);
  Exchange ex(h.env());
  bool done = false;
  h.Start(ex, stream, &done);
  ASSERT_FALSE(done);
  stream.peer_gone().Fire();
  h.Advance(1ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(ex.record().error, ErrorKind::kClientAbort);
  EXPECT_EQ(ex.record().output_tokens, 2u);
  EXPECT_TRUE(ex.record().tokens_estimated);
  EXPECT_NE(ex.record().first_token_at, TimePoint{});
}

TEST(GenAiMetrics, ModelLabelsAreBoundedByTheConfig) {
  Harness h(Yaml());
  const GenAiMetrics& m = *h.worker.snapshot->metrics.genai;
  EXPECT_EQ(m.ModelLabel(0, "m"), "m");
  EXPECT_EQ(m.ModelLabel(0, "m-served"), "m-served");  // the rewrite target
  EXPECT_EQ(m.ModelLabel(0, "x-anything"), "other");   // matched by a glob, not named
  EXPECT_EQ(m.ModelLabel(0, "client-invented"), "other");
  EXPECT_EQ(m.ModelLabel(0, ""), "");
  EXPECT_EQ(GenAiMetrics::OperationFor("/v1/completions"),
            GenAiMetrics::Operation::kTextCompletion);
  EXPECT_EQ(GenAiMetrics::OperationFor("/v1/embeddings"), GenAiMetrics::Operation::kEmbeddings);
  EXPECT_EQ(GenAiMetrics::OperationFor("/v1/responses"), GenAiMetrics::Operation::kChat);
  EXPECT_FALSE(GenAiMetrics::OperationFor("/v1/models"));
}

}  // namespace
}  // namespace infergate::exchange::testing
