// Integration: streaming pacing, client disconnects in every phase, upstream death, retries,
// every timeout, request limits, malformed HTTP and smuggling, bad config files.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fcntl.h>

#include <thread>
#include <vector>

#include "support/gateway.h"
#include "support/json.h"
#include "support/mock_server.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

std::string GatewayYaml(const std::string& backends, const std::string& route_extra,
                        const std::string& listener_extra = "",
                        const std::string& pool_extra = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n" + listener_extra +
         "admin:\n  listen: 127.0.0.1:0\npools:\n  - name: main\n" + pool_extra +
         "    backends:\n" + backends +
         "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n" + route_extra;
}

std::string Backend(const std::string& address) { return "      - http://" + address + "\n"; }

// A loopback listener whose accept queue is full, so further SYNs are dropped and connects
// hang until the connector gives up: a backend that is not answering.
class Blackhole {
 public:
  Blackhole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 4; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a));
      fillers_.push_back(c);
    }
  }
  ~Blackhole() {
    for (int c : fillers_) ::close(c);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
  std::vector<int> fillers_;
};

class FailureTest : public ::testing::Test {
 protected:
  void StartGateway(const std::string& route_extra, const std::string& listener_extra = "",
                    std::vector<std::string> mock_args = {}) {
    std::vector<std::string> args = {"--id", "m", "--model", "mock-model", "--tokens", "4"};
    args.insert(args.end(), mock_args.begin(), mock_args.end());
    mock_ = MockServer::Start(args);
    ASSERT_TRUE(mock_);
    std::string why;
    gw_ = Gateway::Start(GatewayYaml(Backend(mock_->address()), route_extra, listener_extra), {},
                         &why);
    ASSERT_TRUE(gw_) << why;
  }
  std::unique_ptr<MockServer> mock_;
  std::unique_ptr<Gateway> gw_;
};

// The gateway does not buffer SSE: with the backend's tokens far apart, each event reaches the
// client on its own, before the backend has even produced the next one. (That the exchange
// flushes each piece before reading the next is unit-tested at the exchange; the mock's schedule
// in tests/unit/mock/pacing_test.cc.)
TEST_F(FailureTest, StreamsEachEventBeforeTheBackendProducesTheNext) {
  StartGateway("");
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  constexpr int64_t kTokens = 5;
  // When the mock's count of tokens written was first seen at n or more (n = 1..kTokens); the
  // count moves before a token's bytes leave the mock, so token n - 1 exists by produced[n].
  std::vector<SteadyTime> produced(kTokens + 1, SteadyTime::max());
  std::thread watcher([&] {
    for (int64_t n = 1; n <= kTokens; ++n) {
      if (!mock_->WaitForStats([n](const MockStats& s) { return s.tokens_streamed >= n; }, 10s))
        return;
      produced[static_cast<size_t>(n)] = std::chrono::steady_clock::now();
    }
  });
  auto r = c.Post("/v1/chat/completions", ChatBody("mock-model", /*stream=*/true),
                  {{"x-mock-tokens", std::to_string(kTokens)}, {"x-mock-token-interval-ms", "300"}},
                  10s);
  watcher.join();
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.Header("content-type"), "text/event-stream");
  auto events = r.Events();
  ASSERT_EQ(events.size(), static_cast<size_t>(kTokens + 1));  // the tokens + [DONE]
  EXPECT_EQ(events.back().data, "[DONE]");
  for (size_t k = 0; k < static_cast<size_t>(kTokens); ++k) {
    ASSERT_LT(k, r.chunks.size());
    EXPECT_EQ(r.chunks[k].data, "data: " + events[k].data + "\n\n")
        << "event " << k << " is not a body piece of its own";
    if (k > 0) {
      EXPECT_GT(events[k].at, events[k - 1].at) << "event " << k << " came with " << k - 1;
    }
  }
  for (size_t k = 0; k + 1 < static_cast<size_t>(kTokens); ++k) {
    EXPECT_LT(events[k].at, produced[k + 2])
        << "event " << k << " reached the client only after the backend produced event " << k + 1;
  }
}

