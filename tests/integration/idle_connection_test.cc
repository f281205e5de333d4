// Integration: a cleartext keep-alive connection between requests holds no exchange state (its
// Busy goes back to the worker's free list and it waits for readability without a buffer), on
// the real binaries. What a client can see of that: every connection serves again after idling,
// pipelined requests still go through, a spare taken by another connection answers with that
// connection's listener limits (not those of the connection that used it before, nor of an
// earlier config), and idle and silent connections still close on their timers.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/gateway.h"
#include "support/mock_server.h"
#include "support/raw_conn.h"

namespace infergate::testing {
namespace {

using namespace std::chrono_literals;

std::string Yaml(const std::string& mock, const std::string& listener_extra = "") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n" + listener_extra +
         "admin:\n  listen: 127.0.0.1:0\n"
         "pools:\n  - name: main\n    backends: [http://" +
         mock +
         "]\n"
         "routes:\n  - {name: all, match: {path_prefix: /}, to: main}\n";
}

std::unique_ptr<MockServer> StartMock() {
  return MockServer::Start({"--id", "m", "--model", "m", "--tokens", "3"});
}

TEST(IdleConnections, EveryConnectionServesAgainAfterIdling) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address()), {"--workers", "1"});
  ASSERT_TRUE(gw);
  // More connections than the worker keeps spares for (h1::BusyPool::kMaxSpare is 256), each
  // idle while the others are served.
  constexpr int kClients = 300;
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<HttpClient>(gw->port()));
    ASSERT_TRUE(clients.back()->Connect());
  }
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kClients; ++i) {
      auto r = clients[i]->Post("/v1/chat/completions", ChatBody("m"));
      ASSERT_EQ(r.status, 200) << "round " << round << " client " << i << ": " << r.body;
      ASSERT_TRUE(clients[i]->connected()) << "the connection was kept alive";
    }
  }
  EXPECT_EQ(mock->Stats()->requests, 3 * kClients);
}

TEST(IdleConnections, PipelinedRequestsAreAnsweredInOrder) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address()));
  ASSERT_TRUE(gw);
  HttpClient c(gw->port());
  ASSERT_TRUE(c.Connect());
  const std::string body = ChatBody("m");
  const std::string one =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_TRUE(c.SendRaw(one + one + one));
  for (int i = 0; i < 3; ++i) {
    auto r = c.ReadResponse();
    EXPECT_EQ(r.status, 200) << i << ": " << r.body;
  }
  // Idle after the pipeline, then one more.
  EXPECT_EQ(c.Post("/v1/chat/completions", body).status, 200);
  EXPECT_EQ(mock->Stats()->requests, 4);
}

// A spare is taken with the limits of the connection's listener as the connection's config has
// them: after a reload that lowers max_request_header_bytes, a new connection gets the new limit
// even when its exchange state was last used under the old one.
TEST(IdleConnections, ASpareTakesTheHeaderLimitOfItsNewConnection) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(Yaml(mock->address(), "    max_request_header_bytes: 16KiB\n"),
                           {"--workers", "1"});
  ASSERT_TRUE(gw);
  const std::string big(6000, 'x');
  {
    HttpClient c(gw->port());
    auto r = c.Post("/v1/chat/completions", ChatBody("m"), {{"x-big", big}});
    ASSERT_EQ(r.status, 200) << r.body;
    // Idle now: its exchange state is a spare for the next connection.
  }
  ASSERT_TRUE(gw->RewriteConfig(Yaml(mock->address(), "    max_request_header_bytes: 4KiB\n")));
  ASSERT_EQ(gw->AdminReload().status, 200);
  HttpClient c(gw->port());
  auto refused = c.Post("/v1/chat/completions", ChatBody("m"), {{"x-big", big}});
  EXPECT_EQ(refused.status, 431) << refused.body;
  HttpClient small(gw->port());
  EXPECT_EQ(small.Post("/v1/chat/completions", ChatBody("m")).status, 200);
  EXPECT_EQ(mock->Stats()->requests, 2);
}

TEST(IdleConnections, IdleAndSilentConnectionsCloseOnTheirTimers) {
  auto mock = StartMock();
  ASSERT_TRUE(mock);
  auto gw = Gateway::Start(
      Yaml(mock->address(), "    header_timeout: 300ms\n    keepalive_timeout: 300ms\n"));
  ASSERT_TRUE(gw);
  // Connected and silent: closed at header_timeout, without an answer (no byte of a request).
  RawConn silent(gw->port());
  ASSERT_TRUE(silent.connected());
  // Served, then idle: closed at keepalive_timeout.
  HttpClient idle(gw->port());
  ASSERT_EQ(idle.Post("/v1/chat/completions", ChatBody("m")).status, 200);
  EXPECT_TRUE(idle.IsClosedByPeer(10000ms));
  std::string got;
  for (int i = 0; i < 100 && !silent.closed(); ++i) got += silent.Read(100ms);
  EXPECT_TRUE(silent.closed());
  EXPECT_EQ(got, "");
  // Half a head: 408 at header_timeout, counted from the connection's accept.
  RawConn half(gw->port());
  ASSERT_TRUE(half.Send("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n"));
  std::string answer;
  for (int i = 0; i < 100 && !half.closed(); ++i) answer += half.Read(100ms);
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 ", 0), 0u) << answer;
  EXPECT_TRUE(gw->process().Running());
}

}  // namespace
}  // namespace infergate::testing
