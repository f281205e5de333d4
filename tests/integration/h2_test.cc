// Integration: HTTP/2 (h2c with prior knowledge) on the real binaries, next to HTTP/1.1 on the
// same port: real clients (curl, nghttp, h2load, nghttp2's client API), 100 streamed completions
// multiplexed on one connection, client resets and backend deaths per stream, drain, and the
// flood defences replayed as raw frames.
#include <signal.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/gateway.h"
#include "support/h2_client.h"
#include "support/h2_frames.h"
#include "support/json.h"
#include "support/mock_server.h"
#include "support/raw_conn.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;
namespace raw = testing::h2;

constexpr const char* kChat = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
constexpr const char* kChatStream =
    R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true})";
const std::vector<std::pair<std::string, std::string>> kJson = {
    {"content-type", "application/json"}};

std::string Yaml(const std::string& backend, const std::string& listener_extra = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n" + listener_extra +
         "admin:\n  listen: 127.0.0.1:0\n"
         "pools:\n  - name: main\n    backends: [http://" +
         backend +
         "]\n    health_check: {enabled: false}\n"
         "routes:\n  - {name: chat, match: {path_prefix: /v1/}, to: main}\n";
}

// Runs a client program to its end; its output, or nullopt (skipped) when it is not installed.
std::optional<std::string> RunTool(const std::vector<std::string>& argv, int* status) {
  auto p = Process::Start(argv);
  if (!p) return std::nullopt;
  std::optional<int> rc = p->Wait(60s);
  *status = rc.value_or(-1);
  return p->Output();
}

// Reads raw frames until the server closes the connection (or `wait` passes).
std::vector<raw::ParsedFrame> ReadUntilClosed(RawConn& c, Millis wait = Millis(10000)) {
  std::string bytes;
  std::vector<raw::ParsedFrame> frames;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!c.closed() && std::chrono::steady_clock::now() < deadline) {
    bytes += c.Read(Millis(100));
    for (auto& f : raw::ParseFrames(bytes)) frames.push_back(std::move(f));
  }
  return frames;
}

const raw::ParsedFrame* FindGoaway(const std::vector<raw::ParsedFrame>& frames) {
  for (const auto& f : frames) {
    if (f.type == raw::kGoaway) return &f;
  }
  return nullptr;
}

TEST(H2, BothProtocolsServeTheSameRouteOnOnePort) {
  auto mock = MockServer::Start({"--model", "m", "--tokens", "3"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address()));
  ASSERT_TRUE(gw);
  H2Client h2(gw->port());
  const int32_t id = h2.Submit("POST", "/v1/chat/completions", kJson, kChat);
  ASSERT_TRUE(h2.WaitClosed(id));
  const auto& s = h2.streams[id];
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.end_stream);
  EXPECT_NE(s.body.find("\"chat.completion\""), std::string::npos);
  EXPECT_EQ(s.Header("x-request-id").size(), 32u);
  HttpClient h1(gw->port());
  HttpResponse r = h1.Post("/v1/chat/completions", kChat, {{"content-type", "application/json"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"chat.completion\""), std::string::npos);
  EXPECT_EQ(gw->WaitForMetric("infergate_responses_total",
                              "route=\"chat\",code=\"2xx\",protocol=\"h2\"", 1),
            1);
  EXPECT_EQ(gw->WaitForMetric("infergate_responses_total",
                              "route=\"chat\",code=\"2xx\",protocol=\"http1\"", 1),
            1);
  EXPECT_EQ(gw->Metric("infergate_protocol_connections_total", "protocol=\"h2\""), 1);
  EXPECT_EQ(gw->Metric("infergate_protocol_connections_total", "protocol=\"http1\""), 1);
}

TEST(H2, CurlAndNghttpSpeakPriorKnowledgeToIt) {
  auto mock = MockServer::Start({"--model", "m", "--tokens", "3"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address()));
  ASSERT_TRUE(gw);
  const std::string url = "http://127.0.0.1:" + std::to_string(gw->port()) + "/v1/chat/completions";
  int rc = 0;
  auto curl =
      RunTool({"curl", "-sS", "--http2-prior-knowledge", "-H", "content-type: application/json",
               "-d", kChat, "-w", "\\n%{http_version} %{http_code}", url},
              &rc);
  if (!curl) GTEST_SKIP() << "curl is not installed";
  EXPECT_EQ(rc, 0) << *curl;
  EXPECT_NE(curl->find("\n2 200"), std::string::npos) << *curl;
  EXPECT_NE(curl->find("chat.completion"), std::string::npos) << *curl;
  TempFile body(kChat);
  auto nghttp = RunTool({"nghttp", "-n", "-s", "-m", "10", "-H", "content-type: application/json",
                         "-d", body.path(), url},
                        &rc);
  if (!nghttp) GTEST_SKIP() << "nghttp (nghttp2-client) is not installed";
  EXPECT_EQ(rc, 0) << *nghttp;
  EXPECT_EQ(mock->Stats()->requests, 11);  // curl's one and nghttp's ten
}