TEST_F(FailureTest, ClientDisconnectWhileForwardingTheBodyClosesTheUpstream) {
  StartGateway("");
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  // 12 MiB does not fit in loopback socket buffers while the mock delays reading it.
  std::string body = R"({"model":"mock-model","pad":")" + std::string(12 << 20, 'x') + "\"}";
  ASSERT_TRUE(
      c.SendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-mock-read-delay-ms: 1500\r\n"
                "Content-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body,
                30s));
  ASSERT_TRUE(mock_->WaitForStats([](const MockStats& s) { return s.requests >= 1; }, 10s));
  c.Abort();
  MockStats last;
  EXPECT_TRUE(
      mock_->WaitForStats([](const MockStats& s) { return s.client_disconnects >= 1; }, 10s, &last))
      << last.json;
  EXPECT_EQ(last.completed, 0);
}

TEST_F(FailureTest, ClientDisconnectWhileWaitingForTheFirstByteClosesTheUpstream) {
  StartGateway("");
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.SendRaw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-mock-hang: 1\r\nContent-Length: " +
      std::to_string(ChatBody("mock-model").size()) + "\r\n\r\n" + ChatBody("mock-model")));
  ASSERT_TRUE(mock_->WaitForStats([](const MockStats& s) { return s.active_requests >= 1; }, 10s));
  c.Close();
  MockStats last;
  EXPECT_TRUE(mock_->WaitForStats(
      [](const MockStats& s) { return s.client_disconnects >= 1 && s.active_requests == 0; }, 5s,
      &last))
      << last.json;
  EXPECT_EQ(gw_->WaitForMetric("infergate_errors_total", "kind=\"client_abort\"", 1), 1);
}

TEST_F(FailureTest, ClientDisconnectMidStreamClosesTheUpstream) {
  StartGateway("");
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  std::string body = ChatBody("mock-model", true);
  ASSERT_TRUE(
      c.SendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-mock-tokens: 1000\r\n"
                "x-mock-token-interval-ms: 20\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body));
  auto head = c.ReadHead(5s);
  ASSERT_EQ(head.status, 200);
  ASSERT_TRUE(mock_->WaitForStats([](const MockStats& s) { return s.active_streams >= 1; }, 5s));
  c.Close();
  MockStats last;
  EXPECT_TRUE(mock_->WaitForStats(
      [](const MockStats& s) { return s.client_disconnects >= 1 && s.active_streams == 0; }, 5s,
      &last))
      << last.json;
  EXPECT_EQ(last.completed, 0);
}

TEST_F(FailureTest, UpstreamDeathMidStreamEndsTheClientResponseAbnormally) {
  StartGateway("");
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  auto r = c.Post("/v1/chat/completions", ChatBody("mock-model", true),
                  {{"x-mock-tokens", "10"}, {"x-mock-close-after-tokens", "3"}}, 10s);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.chunked);
  EXPECT_FALSE(r.complete) << "a cut stream must not look complete";
  EXPECT_TRUE(r.connection_closed);
  auto events = r.Events();
  EXPECT_EQ(events.size(), 3u);
  for (const auto& e : events) EXPECT_NE(e.data, "[DONE]");
  EXPECT_EQ(gw_->WaitForMetric("infergate_errors_total", "kind=\"upstream_body_broken\"", 1), 1);
}

TEST(Retries, ConnectFailureIsRetriedOnAnotherBackend) {
  auto mock = MockServer::Start({"--id", "live", "--model", "mock-model"});
  ASSERT_TRUE(mock);
  std::string dead = "127.0.0.1:" + std::to_string(RefusingPort());
  std::string why;
  auto gw = Gateway::Start(GatewayYaml(Backend(dead) + Backend(mock->address()), "", "",
                                       "    load_balancing: round_robin\n"),
                           {"--workers", "1"}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  ASSERT_TRUE(c.Connect());
  for (int i = 0; i < 10; ++i) {
    auto r = c.Post("/v1/chat/completions", ChatBody("mock-model"));
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(mock->Stats()->requests, 10);
  EXPECT_GE(gw->Metric("infergate_retries_total", "route=\"chat\"").value_or(0), 1);
  EXPECT_GE(
      gw->Metric("infergate_upstream_failures_total", "pool=\"main\",backend=\"" + dead + "\"")
          .value_or(0),
      1);
}

TEST(Retries, AllBackendsRefusingGives502InOpenAiShape) {
  std::string why;
  auto gw = Gateway::Start(GatewayYaml(Backend("127.0.0.1:" + std::to_string(RefusingPort())), ""),
                           {}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  ASSERT_TRUE(c.Connect());
  auto r = c.Post("/v1/chat/completions", ChatBody("mock-model"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(JsonString(r.body, "/error/code"), "upstream_connect_failed") << r.body;
  EXPECT_FALSE(r.Header("x-request-id").empty());
  // The client learns why (and which pool), never the backend's address.
  EXPECT_EQ(r.body.find("127.0.0.1"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("a backend of pool"), std::string::npos) << r.body;
}

TEST(Timeouts, ConnectTimeoutGives504) {
  Blackhole hole;
  std::string why;
  auto gw = Gateway::Start(GatewayYaml(Backend("127.0.0.1:" + std::to_string(hole.port())),
                                       "    retries: 0\n", "", "    connect_timeout: 200ms\n"),
                           {}, &why);
  ASSERT_TRUE(gw) << why;
  HttpClient c(gw->port());
  ASSERT_TRUE(c.Connect());
  auto r = c.Post("/v1/chat/completions", ChatBody("mock-model"));
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(JsonString(r.body, "/error/code"), "upstream_connect_timeout") << r.body;
  EXPECT_EQ(gw->WaitForMetric("infergate_errors_total", "kind=\"connect_timeout\"", 1), 1);
}

TEST_F(FailureTest, FirstByteTimeoutGives504AndClosesTheUpstream) {
  StartGateway("    timeouts: {first_byte: 300ms}\n");
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  auto r = c.Post("/v1/chat/completions", ChatBody("mock-model"), {{"x-mock-hang", "1"}});
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(JsonString(r.body, "/error/code"), "upstream_first_byte_timeout") << r.body;
  EXPECT_NE(r.body.find("timeouts.first_byte"), std::string::npos) << r.body;
  EXPECT_FALSE(r.connection_closed);
  EXPECT_TRUE(
      mock_->WaitForStats([](const MockStats& s) { return s.client_disconnects >= 1; }, 5s));
  EXPECT_EQ(gw_->WaitForMetric("infergate_errors_total", "kind=\"first_byte_timeout\"", 1), 1);
  // Not retried: the backend may still be working on it.
  EXPECT_EQ(mock_->Stats()->requests, 1);
}

TEST_F(FailureTest, IdleTimeoutCutsAStalledStream) {
  StartGateway("    timeouts: {idle: 300ms}\n");
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  auto r = c.Post("/v1/chat/completions", ChatBody("mock-model", true),
                  {{"x-mock-tokens", "3"}, {"x-mock-token-interval-ms", "2000"}}, 10s);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  EXPECT_TRUE(r.connection_closed);
  EXPECT_EQ(r.Events().size(), 1u);
  EXPECT_EQ(gw_->WaitForMetric("infergate_errors_total", "kind=\"idle_timeout\"", 1), 1);
}

TEST_F(FailureTest, TotalTimeoutCutsLongGenerationsAndEarlyOnesGet504) {
  StartGateway("    timeouts: {total: 500ms}\n");
  HttpClient c(gw_->port());
  ASSERT_TRUE(c.Connect());
  auto r = c.Post("/v1/chat/completions", ChatBody("mock-model", true),
                  {{"x-mock-tokens", "50"}, {"x-mock-token-interval-ms", "50"}}, 10s);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  EXPECT_LT(r.Events().size(), 50u);
  HttpClient c2(gw_->port());
  ASSERT_TRUE(c2.Connect());
  r = c2.Post("/v1/chat/completions", ChatBody("mock-model"), {{"x-mock-ttft-ms", "3000"}}, 10s);
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(JsonString(r.body, "/error/code"), "upstream_total_timeout") << r.body;
  EXPECT_EQ(gw_->WaitForMetric("infergate_errors_total", "kind=\"total_timeout\"", 2), 2);
}

TEST_F(FailureTest, LimitsGive413And431And408) {
  StartGateway("",
               "    max_request_body_bytes: 1KiB\n    max_request_header_bytes: 4KiB\n"
               "    max_request_headers: 20\n    header_timeout: 300ms\n");
  {
    HttpClient c(gw_->port());
    ASSERT_TRUE(c.Connect());
    auto r = c.Post("/v1/chat/completions", std::string(2000, ' ') + ChatBody("mock-model"));
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(JsonString(r.body, "/error/code"), "request_too_large") << r.body;
    EXPECT_TRUE(c.IsClosedByPeer(5s));
  }
  {
    HttpClient c(gw_->port());
    ASSERT_TRUE(c.Connect());
    auto r = c.Get("/v1/models", {{"x-big", std::string(5000, 'a')}});
    EXPECT_EQ(r.status, 431);
    EXPECT_TRUE(c.IsClosedByPeer(5s));
  }
  {
    HttpClient c(gw_->port());
    ASSERT_TRUE(c.Connect());
    Headers many;
    for (int i = 0; i < 25; ++i) many.push_back({"x-h" + std::to_string(i), "v"});
    auto r = c.Get("/v1/models", many);
    EXPECT_EQ(r.status, 431);
  }
  {
    HttpClient c(gw_->port());
    ASSERT_TRUE(c.Connect());
    ASSERT_TRUE(c.SendRaw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"));
    auto r = c.ReadResponse(5s);
    EXPECT_EQ(r.status, 408);
    EXPECT_EQ(JsonString(r.body, "/error/code"), "request_timeout") << r.body;
    EXPECT_TRUE(c.IsClosedByPeer(5s));
  }
  EXPECT_EQ(mock_->Stats()->requests, 0);
}

TEST_F(FailureTest, MalformedAndSmugglingRequestsGet400AndCloseAndNeverReachTheBackend) {
  StartGateway("");
  const std::string body = ChatBody("mock-model");
  const std::string cl = std::to_string(body.size());
  const char* cases[] = {
      "GARBAGE\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, "
      "chunked\r\n\r\n0\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, "
      "gzip\r\n\r\n0\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: "
      "4\r\n\r\nabcd",
      "GET /v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GET /v1/models HTTP/1.1\r\n\r\n",
      "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n",
  };
  for (const char* raw : cases) {
    HttpClient c(gw_->port());
    ASSERT_TRUE(c.Connect());
    ASSERT_TRUE(c.SendRaw(raw));
    auto r = c.ReadResponse(5s);
    EXPECT_EQ(r.status, 400) << raw;
    EXPECT_EQ(JsonString(r.body, "/error/type"), "invalid_request_error") << r.body;
    EXPECT_FALSE(r.Header("x-request-id").empty());
    EXPECT_TRUE(c.IsClosedByPeer(5s)) << raw;
  }
  EXPECT_EQ(mock_->Stats()->requests, 0);
}

TEST(BadConfig, ExitsWithOneAndNamesThePosition) {
  TempFile bad(
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\npools:\n  - name: p\n"
      "    backends: [http://127.0.0.1:1]\nroutes:\n  - name: r\n    to: nope\n",
      ".yaml");
  for (bool check : {true, false}) {
    std::vector<std::string> argv = {BinaryPath("infergate"), "-c", bad.path()};
    if (check) argv.push_back("--check-config");
    auto p = Process::Start(argv);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->Wait(10s), 1);
    std::string out = p->Output();
    EXPECT_NE(out.find(bad.path() + ":9:9: routes[0].to: unknown pool \"nope\" (known: p)"),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find("listener public on"), std::string::npos)
        << "a bad config must start nothing";
  }
  TempFile good(
      "listeners:\n  - name: public\n    listen: 127.0.0.1:0\npools:\n  - name: p\n"
      "    backends: [http://127.0.0.1:1]\nroutes:\n  - name: r\n    to: p\n",
      ".yaml");
  auto p = Process::Start({BinaryPath("infergate"), "-c", good.path(), "--check-config"});
  EXPECT_EQ(p->Wait(10s), 0);
  auto missing = Process::Start({BinaryPath("infergate"), "-c", "/nonexistent/infergate.yaml"});
  EXPECT_EQ(missing->Wait(10s), 1);
  EXPECT_NE(missing->Output().find("/nonexistent/infergate.yaml"), std::string::npos);
}

}  // namespace
}  // namespace infergate::testing