TEST(H2, GatewayErrorsAreTheSameAnswersAsOverHttp1) {
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address(), "    max_request_body_bytes: 100\n"));
  ASSERT_TRUE(gw);
  H2Client h2(gw->port());
  const int32_t missing = h2.Submit("GET", "/nowhere");
  const int32_t large = h2.Submit("POST", "/v1/chat/completions", kJson, std::string(500, 'x'));
  ASSERT_TRUE(h2.RunUntil([&] { return h2.streams[missing].closed && h2.streams[large].closed; }));
  HttpClient h1(gw->port());
  HttpResponse r404 = h1.Get("/nowhere");
  const auto& s404 = h2.streams[missing];
  EXPECT_EQ(s404.status, 404);
  EXPECT_EQ(r404.status, 404);
  EXPECT_EQ(s404.Header("content-type"), r404.Header("content-type"));
  ASSERT_TRUE(JsonString(s404.body, "/error/code"));
  EXPECT_EQ(JsonString(s404.body, "/error/code"), JsonString(r404.body, "/error/code"));
  EXPECT_EQ(JsonString(s404.body, "/error/type"), JsonString(r404.body, "/error/type"));
  EXPECT_EQ(s404.Header("x-request-id").size(), 32u);
  EXPECT_EQ(h2.streams[large].status, 413);
  EXPECT_EQ(mock->Stats()->requests, 0);
}

TEST(H2, DegradedAndRefusedAnswersCarryTheSameHeadersAsOverHttp1) {
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  const std::string dead = "127.0.0.1:" + std::to_string(RefusingPort());
  auto gw = Gateway::Start(
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
      "admin:\n  listen: 127.0.0.1:0\n"
      "compartments:\n  - {name: one, max_concurrent: 1, retry_after: 7s}\n"
      "pools:\n"
      "  - {name: gone, backends: [http://" +
      dead +
      "], health_check: {enabled: false}}\n"
      "  - {name: live, backends: [http://" +
      mock->address() +
      "], health_check: {enabled: false}}\n"
      "routes:\n"
      "  - {name: down, match: {path: /v1/chat/completions}, to: gone, retries: 0,"
      " fallbacks: [{static: busy}]}\n"
      "  - {name: one, match: {path: /v1/completions}, to: live, compartment: one}\n");
  ASSERT_TRUE(gw);
  H2Client h2(gw->port());
  const int32_t plain = h2.Submit("POST", "/v1/chat/completions", kJson, kChat);
  const int32_t streamed = h2.Submit("POST", "/v1/chat/completions", kJson, kChatStream);
  // One request holds the compartment's only slot; the next is refused with its Retry-After.
  auto slow = kJson;
  slow.push_back({"x-mock-ttft-ms", "3000"});
  const int32_t holder = h2.Submit("POST", "/v1/completions", slow, kChat);
  ASSERT_TRUE(h2.RunUntil([&] { return h2.streams[plain].closed && h2.streams[streamed].closed; }));
  ASSERT_TRUE(mock->WaitForStats([](const MockStats& s) { return s.active_requests == 1; }));
  const int32_t refused = h2.Submit("POST", "/v1/completions", kJson, kChat);
  ASSERT_TRUE(h2.WaitClosed(refused));
  HttpClient h1(gw->port());
  HttpResponse d1 = h1.Post("/v1/chat/completions", kChat, {{"content-type", "application/json"}});
  HttpClient other(gw->port());
  HttpResponse r1 = other.Post("/v1/completions", kChat, {{"content-type", "application/json"}});

  const auto& d2 = h2.streams[plain];
  EXPECT_EQ(d2.status, 200);
  EXPECT_EQ(d2.status, d1.status);
  EXPECT_EQ(d2.Header("x-infergate-degraded"), "retries_exhausted; served-by=static");
  EXPECT_EQ(d2.Header("x-infergate-degraded"), d1.Header("x-infergate-degraded"));
  EXPECT_EQ(d2.Header("content-type"), d1.Header("content-type"));
  EXPECT_EQ(JsonString(d2.body, "/choices/0/message/content"), "busy");
  const auto& s2 = h2.streams[streamed];
  EXPECT_TRUE(s2.end_stream);
  EXPECT_EQ(s2.Header("content-type"), "text/event-stream");
  EXPECT_NE(s2.body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(s2.Header("x-infergate-degraded"), "retries_exhausted; served-by=static");

  const auto& r2 = h2.streams[refused];
  EXPECT_EQ(r2.status, 429);
  EXPECT_EQ(r1.status, 429);
  EXPECT_EQ(r2.Header("retry-after"), "7");
  EXPECT_EQ(r2.Header("retry-after"), r1.Header("retry-after"));
  EXPECT_EQ(JsonString(r2.body, "/error/code"), JsonString(r1.body, "/error/code"));
  EXPECT_EQ(r2.Header("x-request-id").size(), 32u);
  ASSERT_TRUE(h2.WaitClosed(holder));
  EXPECT_EQ(h2.streams[holder].status, 200);
}

TEST(H2, HundredStreamedCompletionsOnOneConnectionArriveEventByEvent) {
  auto mock = MockServer::Start({"--model", "m", "--tokens", "5", "--token-interval", "20ms"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address()));
  ASSERT_TRUE(gw);
  H2Client h2(gw->port());
  std::vector<int32_t> ids;
  for (int i = 0; i < 100; ++i)
    ids.push_back(h2.Submit("POST", "/v1/chat/completions", kJson, kChatStream));
  ASSERT_TRUE(h2.RunUntil(
      [&] {
        for (int32_t id : ids) {
          if (!h2.streams[id].closed) return false;
        }
        return true;
      },
      60s));
  for (int32_t id : ids) {
    const auto& s = h2.streams[id];
    ASSERT_EQ(s.status, 200) << id;
    EXPECT_TRUE(s.end_stream) << id;
    EXPECT_EQ(s.close_code, 0u) << id;
    EXPECT_NE(s.body.find("data: [DONE]"), std::string::npos) << id;
    // Paced by the mock 20 ms apart, the events go out as they come: several DATA frames, not
    // one buffered body. (Not one frame per event: on a loaded machine, 100 streams on one
    // connection, the gateway may find two events waiting for a stream and send them together;
    // the ASan build in CI did.)
    EXPECT_GE(s.data_frames, 3u) << id;
  }
  EXPECT_EQ(mock->Stats()->requests, 100);
}

TEST(H2, AClientResetCancelsThatStreamOnlyAndClosesItsUpstream) {
  auto mock = MockServer::Start({"--model", "m", "--tokens", "1000", "--token-interval", "50ms"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address()));
  ASSERT_TRUE(gw);
  H2Client h2(gw->port());
  const int32_t doomed = h2.Submit("POST", "/v1/chat/completions", kJson, kChatStream);
  const int32_t other = h2.Submit("POST", "/v1/chat/completions", kJson, kChatStream);
  ASSERT_TRUE(h2.RunUntil([&] {
    return h2.streams[doomed].body.find("data:") != std::string::npos &&
           h2.streams[other].body.find("data:") != std::string::npos;
  }));
  h2.Reset(doomed);
  ASSERT_TRUE(mock->WaitForStats([](const MockStats& s) { return s.client_disconnects >= 1; }));
  // The other stream on the same connection keeps streaming.
  const size_t before = h2.streams[other].body.size();
  ASSERT_TRUE(h2.RunUntil([&] { return h2.streams[other].body.size() > before + 100; }));
  EXPECT_FALSE(h2.streams[other].closed);
  EXPECT_EQ(mock->Stats()->client_disconnects, 1);
  EXPECT_EQ(gw->WaitForMetric("infergate_h2_resets_total", "cause=\"client\"", 1), 1);
}

TEST(H2, ABackendThatDiesMidStreamEndsTheStreamWithRstNotEndStream) {
  auto mock = MockServer::Start({"--model", "m", "--tokens", "10", "--token-interval", "10ms"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address()));
  ASSERT_TRUE(gw);
  H2Client h2(gw->port());
  auto headers = kJson;
  headers.push_back({"x-mock-close-after-tokens", "2"});
  const int32_t id = h2.Submit("POST", "/v1/chat/completions", headers, kChatStream);
  ASSERT_TRUE(h2.WaitClosed(id));
  const auto& s = h2.streams[id];
  EXPECT_EQ(s.status, 200);
  EXPECT_FALSE(s.end_stream);
  EXPECT_EQ(s.close_code, static_cast<uint32_t>(raw::kInternalError));
  EXPECT_NE(s.body.find("tok1"), std::string::npos);  // what arrived is delivered
  EXPECT_EQ(s.body.find("[DONE]"), std::string::npos);
  EXPECT_EQ(gw->WaitForMetric("infergate_h2_resets_total", "cause=\"upstream_broken\"", 1), 1);
}

TEST(H2, DrainSendsGoawayAndLetsStreamsInFlightFinish) {
  auto mock = MockServer::Start({"--model", "m", "--tokens", "20", "--token-interval", "25ms"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address()), {"--drain-timeout", "30s"});
  ASSERT_TRUE(gw);
  H2Client h2(gw->port());
  const int32_t id = h2.Submit("POST", "/v1/chat/completions", kJson, kChatStream);
  ASSERT_TRUE(h2.RunUntil([&] { return h2.streams[id].body.find("data:") != std::string::npos; }));
  gw->process().Signal(SIGTERM);
  ASSERT_TRUE(h2.RunUntil([&] { return h2.goaway_code.has_value(); }));
  EXPECT_EQ(*h2.goaway_code, 0u);
  EXPECT_EQ(h2.goaway_last_stream, id);
  ASSERT_TRUE(h2.WaitClosed(id, 30s));
  EXPECT_TRUE(h2.streams[id].end_stream);
  EXPECT_NE(h2.streams[id].body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(gw->process().Wait(30s), 0);
}

TEST(H2, AnIdleConnectionIsClosedWithGoawayAfterKeepaliveTimeout) {
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address(), "    keepalive_timeout: 200ms\n"));
  ASSERT_TRUE(gw);
  H2Client h2(gw->port());
  const int32_t id = h2.Submit("POST", "/v1/chat/completions", kJson, kChat);
  ASSERT_TRUE(h2.WaitClosed(id));
  ASSERT_TRUE(h2.RunUntil([&] { return h2.peer_closed; }, 20s));
  ASSERT_TRUE(h2.goaway_code.has_value());
  EXPECT_EQ(*h2.goaway_code, 0u);
}

TEST(H2, ListenersServeOnlyTheProtocolsTheyList) {
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto h1_only = Gateway::Start(Yaml(mock->address(), "    protocols: [http1]\n"));
  ASSERT_TRUE(h1_only);
  H2Client h2(h1_only->port());
  const int32_t id = h2.Submit("GET", "/v1/models");
  h2.RunUntil([&] { return h2.streams[id].closed; }, 5s);
  EXPECT_NE(h2.streams[id].status, 200);  // the preface is a malformed HTTP/1.1 request
  auto h2_only = Gateway::Start(Yaml(mock->address(), "    protocols: [h2c]\n"));
  ASSERT_TRUE(h2_only);
  HttpClient h1(h2_only->port());
  HttpResponse r = h1.Get("/v1/models", {}, Millis(5000));
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.connection_closed);
  H2Client ok(h2_only->port());
  const int32_t good = ok.Submit("POST", "/v1/chat/completions", kJson, kChat);
  ASSERT_TRUE(ok.WaitClosed(good));
  EXPECT_EQ(ok.streams[good].status, 200);
}

// ---- flood defences, as raw frames

std::string Open() { return std::string(raw::kPreface) + raw::Settings(); }

std::string Request(uint32_t id) {
  return raw::Headers(id,
                      raw::Block(raw::RequestFields("POST", "/v1/chat/completions",
                                                    {{"content-type", "application/json"}})),
                      false) +
         raw::Data(id, kChat, true);
}

TEST(H2Floods, RapidResetGetsGoawayAndTheBackendSeesFewOfTheStreams) {
  auto mock = MockServer::Start({"--model", "m", "--ttft", "200ms"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(
      Yaml(mock->address(), "    http2: {max_resets_per_interval: 50, flood_interval: 60s}\n"));
  ASSERT_TRUE(gw);
  RawConn c(gw->port());
  ASSERT_TRUE(c.Send(Open()));
  uint32_t id = 1;
  for (int i = 0; i < 500 && !c.closed(); ++i, id += 2) {
    if (!c.Send(Request(id) + raw::RstStream(id, raw::kCancel))) break;
  }
  const auto frames = ReadUntilClosed(c);
  const raw::ParsedFrame* g = FindGoaway(frames);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->ErrorCode(), raw::kEnhanceYourCalm);
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(gw->WaitForMetric("infergate_h2_flood_goaways_total", "kind=\"resets\"", 1), 1);
  EXPECT_LE(mock->Stats()->requests, 51);
}

struct RawFlood {
  const char* name;
  const char* listener;  // http2 keys
  const char* kind;      // the metric's label
  std::string (*frames)();
};

class H2FloodKinds : public ::testing::TestWithParam<RawFlood> {};

TEST_P(H2FloodKinds, GetGoawayEnhanceYourCalmAndAreCounted) {
  const RawFlood& f = GetParam();
  auto mock = MockServer::Start({"--model", "m"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address(), std::string("    http2: ") + f.listener + "\n"));
  ASSERT_TRUE(gw);
  RawConn c(gw->port());
  ASSERT_TRUE(c.Send(Open()));
  c.Send(f.frames());
  const auto frames = ReadUntilClosed(c);
  const raw::ParsedFrame* g = FindGoaway(frames);
  ASSERT_NE(g, nullptr) << f.name;
  EXPECT_EQ(g->ErrorCode(), raw::kEnhanceYourCalm) << f.name;
  EXPECT_TRUE(c.closed()) << f.name;
  EXPECT_EQ(gw->WaitForMetric("infergate_h2_flood_goaways_total",
                              std::string("kind=\"") + f.kind + "\"", 1),
            1);
  // The process serves the next client.
  H2Client next(gw->port());
  const int32_t id = next.Submit("POST", "/v1/chat/completions", kJson, kChat);
  ASSERT_TRUE(next.WaitClosed(id));
  EXPECT_EQ(next.streams[id].status, 200);
}

std::string Repeat(const std::string& frame, int n) {
  std::string all;
  for (int i = 0; i < n; ++i) all += frame;
  return all;
}

INSTANTIATE_TEST_SUITE_P(
    Each, H2FloodKinds,
    ::testing::Values(
        RawFlood{"ping", "{max_pings_per_interval: 100}", "pings",
                 [] { return Repeat(raw::Ping(), 101); }},
        RawFlood{"settings", "{max_settings_per_interval: 100}", "settings",
                 [] { return Repeat(raw::Settings(), 101); }},
        RawFlood{"priority", "{max_priority_per_interval: 100}", "priority",
                 [] {
                   std::string all;
                   for (uint32_t i = 0; i < 101; ++i) all += raw::Priority(1001 + 2 * i);
                   return all;
                 }},
        RawFlood{"window_update", "{max_window_updates_per_interval: 100}", "window_updates",
                 [] { return Repeat(raw::WindowUpdate(0, 1), 101); }},
        RawFlood{"empty_data", "{max_empty_frames_per_interval: 100}", "empty_frames",
                 [] {
                   return raw::Headers(1, raw::Block(raw::RequestFields("POST", "/v1/x")), false) +
                          Repeat(raw::Data(1, "", false), 101);
                 }},
        RawFlood{"continuation", "{}", "library",
                 [] {
                   return raw::Headers(1, raw::Block(raw::RequestFields("GET", "/v1/x")), true,
                                       false) +
                          Repeat(raw::Continuation(1, "", false), 1000);
                 }}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(H2, H2loadRunsCleanWithManyStreamsPerConnection) {
  auto mock = MockServer::Start({"--model", "m", "--tokens", "3"});
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address()));
  ASSERT_TRUE(gw);
  TempFile body(kChat);
  int rc = 0;
  auto out = RunTool({"h2load", "-n", "2000", "-c", "4", "-m", "50", "-d", body.path(), "-H",
                      "content-type: application/json",
                      "http://127.0.0.1:" + std::to_string(gw->port()) + "/v1/chat/completions"},
                     &rc);
  if (!out) GTEST_SKIP() << "h2load (nghttp2-client) is not installed";
  EXPECT_EQ(rc, 0) << *out;
  EXPECT_NE(out->find("2000 succeeded, 0 failed, 0 errored, 0 timeout"), std::string::npos) << *out;
  EXPECT_NE(out->find("status codes: 2000 2xx"), std::string::npos) << *out;
}

}  // namespace
}  // namespace infergate::testing
